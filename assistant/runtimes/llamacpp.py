"""llama.cpp engine with continuous batching (llama-cpp-python's low-level API).

One thread owns the llama context. Each running request holds a *slot*: a sequence id with its
own KV stream (``kv_unified=False``: every slot gets the full per-request context), its own sampler
chain (grammar, penalties, top-k/p, min-p, temperature, seed) and its own output channel. Every
step builds one batch from the next token of each decoding slot plus prompt chunks of the slots
still reading their prompt, decodes it once, and samples each slot from its own logits row, as
llama-server's parallel slots do. Requests beyond the free slots wait in a bounded queue.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidInputError, ModelFileError
from .base import Chunk, Generation, GenerationRequest, TokenLogprob, check_prompt, enqueue

DEFAULT_SLOTS = 4
DEFAULT_BATCH = 512


@dataclass
class _Slot:
    seq_id: int
    generation: Generation | None = None
    prompt: tuple[int, ...] = ()
    n_fed: int = 0  # prompt tokens already decoded
    n_past: int = 0  # positions in this slot's KV stream
    next_token: int | None = None  # sampled, not yet decoded
    batch_index: int = -1  # row of this slot's logits in the last batch, -1 if none
    sampler: object | None = None
    decoder: codecs.IncrementalDecoder = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))
    pending_text: str = ""
    n_generated: int = 0
    logprobs: list = field(default_factory=list)  # TokenLogprob entries not yet sent

    @property
    def busy(self) -> bool:
        return self.generation is not None


class LlamaCppEngine:
    """Load a GGUF file and serve generations from it, several at once."""

    def __init__(self, path: str | Path, *, model_id: str | None = None, context_length: int = 4096,
                 slots: int = DEFAULT_SLOTS, threads: int | None = None, n_gpu_layers: int = 0,
                 flash_attn: bool = True, max_queue: int = 64, n_batch: int = DEFAULT_BATCH,
                 projector: str | Path | None = None, verbose: bool = False) -> None:
        import llama_cpp
        from llama_cpp import _internals, _logger

        _logger.set_verbose(verbose)
        self._llama_cpp = llama_cpp
        path = Path(path)
        if not path.is_file():
            raise ModelFileError(f"model file {path} does not exist; install it with `assistant models pull`")
        self.path = path
        self.model_id = model_id or path.stem
        self.context_length = context_length
        self.slots = slots
        self.max_queue = max_queue
        self.n_batch = n_batch

        model_params = llama_cpp.llama_model_default_params()
        model_params.n_gpu_layers = n_gpu_layers
        model_params.use_mmap = True
        try:
            self._model = _internals.LlamaModel(path_model=str(path), params=model_params, verbose=verbose)
        except ValueError as exc:
            raise ModelFileError(f"llama.cpp could not load {path}: {exc}; the file may be corrupt or of an "
                                 "architecture this build does not know") from None

        ctx_params = llama_cpp.llama_context_default_params()
        ctx_params.n_ctx = context_length * slots
        ctx_params.n_batch = n_batch
        ctx_params.n_ubatch = min(n_batch, 512)
        ctx_params.n_seq_max = slots
        ctx_params.kv_unified = False
        ctx_params.swa_full = False
        n_threads = threads or max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
        ctx_params.n_threads = n_threads
        ctx_params.n_threads_batch = n_threads
        ctx_params.flash_attn_type = (llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn
                                      else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED)
        ctx_params.no_perf = True
        try:
            self._ctx = _internals.LlamaContext(model=self._model, params=ctx_params, verbose=verbose)
        except ValueError as exc:
            raise ModelFileError(f"llama.cpp could not create a context for {path}: {exc}") from None
        self._batch = _internals.LlamaBatch(n_tokens=n_batch, embd=0, n_seq_max=1, verbose=verbose)
        self._vocab = self._model.vocab
        self.n_vocab = self._model.n_vocab()
        self.metadata = self._model.metadata()

        import ctypes

        self._piece_buf = ctypes.create_string_buffer(64)  # used by the engine thread only
        self.projector = None
        if projector is not None:
            from .mtmd import Projector

            try:
                self.projector = Projector(Path(projector), self._model.model, threads=n_threads,
                                           use_gpu=n_gpu_layers != 0, verbose=verbose)
            except ModelFileError:
                self._ctx.close()
                self._model.close()
                raise
        self._slots = [_Slot(seq_id=i) for i in range(slots)]
        self._pending: deque[Generation] = deque()
        self._cond = threading.Condition()
        self._running = True
        self._thread = threading.Thread(target=self._loop, name=f"llama.cpp:{self.model_id}", daemon=True)
        self._thread.start()

    # --- tokenizer and template -----------------------------------------------------------------

    def tokenize(self, text: str, *, add_special: bool = True, parse_special: bool = False) -> list[int]:
        return self._model.tokenize(text.encode("utf-8"), add_special, parse_special)

    def detokenize(self, tokens: list[int]) -> str:
        return self._model.detokenize(tokens).decode("utf-8", "replace")

    @property
    def chat_template(self) -> str | None:
        return self.metadata.get("tokenizer.chat_template")

    @property
    def template_knows_tools(self) -> bool:
        """Whether the chat template renders a `tools` list itself (Llama 3.x, Qwen 2.5 do)."""
        return "tools" in (self.chat_template or "")

    def apply_chat_template(self, messages: list[dict], *, add_generation_prompt: bool = True,
                            tools: list[dict] | None = None) -> str:
        """Render messages with the model's own Jinja template (as transformers does)."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self.chat_template
        if not template:
            return self._builtin_template(messages, add_generation_prompt)
        formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=self._model.token_get_text(self._model.token_eos()),
            bos_token=self._model.token_get_text(self._model.token_bos()),
            add_generation_prompt=add_generation_prompt,
        )
        try:
            return formatter(messages=messages, tools=tools).prompt
        except Exception as exc:  # a template's raise_exception or a Jinja error
            raise InvalidInputError(f"the chat template of {self.model_id} rejected these messages: {exc}") from None

    # Built-in llama.cpp templates for GGUFs that carry none (base models), by architecture.
    FALLBACK_TEMPLATES = {"gemma3": "gemma", "gemma2": "gemma", "gemma": "gemma", "llama": "llama3",
                          "phi3": "phi3", "qwen2": "chatml"}

    @property
    def fallback_template(self) -> str:
        return self.FALLBACK_TEMPLATES.get(self.metadata.get("general.architecture", ""), "chatml")

    def _builtin_template(self, messages: list[dict], add_generation_prompt: bool) -> str:
        import ctypes

        lc = self._llama_cpp
        keep = [(str(m.get("role", "user")).encode(), str(m.get("content") or "").encode()) for m in messages]
        chat = (lc.llama_chat_message * len(keep))(*[lc.llama_chat_message(role=r, content=c) for r, c in keep])
        name = self.fallback_template.encode()
        size = max(256, 2 * sum(len(r) + len(c) for r, c in keep) + 256)
        for _ in range(2):
            buf = ctypes.create_string_buffer(size)
            n = lc.llama_chat_apply_template(name, chat, len(keep), add_generation_prompt, buf, size)
            if n < 0:
                raise InvalidInputError(f"llama.cpp has no built-in chat template {name.decode()!r}")
            if n <= size:
                return buf.raw[:n].decode("utf-8", "replace")
            size = n + 1
        raise InvalidInputError("the chat prompt could not be formatted")

    def chat_prompt_tokens(self, messages: list[dict], *, tools: list[dict] | None = None) -> list[int]:
        # A GGUF's Jinja template writes the special tokens it needs (e.g. <bos>) itself; llama.cpp's
        # built-in fallbacks do not, so then the tokenizer adds them as the model asks.
        prompt = self.apply_chat_template(messages, tools=tools)
        return self.tokenize(prompt, add_special=not self.chat_template, parse_special=True)

    @property
    def sees_images(self) -> bool:
        """True when a vision projector is loaded: images go to the model itself."""
        return self.projector is not None

    @property
    def media_marker(self) -> str:
        return self.projector.marker

    def media_prompt(self, messages: list[dict], images: list[bytes], *, tools: list[dict] | None = None):
        """A chat prompt whose text holds ``media_marker`` where each image goes, tokenized with
        the images by the projector (see runtimes.mtmd)."""
        if self.projector is None:
            raise InvalidInputError(f"{self.model_id} has no vision projector loaded")
        prompt = self.apply_chat_template(messages, tools=tools)
        return self.projector.tokenize(prompt, images, add_special=not self.chat_template)

    # --- requests --------------------------------------------------------------------------------

    def submit(self, request: GenerationRequest, loop: asyncio.AbstractEventLoop | None = None) -> Generation:
        try:
            check_prompt(request, self.context_length, "shorten it or start the server with a larger --context")
            if request.sampling.grammar:
                self._check_grammar(request.sampling.grammar)
            generation = Generation(request, loop)
            enqueue(self._pending, self._cond, self._running, generation, self.max_queue, self.model_id)
        except BaseException:
            self._release(request)
            raise
        return generation

    def _release(self, request: GenerationRequest) -> None:
        if request.media is not None and self.projector is not None:
            self.projector.free(request.media)

    def queue_depth(self) -> int:
        with self._cond:
            return len(self._pending)

    def active(self) -> int:
        with self._cond:
            return sum(1 for s in self._slots if s.busy)

    def close(self) -> None:
        with self._cond:
            self._running = False
            self._cond.notify()
        self._thread.join(timeout=30)
        for slot in self._slots:
            self._free_sampler(slot)
        if self.projector is not None:
            self.projector.close()
        self._batch.close()
        self._ctx.close()
        self._model.close()

    # --- the decode loop (engine thread) ---------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._running and not self._pending and not any(s.busy for s in self._slots):
                    self._cond.wait()
                if not self._running:
                    for g in self._pending:
                        self._release(g.request)
                        g.push(Chunk("", "error", error="the model is shutting down"))
                    self._pending.clear()
                    for s in self._slots:
                        if s.busy:
                            self._finish(s, "error", error="the model is shutting down")
                    return
                for slot in self._slots:
                    if not slot.busy and self._pending:
                        self._start(slot, self._pending.popleft())
            try:
                self._step()
            except Exception as exc:  # never let one bad step kill the engine
                for slot in self._slots:
                    if slot.busy:
                        self._finish(slot, "error", error=f"generation failed: {exc}")

    def _start(self, slot: _Slot, generation: Generation) -> None:
        self._llama_cpp.llama_memory_seq_rm(self._ctx.memory, slot.seq_id, -1, -1)
        slot.generation = generation
        slot.prompt = generation.request.prompt_tokens
        slot.n_fed = slot.n_past = slot.n_generated = 0
        slot.next_token = None
        slot.pending_text = ""
        slot.logprobs = []
        slot.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        slot.sampler = self._make_sampler(generation.request)
        media = generation.request.media
        if media is not None:
            # Images: the projector decodes the whole prompt into this slot's stream now (the image
            # encoder runs here); the first token is sampled from its last logits, then the slot
            # decodes with the others.
            try:
                slot.n_past = self.projector.evaluate(media, self._ctx.ctx, slot.seq_id, self.n_batch)
            except RuntimeError as exc:  # this request fails, the engine goes on
                self._finish(slot, "error", error=str(exc))
                return
            finally:
                self._release(generation.request)
            slot.n_fed = len(slot.prompt)
            token = self._llama_cpp.llama_sampler_sample(slot.sampler, self._ctx.ctx, -1)
            self._on_token(slot, token)

    def _step(self) -> None:
        batch = self._batch.batch
        n = 0
        for slot in self._slots:
            slot.batch_index = -1
            if slot.busy and slot.generation.cancelled.is_set():
                self._finish(slot, "cancelled")
        # Decoding slots first (one token each), then prompt chunks in the room left.
        for slot in self._slots:
            if slot.busy and slot.next_token is not None and n < self.n_batch:
                self._add(batch, n, slot.next_token, slot.n_past, slot.seq_id, True)
                slot.batch_index = n
                slot.n_past += 1
                slot.next_token = None
                n += 1
        for slot in self._slots:
            if not slot.busy or slot.n_fed >= len(slot.prompt) or n >= self.n_batch:
                continue
            take = min(len(slot.prompt) - slot.n_fed, self.n_batch - n)
            for i in range(take):
                last = slot.n_fed + i == len(slot.prompt) - 1
                self._add(batch, n, slot.prompt[slot.n_fed + i], slot.n_past + i, slot.seq_id, last)
                if last:
                    slot.batch_index = n
                n += 1
            slot.n_fed += take
            slot.n_past += take
        if n == 0:
            return
        batch.n_tokens = n
        rc = self._llama_cpp.llama_decode(self._ctx.ctx, batch)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")
        for slot in self._slots:
            if slot.busy and slot.batch_index >= 0:
                token = self._llama_cpp.llama_sampler_sample(slot.sampler, self._ctx.ctx, slot.batch_index)
                if (slot.generation.request.top_logprobs is not None
                        and not self._llama_cpp.llama_vocab_is_eog(self._vocab, token)):
                    slot.logprobs.append(self._logprob(slot.batch_index, token, slot.generation.request.top_logprobs))
                self._on_token(slot, token)

    @staticmethod
    def _add(batch, i: int, token: int, pos: int, seq_id: int, logits: bool) -> None:
        batch.token[i] = token
        batch.pos[i] = pos
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = seq_id
        batch.logits[i] = logits

    def _on_token(self, slot: _Slot, token: int) -> None:
        if self._llama_cpp.llama_vocab_is_eog(self._vocab, token):
            self._flush_and_finish(slot, "stop")
            return
        slot.n_generated += 1
        piece = self._piece(token)
        slot.pending_text += slot.decoder.decode(piece)
        stops = slot.generation.request.stop
        cut = min((i for i in (slot.pending_text.find(s) for s in stops) if i >= 0), default=-1)
        if cut >= 0:
            slot.pending_text = slot.pending_text[:cut]
            self._flush_and_finish(slot, "stop")
            return
        # Hold back a tail that could still become a stop sequence.
        hold = max((k for s in stops for k in range(min(len(s) - 1, len(slot.pending_text)), 0, -1)
                    if slot.pending_text.endswith(s[:k])), default=0)
        emit = slot.pending_text[:len(slot.pending_text) - hold]
        slot.pending_text = slot.pending_text[len(emit):]
        if emit:
            slot.generation.push(Chunk(emit, logprobs=tuple(slot.logprobs)))
            slot.logprobs = []
        if slot.n_generated >= slot.generation.request.max_tokens or slot.n_past + 1 >= self.context_length:
            self._flush_and_finish(slot, "length")
            return
        slot.next_token = token

    def _logprob(self, row: int, token: int, k: int) -> TokenLogprob:
        """log softmax of the model's logits for this row: the chosen token and the k likeliest."""
        import numpy as np

        ptr = self._llama_cpp.llama_get_logits_ith(self._ctx.ctx, row)
        logits = np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).astype(np.float64)
        top_value = logits.max()
        log_z = top_value + np.log(np.exp(logits - top_value).sum())

        def entry(t: int) -> tuple[str, float, tuple[int, ...]]:
            raw = self._piece(int(t))
            return raw.decode("utf-8", "replace"), float(logits[t] - log_z), tuple(raw)

        best = np.argpartition(-logits, k)[:k] if k else np.array([], dtype=int)
        best = best[np.argsort(-logits[best])]
        text, logprob, raw = entry(token)
        return TokenLogprob(text, logprob, raw, tuple(entry(t) for t in best))

    def _piece(self, token: int) -> bytes:
        """The bytes of one token (llama_token_to_piece returns the length it wrote)."""
        import ctypes

        buf = self._piece_buf
        n = self._llama_cpp.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
        if n < 0:
            self._piece_buf = buf = ctypes.create_string_buffer(-n)
            n = self._llama_cpp.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
        return buf.raw[:n]

    def _flush_and_finish(self, slot: _Slot, reason: str) -> None:
        text = slot.pending_text + slot.decoder.decode(b"", final=True)
        if reason == "stop":
            for s in slot.generation.request.stop:  # a stop split across the final flush
                if s and s in text:
                    text = text[:text.find(s)]
        slot.pending_text = text
        self._finish(slot, reason)

    def _finish(self, slot: _Slot, reason: str, error: str | None = None) -> None:
        generation = slot.generation
        if generation is None:
            return
        generation.push(Chunk(slot.pending_text if reason in ("stop", "length") else "", reason,
                              prompt_tokens=generation.request.n_prompt, completion_tokens=slot.n_generated, error=error,
                              logprobs=tuple(slot.logprobs)))
        slot.logprobs = []
        slot.generation = None
        slot.pending_text = ""
        slot.next_token = None
        self._free_sampler(slot)

    # --- samplers --------------------------------------------------------------------------------

    def _make_sampler(self, request: GenerationRequest):
        lc = self._llama_cpp
        s = request.sampling
        chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
        if s.grammar:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_grammar(self._vocab, s.grammar.encode(), b"root"))
        if s.frequency_penalty or s.presence_penalty or s.repeat_penalty != 1.0:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_penalties(
                self.n_vocab, s.penalty_last_n, s.repeat_penalty, s.frequency_penalty, s.presence_penalty))
        if s.temperature <= 0:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_greedy())
            return chain
        if s.top_k > 0:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_top_k(s.top_k))
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_top_p(s.top_p, 1))
        if s.min_p > 0:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_min_p(s.min_p, 1))
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_temp(s.temperature))
        seed = s.seed if s.seed is not None else lc.LLAMA_DEFAULT_SEED
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_dist(seed & 0xFFFFFFFF))
        return chain

    def _free_sampler(self, slot: _Slot) -> None:
        if slot.sampler is not None:
            self._llama_cpp.llama_sampler_free(slot.sampler)
            slot.sampler = None

    def _check_grammar(self, grammar: str) -> None:
        """Parse the grammar once on the caller's thread, so a bad one is a 400, not a dead slot."""
        lc = self._llama_cpp
        sampler = lc.llama_sampler_init_grammar(self._vocab, grammar.encode(), b"root")
        if not sampler:
            raise InvalidInputError("the grammar for this request could not be parsed")
        lc.llama_sampler_free(sampler)
