"""The LLM turn of the voice loop: a short system prompt suited to speech, a bounded history, and
a streamed reply from the engine in this process or from a running server over its API."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Iterator, Protocol

from ..errors import AssistantError, EngineClosedError

VOICE_SYSTEM_PROMPT = ("You are a helpful voice assistant. Answer in one or two short sentences of plain "
                       "spoken English, with no lists, code or markdown.")


@dataclass
class Conversation:
    """System prompt plus the last ``max_turns`` exchanges; older ones are dropped first."""

    system_prompt: str = VOICE_SYSTEM_PROMPT
    max_turns: int = 4
    turns: list[tuple[str, str]] = field(default_factory=list)

    def messages(self, user_text: str, keep: int | None = None) -> list[dict]:
        turns = self.turns[-(self.max_turns if keep is None else keep):] if (keep is None or keep > 0) else []
        msgs = [{"role": "system", "content": self.system_prompt}]
        for user, assistant in turns:
            msgs += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        return msgs + [{"role": "user", "content": user_text}]

    def add(self, user_text: str, reply: str) -> None:
        self.turns.append((user_text, reply))
        del self.turns[:-self.max_turns]


@dataclass(frozen=True)
class ReplySettings:
    max_tokens: int = 96  # a spoken answer is short
    temperature: float = 0.7
    seed: int | None = None


class Brain(Protocol):
    sees_images: bool  # whether reply() takes images (a camera frame) itself

    def reply(self, conversation: Conversation, user_text: str, cancelled: threading.Event,
              images: tuple[bytes, ...] = ()) -> Iterator[str]:
        """Text deltas of the reply; stops early when ``cancelled`` is set. ``images``: PNG or JPEG
        bytes shown with the request, when ``sees_images``."""
        ...


class EngineBrain:
    """The LLM engine loaded in this process (shared with the HTTP server under ``serve --listen``:
    voice turns queue on its slots like any request)."""

    def __init__(self, engine, settings: ReplySettings = ReplySettings()) -> None:
        self.engine, self.settings = engine, settings

    @property
    def sees_images(self) -> bool:
        """A model with a vision projector: the camera frame goes to it itself."""
        return bool(getattr(self.engine, "sees_images", False))

    def _prompt(self, conversation: Conversation, user_text: str) -> list[int]:
        room = self.engine.context_length - self.settings.max_tokens
        for keep in range(conversation.max_turns, -1, -1):  # drop the oldest turns until it fits
            tokens = self.engine.chat_prompt_tokens(conversation.messages(user_text, keep))
            if len(tokens) <= room:
                return tokens
        return tokens  # the engine reports the context error with the numbers

    def reply(self, conversation: Conversation, user_text: str, cancelled: threading.Event,
              images: tuple[bytes, ...] = ()) -> Iterator[str]:
        from ..runtimes.base import GenerationRequest, SamplingParams

        if self.engine is None:
            raise EngineClosedError("the language model is still loading; try again in a moment")
        s = self.settings
        sampling = SamplingParams(temperature=s.temperature, seed=s.seed)
        if images and self.sees_images:
            text = self.engine.media_marker * len(images) + "\n" + user_text
            media = self.engine.media_prompt(conversation.messages(text), list(images))
            request = GenerationRequest((), s.max_tokens, sampling=sampling, media=media)
        else:
            request = GenerationRequest(tuple(self._prompt(conversation, user_text)), s.max_tokens, sampling=sampling)
        generation = self.engine.submit(request)
        for chunk in generation:
            if cancelled.is_set():
                generation.cancel()
            if chunk.error:
                raise AssistantError(f"the language model failed: {chunk.error}")
            if chunk.text:
                yield chunk.text


class HttpBrain:
    """A running ``assistant serve`` (or any OpenAI-compatible server), over /v1/chat/completions."""

    sees_images = True  # the server takes image parts: its model sees them, or its vision stage does

    def __init__(self, base_url: str, api_key: str | None = None, model: str | None = None,
                 settings: ReplySettings = ReplySettings()) -> None:
        self.client = http_client(base_url, api_key)
        self.model, self.settings = model, settings

    def reply(self, conversation: Conversation, user_text: str, cancelled: threading.Event,
              images: tuple[bytes, ...] = ()) -> Iterator[str]:
        import base64

        s = self.settings
        messages = conversation.messages(user_text)
        if images:
            parts = [{"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(i).decode()}}
                     for i in images]
            messages[-1] = {"role": "user", "content": [{"type": "text", "text": user_text}, *parts]}
        body = {"model": self.model or "default", "messages": messages, "stream": True,
                "max_tokens": s.max_tokens, "temperature": s.temperature}
        if s.seed is not None:
            body["seed"] = s.seed
        with self.client.stream("POST", "/chat/completions", json=body) as response:
            check_response(response)
            for line in response.iter_lines():
                if cancelled.is_set():
                    return
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                delta = json.loads(line[6:])["choices"][0]["delta"].get("content")
                if delta:
                    yield delta


def http_client(base_url: str, api_key: str | None):
    import httpx

    base = base_url.rstrip("/")
    if not base.endswith("/v1"):
        base += "/v1"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.Client(base_url=base, headers=headers, timeout=httpx.Timeout(60.0, connect=5.0))


def check_response(response) -> None:
    """An error status from the server becomes the server's own one-line message."""
    if response.status_code < 400:
        return
    response.read()
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:200]
    raise AssistantError(f"the server at {response.url} answered {response.status_code}: {message}")
