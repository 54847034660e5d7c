"""The onnxruntime-genai engine: an ONNX GenAI model folder (``genai_config.json``, the model,
the tokenizer, the chat template) on the CPU, or on an NPU or GPU through its execution provider
(QNN, OpenVINO, VitisAI, DirectML, CUDA) set with ``og.Config``.

One generation at a time, in order (runtimes/serial.py: the queue, stop strings, cancellation and
the chat template). Grammars (JSON schema, tools) and log-probabilities are llama.cpp's alone:
asking for them here is a clear 400, not a silent downgrade.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..errors import InvalidInputError, ModelFileError
from .base import GenerationRequest
from .serial import SerialEngine, template_and_specials

# Our device names -> onnxruntime-genai's provider names (og.Config.append_provider).
PROVIDERS = {"cuda": "cuda", "dml": "dml", "npu:QNNExecutionProvider": "QNN",
             "npu:OpenVINOExecutionProvider": "OpenVINO", "npu:VitisAIExecutionProvider": "VitisAI"}


def is_model_folder(path: Path) -> bool:
    return path.is_dir() and (path / "genai_config.json").is_file()


class OrtGenaiEngine(SerialEngine):
    runtime_name = "onnxruntime-genai"

    def __init__(self, path: str | Path, *, model_id: str | None = None, context_length: int = 4096,
                 device: str = "cpu", provider_options: dict[str, str] | None = None, max_queue: int = 64) -> None:
        import onnxruntime_genai as og

        path = Path(path)
        if not is_model_folder(path):
            raise ModelFileError(f"{path} is not an ONNX GenAI model folder (no genai_config.json); make one with "
                                 "scripts/convert_onnx_genai.py")
        self._og = og
        self.path, self.model_id, self.max_queue = path, model_id or path.name, max_queue
        config = og.Config(str(path))
        config.clear_providers()
        if device != "cpu":
            provider = PROVIDERS.get(device)
            if provider is None:
                raise InvalidInputError(f"onnxruntime-genai cannot drive {device}; use cpu, "
                                        f"{', '.join(PROVIDERS)}")
            config.append_provider(provider)
            for key, value in (provider_options or {}).items():
                config.set_provider_option(provider, key, value)
        try:
            self._model = og.Model(config)
        except Exception as exc:  # onnxruntime-genai raises RuntimeError/OrtException for bad folders
            raise ModelFileError(f"onnxruntime-genai could not load {path} on {device}: {exc}") from None
        self.device = device
        self._tokenizer = og.Tokenizer(self._model)
        genai = json.loads((path / "genai_config.json").read_text())["model"]
        self.context_length = min(context_length, int(genai.get("context_length", context_length)))
        self._template, self._special = template_and_specials(path)
        self._start_worker()

    def tokenize(self, text: str, *, add_special: bool = True) -> list[int]:
        return [int(t) for t in self._tokenizer.encode(text)]

    def detokenize(self, tokens: list[int]) -> str:
        return self._tokenizer.decode(np.asarray(tokens, dtype=np.int32)) if tokens else ""

    def _piece_decoder(self) -> Callable[[int], str]:
        return self._tokenizer.create_stream().decode

    def _tokens(self, request: GenerationRequest) -> Iterator[int]:
        og, s = self._og, request.sampling
        params = og.GeneratorParams(self._model)
        options = {"max_length": min(self.context_length, len(request.prompt_tokens) + request.max_tokens),
                   "do_sample": s.temperature > 0, "repetition_penalty": s.repeat_penalty}
        if s.temperature > 0:
            options.update(temperature=s.temperature, top_p=s.top_p, top_k=s.top_k)
            if s.seed is not None:
                options["random_seed"] = s.seed & 0x7FFFFFFF
        params.set_search_options(**options)
        generator = og.Generator(self._model, params)
        generator.append_tokens(np.asarray(request.prompt_tokens, dtype=np.int32))
        eos = set(self._tokenizer.eos_token_ids)
        while not generator.is_done():
            generator.generate_next_token()
            token = int(generator.get_next_tokens()[0])
            if token in eos:
                return
            yield token
