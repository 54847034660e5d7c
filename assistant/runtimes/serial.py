"""What the one-request-at-a-time engines (onnxruntime-genai, Core ML) share: a Hugging Face chat
template rendered with Jinja, a bounded queue in front of one worker thread, and turning a stream
of generated tokens into chunks with stop strings, lengths and cancellation.

A subclass loads its model, sets ``model_id``, ``context_length``, ``max_queue`` and ``_template``
and ``_special``, and implements ``tokenize``, ``detokenize``, ``_tokens`` and ``_piece_decoder``."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from pathlib import Path
from typing import Callable, Iterator

from ..errors import InvalidInputError
from .base import Chunk, Generation, GenerationRequest, check_prompt, enqueue


def template_and_specials(path: Path) -> tuple[str | None, dict[str, str]]:
    """The Jinja chat template (chat_template.jinja, or tokenizer_config.json's) and the special
    tokens a template may use (bos_token, eos_token)."""
    config_file = path / "tokenizer_config.json"
    config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    template_file = path / "chat_template.jinja"
    template = template_file.read_text() if template_file.is_file() else config.get("chat_template")
    specials = {k: v for k, v in config.items() if k in ("bos_token", "eos_token") and isinstance(v, str)}
    return template, specials


class SerialEngine:
    model_id: str
    context_length: int
    max_queue: int
    runtime_name: str = "this runtime"
    _template: str | None = None
    _special: dict[str, str] = {}

    def _start_worker(self) -> None:
        self._queue: deque[Generation] = deque()
        self._current: Generation | None = None
        self._cond = threading.Condition()
        self._running = True
        self._thread = threading.Thread(target=self._loop, name=f"{self.runtime_name}:{self.model_id}", daemon=True)
        self._thread.start()

    # --- what a subclass provides ----------------------------------------------------------------

    def tokenize(self, text: str, *, add_special: bool = True) -> list[int]:
        raise NotImplementedError

    def _tokens(self, request: GenerationRequest) -> Iterator[int]:
        """Generated token ids, one at a time, until the model's end token or the limit."""
        raise NotImplementedError

    def _piece_decoder(self) -> Callable[[int], str]:
        """A fresh incremental decoder: token id -> the text it completes."""
        raise NotImplementedError

    # --- template --------------------------------------------------------------------------------

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
                                    f"{self.model_id} on {self.runtime_name}")
        if request.top_logprobs is not None:
            raise InvalidInputError(f"log-probabilities need the llama.cpp runtime; this server runs {self.runtime_name}")
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
        request = generation.request
        decode = self._piece_decoder()
        stops = [x for x in request.stop if x]
        hold = max((len(x) for x in stops), default=1) - 1  # text that may start a stop string waits
        pending, produced, reason = "", 0, "stop"
        for token in self._tokens(request):
            if generation.cancelled.is_set():
                reason = "cancelled"
                break
            produced += 1
            pending += decode(token)
            cut = min((pending.find(x) for x in stops if x in pending), default=-1)
            if cut >= 0:
                pending = pending[:cut]
                break
            if produced >= request.max_tokens:
                reason = "length"
                break
            if len(pending) > hold:
                split = len(pending) - hold
                generation.push(Chunk(pending[:split]))
                pending = pending[split:]
        else:
            if produced >= request.max_tokens or len(request.prompt_tokens) + produced >= self.context_length:
                reason = "length"
        generation.push(Chunk(pending if reason != "cancelled" else "", reason,
                              prompt_tokens=len(request.prompt_tokens), completion_tokens=produced))
