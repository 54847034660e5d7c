"""Images for chat models with a vision projector (an ``mmproj`` GGUF: Gemma 3, Qwen2.5-VL, LLaVA,
SmolVLM, ...), through llama.cpp's multimodal library (mtmd) as llama-cpp-python binds it.

A prompt with images is tokenized into mtmd chunks on the caller's thread (text tokens and image
placeholders, the images decoded and preprocessed); the engine's thread then evaluates the
chunks into one request's KV stream (the image encoder runs there) and decodes as usual."""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidInputError, ModelFileError


@dataclass
class MediaPrompt:
    """mtmd chunks of one prompt; ``n_tokens`` counts what the chunks take in the context."""
    chunks: object
    n_tokens: int
    n_images: int
    freed: bool = field(default=False, repr=False)


class Projector:
    def __init__(self, path: Path, model, *, threads: int, use_gpu: bool, verbose: bool = False) -> None:
        import llama_cpp.mtmd_cpp as mtmd
        from llama_cpp._utils import suppress_stdout_stderr

        self._mtmd, self.path, self.verbose = mtmd, Path(path), verbose
        self._quiet = lambda: suppress_stdout_stderr(disable=verbose)
        if not self.path.is_file():
            raise ModelFileError(f"vision projector {path} does not exist")
        params = mtmd.mtmd_context_params_default()
        params.use_gpu = use_gpu
        params.print_timings = verbose
        params.n_threads = threads
        with self._quiet():
            self._ctx = mtmd.mtmd_init_from_file(str(self.path).encode(), model, params)
        if not self._ctx:
            raise ModelFileError(f"llama.cpp could not load the vision projector {path}: it is not an mmproj GGUF, or "
                                 "it was made for another model (its output size must match the model's embedding)")
        if not mtmd.mtmd_support_vision(self._ctx):
            mtmd.mtmd_free(self._ctx)
            raise ModelFileError(f"{path} is a projector without a vision encoder (audio only?)")
        self.marker = mtmd.mtmd_default_marker().decode()
        self._lock = threading.Lock()  # one mtmd call at a time: tokenize (callers) vs eval (engine)

    def tokenize(self, text: str, images: list[bytes], *, add_special: bool) -> MediaPrompt:
        """``text`` holds one marker per image, in order."""
        mtmd = self._mtmd
        if text.count(self.marker) != len(images):
            raise InvalidInputError(f"the prompt has {text.count(self.marker)} image places for {len(images)} images")
        with self._lock:
            bitmaps = []
            try:
                for n, data in enumerate(images, 1):
                    buf = (ctypes.c_uint8 * len(data)).from_buffer(bytearray(data))
                    with self._quiet():
                        bitmap = mtmd.mtmd_helper_bitmap_init_from_buf(self._ctx, buf, len(data), False)
                    if not bitmap:
                        raise InvalidInputError(f"image {n} could not be decoded by llama.cpp; send JPEG or PNG")
                    bitmaps.append(bitmap)
                encoded = text.encode("utf-8")
                inp = mtmd.mtmd_input_text()
                inp.text, inp.text_len = encoded, len(encoded)
                inp.add_special, inp.parse_special = add_special, True
                chunks = mtmd.mtmd_input_chunks_init()
                array = (mtmd.mtmd_bitmap_p_ctypes * len(bitmaps))(*bitmaps)
                with self._quiet():
                    rc = mtmd.mtmd_tokenize(self._ctx, chunks, ctypes.byref(inp), array, len(bitmaps))
                if rc != 0:
                    mtmd.mtmd_input_chunks_free(chunks)
                    raise InvalidInputError(f"llama.cpp could not tokenize the prompt with its images (error {rc})")
                return MediaPrompt(chunks, int(mtmd.mtmd_helper_get_n_tokens(chunks)), len(images))
            finally:
                for bitmap in bitmaps:
                    mtmd.mtmd_bitmap_free(bitmap)

    def evaluate(self, media: MediaPrompt, lctx, seq_id: int, n_batch: int) -> int:
        """Decode the chunks into ``seq_id``'s KV stream from position 0, with the logits of the last
        token kept for sampling; returns the positions used."""
        import llama_cpp

        new_n_past = llama_cpp.llama_pos(0)
        with self._lock, self._quiet():
            rc = self._mtmd.mtmd_helper_eval_chunks(self._ctx, lctx, media.chunks, 0, seq_id, n_batch, True,
                                                    ctypes.byref(new_n_past))
        if rc != 0:
            raise RuntimeError(f"llama.cpp failed to evaluate the image prompt (error {rc})")
        return int(new_n_past.value)

    def free(self, media: MediaPrompt) -> None:
        if not media.freed:
            media.freed = True
            self._mtmd.mtmd_input_chunks_free(media.chunks)

    def close(self) -> None:
        if self._ctx:
            with self._quiet():
                self._mtmd.mtmd_free(self._ctx)
            self._ctx = None
