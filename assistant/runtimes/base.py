"""What every LLM engine offers the server and the voice loop, and the data they exchange."""

from __future__ import annotations

import asyncio
import queue
import threading
from dataclasses import dataclass, field
from typing import AsyncIterator, Iterator, Protocol

from ..errors import ContextLengthExceededError, EngineClosedError, QueueFullError

__all__ = ["TokenLogprob", "Chunk", "ContextLengthExceededError", "Engine", "EngineClosedError", "Generation",
           "GenerationRequest", "QueueFullError", "SamplingParams"]


@dataclass(frozen=True)
class SamplingParams:
    """OpenAI's sampling fields mapped onto llama.cpp's sampler chain. temperature 0 is greedy."""

    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repeat_penalty: float = 1.0
    penalty_last_n: int = 64
    seed: int | None = None
    grammar: str | None = None  # GBNF, root rule "root"


@dataclass(frozen=True)
class GenerationRequest:
    prompt_tokens: tuple[int, ...]
    max_tokens: int
    stop: tuple[str, ...] = ()
    sampling: SamplingParams = field(default_factory=SamplingParams)
    top_logprobs: int | None = None  # None: no log-probabilities; k: the chosen token's and the k likeliest
    media: object | None = None  # a prompt with images (runtimes.mtmd.MediaPrompt) instead of prompt_tokens

    @property
    def n_prompt(self) -> int:
        return getattr(self.media, "n_tokens", 0) or len(self.prompt_tokens)


@dataclass(frozen=True)
class TokenLogprob:
    """A generated token's log-probability under the model, with the likeliest alternatives."""

    token: str
    logprob: float
    bytes: tuple[int, ...]
    top: tuple[tuple[str, float, tuple[int, ...]], ...] = ()


@dataclass(frozen=True)
class Chunk:
    """A piece of generated text. The last chunk of a generation has ``finish_reason`` set
    ("stop", "length", "cancelled" or "error") and the token counts."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None
    logprobs: tuple[TokenLogprob, ...] = ()  # of the tokens since the previous chunk


_DONE = object()


class Generation:
    """A submitted request: iterate it (sync or async) for chunks; ``cancel()`` stops it within a
    token. Chunks are pushed by the engine's thread."""

    def __init__(self, request: GenerationRequest, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.request = request
        self._loop = loop
        self._async_queue: asyncio.Queue | None = asyncio.Queue() if loop is not None else None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self.cancelled = threading.Event()

    def cancel(self) -> None:
        self.cancelled.set()

    # called from the engine thread
    def push(self, chunk: Chunk) -> None:
        if self._loop is not None and self._async_queue is not None:
            try:
                self._loop.call_soon_threadsafe(self._async_queue.put_nowait, chunk)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                self.cancel()
        else:
            self._queue.put(chunk)

    def __iter__(self) -> Iterator[Chunk]:
        if self._async_queue is not None:
            raise TypeError("this generation was submitted with an event loop; use `async for`")
        while True:
            chunk = self._queue.get()
            yield chunk
            if chunk.finish_reason is not None:
                return

    async def __aiter__(self) -> AsyncIterator[Chunk]:
        if self._async_queue is None:
            raise TypeError("this generation was submitted without an event loop; iterate it synchronously")
        while True:
            chunk = await self._async_queue.get()
            yield chunk
            if chunk.finish_reason is not None:
                return


def check_prompt(request: GenerationRequest, context_length: int, hint: str) -> None:
    """The checks every engine makes before it queues a request; ``hint`` says how to get more room."""
    from ..errors import InvalidInputError

    n_prompt = request.n_prompt
    if n_prompt == 0:
        raise InvalidInputError("the prompt is empty")
    if n_prompt >= context_length:
        raise ContextLengthExceededError(
            f"the prompt has {n_prompt} tokens but the context holds {context_length}; {hint}",
            prompt_tokens=n_prompt, context_length=context_length)


def enqueue(pending, cond: threading.Condition, running: bool, generation: Generation, max_queue: int,
            model_id: str) -> None:
    """Queue a generation for an engine's thread, or refuse it: shutting down, or the queue is full."""
    with cond:
        if not running:
            raise EngineClosedError("the model is shutting down")
        if len(pending) >= max_queue:
            raise QueueFullError(f"{len(pending)} requests are already waiting for {model_id}; retry shortly",
                                 retry_after_s=1)
        pending.append(generation)
        cond.notify()


class Engine(Protocol):
    """An LLM engine: tokenizer, chat template, and batched generation."""

    model_id: str
    context_length: int  # per request
    template_knows_tools: bool

    def tokenize(self, text: str, *, add_special: bool = True) -> list[int]: ...

    def detokenize(self, tokens: list[int]) -> str: ...

    def apply_chat_template(self, messages: list[dict], *, add_generation_prompt: bool = True,
                            tools: list[dict] | None = None) -> str: ...

    def chat_prompt_tokens(self, messages: list[dict], *, tools: list[dict] | None = None) -> list[int]: ...

    def submit(self, request: GenerationRequest, loop: asyncio.AbstractEventLoop | None = None) -> Generation: ...

    def active(self) -> int: ...

    def queue_depth(self) -> int: ...

    def close(self) -> None: ...
