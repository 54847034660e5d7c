"""The onnxruntime-genai engine: an ONNX GenAI model folder (``genai_config.json``, the model,
the tokenizer, the chat template) on the CPU, or on an NPU or GPU through its execution provider
(QNN, OpenVINO, VitisAI, DirectML, CUDA) set with ``og.Config``.

One generation at a time, in order, on a worker thread (requests wait in a bounded queue);
stop strings, cancellation and the chunk protocol are the same as the llama.cpp engine's.
Grammars (JSON schema, tools) and log-probabilities are llama.cpp's alone: asking for them here is
a clear 400, not a silent downgrade.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError, ModelFileError
from .base import Chunk, Generation, GenerationRequest, check_prompt, enqueue

# Our device names -> onnxruntime-genai's provider names (og.Config.append_provider).
PROVIDERS = {"cuda": "cuda", "dml": "dml", "npu:QNNExecutionProvider": "QNN",
             "npu:OpenVINOExecutionProvider": "OpenVINO", "npu:VitisAIExecutionProvider": "VitisAI"}


def is_model_folder(path: Path) -> bool:
    return path.is_dir() and (path / "genai_config.json").is_file()


class OrtGenaiEngine:
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
        self._template, self._special = _template_and_specials(path)
        self._queue: deque[Generation] = deque()
        self._current: Generation | None = None
        self._cond = threading.Condition()
        self._running = True
        self._thread = threading.Thread(target=self._loop, name=f"ort-genai:{self.model_id}", daemon=True)
        self._thread.start()

    # --- tokenizer and template ------------------------------------------------------------------

    def tokenize(self, text: str, *, add_special: bool = True) -> list[int]:
        return [int(t) for t in self._tokenizer.encode(text)]

    def detokenize(self, tokens: list[int]) -> str:
        return self._tokenizer.decode(np.asarray(tokens, dtype=np.int32)) if tokens else ""

    @property
    def chat_template(self) -> str | None:
        return self._template

    @property
    def template_knows_tools(self) -> bool:
        return "tools" in (self._template or "")

    def apply_chat_template(self, messages: list[dict], *, add_generation_prompt: bool = True,
                            tools: list[dict] | None = None) -> str:
        if not self._template:
            raise InvalidInputError(f"{self.model_id} has no chat template; use /v1/completions")
        from jinja2 import TemplateError
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message: str):
            raise TemplateError(message)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = raise_exception
        env.filters["tojson"] = lambda value, indent=None: json.dumps(value, ensure_ascii=False, indent=indent)
        try:
            return env.from_string(self._template).render(messages=messages, tools=tools,
                                                          add_generation_prompt=add_generation_prompt,
                                                          **self._special)
        except TemplateError as exc:
            raise InvalidInputError(f"the chat template of {self.model_id} rejected these messages: {exc}") from None

    def chat_prompt_tokens(self, messages: list[dict], *, tools: list[dict] | None = None) -> list[int]:
        return self.tokenize(self.apply_chat_template(messages, tools=tools))

    # --- requests --------------------------------------------------------------------------------

    def submit(self, request: GenerationRequest, loop: asyncio.AbstractEventLoop | None = None) -> Generation:
        check_prompt(request, self.context_length, "shorten it")
        if request.sampling.grammar:
            raise InvalidInputError("JSON schema and tool-call grammars need the llama.cpp runtime; this server runs "
                                    f"{self.model_id} on onnxruntime-genai")
        if request.top_logprobs is not None:
            raise InvalidInputError("log-probabilities need the llama.cpp runtime; this server runs onnxruntime-genai")
        generation = Generation(request, loop)
        enqueue(self._queue, self._cond, self._running, generation, self.max_queue, self.model_id)
        return generation

    def queue_depth(self) -> int:
        with self._cond:
            return len(self._queue)

    def active(self) -> int:
        with self._cond:
            return int(self._current is not None)

    def close(self) -> None:
        with self._cond:
            self._running = False
            self._cond.notify()
        self._thread.join(timeout=30)

    # --- the worker ------------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._running and not self._queue:
                    self._cond.wait()
                if not self._running:
                    for g in self._queue:
                        g.push(Chunk("", "error", error="the model is shutting down"))
                    self._queue.clear()
                    return
                self._current = self._queue.popleft()
            try:
                self._generate(self._current)
            except Exception as exc:  # noqa: BLE001 - one failed request must not stop the engine
                self._current.push(Chunk("", "error", error=f"generation failed: {exc}"))
            with self._cond:
                self._current = None

    def _generate(self, generation: Generation) -> None:
        og, request = self._og, generation.request
        s = request.sampling
        n_prompt = len(request.prompt_tokens)
        params = og.GeneratorParams(self._model)
        options = {"max_length": min(self.context_length, n_prompt + request.max_tokens),
                   "do_sample": s.temperature > 0, "repetition_penalty": s.repeat_penalty}
        if s.temperature > 0:
            options.update(temperature=s.temperature, top_p=s.top_p, top_k=s.top_k)
            if s.seed is not None:
                options["random_seed"] = s.seed & 0x7FFFFFFF
        params.set_search_options(**options)
        generator = og.Generator(self._model, params)
        generator.append_tokens(np.asarray(request.prompt_tokens, dtype=np.int32))
        stream = self._tokenizer.create_stream()
        stops = [x for x in request.stop if x]
        hold = max((len(x) for x in stops), default=1) - 1
        pending, produced, reason = "", 0, "length"
        while not generator.is_done():
            if generation.cancelled.is_set():
                reason = "cancelled"
                break
            generator.generate_next_token()
            token = int(generator.get_next_tokens()[0])
            produced += 1
            if token in self._tokenizer.eos_token_ids:
                reason = "stop"
                break
            pending += stream.decode(token)
            cut = min((pending.find(x) for x in stops if x in pending), default=-1)
            if cut >= 0:
                pending, reason = pending[:cut], "stop"
                break
            if produced >= request.max_tokens:
                break
            if len(pending) > hold:
                out, pending = (pending[:len(pending) - hold], pending[len(pending) - hold:]) if hold else (pending, "")
                generation.push(Chunk(out))
        generation.push(Chunk(pending if reason != "cancelled" else "", reason, prompt_tokens=n_prompt,
                              completion_tokens=produced))


def _template_and_specials(path: Path) -> tuple[str | None, dict[str, str]]:
    """The Jinja chat template (chat_template.jinja, or tokenizer_config.json's) and the special
    tokens a template may use (bos_token, eos_token)."""
    config_file = path / "tokenizer_config.json"
    config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    template_file = path / "chat_template.jinja"
    template = template_file.read_text() if template_file.is_file() else config.get("chat_template")
    specials = {k: v for k, v in config.items() if k in ("bos_token", "eos_token") and isinstance(v, str)}
    return template, specials
