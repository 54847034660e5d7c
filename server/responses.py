"""Response bodies and streams: OpenAI's shapes for whole answers, SSE chunks, usage and logprobs."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, AsyncIterator

from fastapi import Request
from fastapi.responses import StreamingResponse

from assistant.runtimes.base import Generation

from . import errors, tools
from .errors import APIError
from .metrics import Metrics


def usage_sum(lasts) -> dict[str, int]:
    prompt = sum(last.prompt_tokens for last in lasts)
    completion = sum(last.completion_tokens for last in lasts)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def usage(last) -> dict[str, int]:
    return {"prompt_tokens": last.prompt_tokens, "completion_tokens": last.completion_tokens,
            "total_tokens": last.prompt_tokens + last.completion_tokens}


class Observed:
    """A generation that reports its token counts, time to first text and decode speed."""

    def __init__(self, generation: Generation, metrics: Metrics) -> None:
        self.generation, self.metrics = generation, metrics

    def cancel(self) -> None:
        self.generation.cancel()

    async def __aiter__(self):
        started = time.perf_counter()
        first = None
        async for chunk in self.generation:
            now = time.perf_counter()
            if first is None and chunk.text:
                first = now
            if chunk.finish_reason is not None:
                self.metrics.generation(chunk.prompt_tokens, chunk.completion_tokens,
                                        None if first is None else first - started,
                                        None if first is None else now - first)
            yield chunk


async def collect(request: Request, generation: Generation):
    """Gather a whole generation; cancel it if the client goes away meanwhile."""
    async def watch() -> None:
        while True:
            await asyncio.sleep(0.1)
            if await request.is_disconnected():
                generation.cancel()
                return

    watcher = asyncio.create_task(watch())
    parts, last, entries = [], None, []
    try:
        async for chunk in generation:
            parts.append(chunk.text)
            entries.extend(chunk.logprobs)
            last = chunk
    finally:
        watcher.cancel()
        generation.cancel()  # no-op when finished; stops decoding if this task was cancelled
    if last.finish_reason == "error":
        raise APIError(500, last.error or "generation failed", type="server_error")
    return "".join(parts), last, entries


def chat_logprobs(entries, top: int | None) -> dict[str, Any] | None:
    if top is None:
        return None
    return {"content": [{"token": e.token, "logprob": e.logprob, "bytes": list(e.bytes),
                         "top_logprobs": [{"token": t, "logprob": lp, "bytes": list(b)} for t, lp, b in e.top]}
                        for e in entries], "refusal": None}


def completion_logprobs(entries, top: int | None, offset: int) -> dict[str, Any] | None:
    if top is None:
        return None
    offsets, position = [], offset
    for e in entries:
        offsets.append(position)
        position += len(e.token)
    return {"tokens": [e.token for e in entries], "token_logprobs": [e.logprob for e in entries],
            "top_logprobs": [{t: lp for t, lp, _ in e.top} for e in entries], "text_offset": offsets}


def sse(request: Request, generation: Generation, events: AsyncIterator[dict]) -> StreamingResponse:
    async def body():
        try:
            async for event in events:
                yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n"
            yield "data: [DONE]\n\n"
        finally:
            generation.cancel()  # the client went away, or we are done: free the slot within a token

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def chat_chunks(generation: Generation, ident: str, created: int, model: str, include_usage: bool,
                       plan: tools.ToolPlan | None = None):
    def chunk(delta: dict, finish: str | None) -> dict:
        event = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                 "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if include_usage:
            event["usage"] = None
        return event

    yield chunk({"role": "assistant", "content": ""}, None)
    # With tools, a reply that opens with "{" may be a call: hold it back until it is complete.
    held: list[str] | None = [] if plan is not None else None
    async for piece in generation:
        if piece.finish_reason == "error":
            yield {"error": errors.error_body(piece.error or "generation failed", "server_error")["error"]}
            return
        text = piece.text
        if held is not None and text:
            held.append(text)
            so_far = "".join(held).lstrip()
            if plan.mode == "auto" and so_far and not so_far.startswith("{"):
                text, held = "".join(held), None  # prose: stream from here on
            else:
                text = ""
        if text:
            event = chunk({"content": text}, None)
            if piece.logprobs:
                event["choices"][0]["logprobs"] = chat_logprobs(piece.logprobs, 0)
            yield event
        if piece.finish_reason is not None:
            finish = piece.finish_reason
            if held is not None:
                whole = "".join(held)
                calls = tools.parse_call(whole, plan)
                if calls:
                    for i, call in enumerate(calls):
                        yield chunk({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                                     "function": {"name": call["function"]["name"], "arguments": ""}}]}, None)
                        yield chunk({"tool_calls": [{"index": i, "function": {"arguments": call["function"]["arguments"]}}]}, None)
                    finish = "tool_calls"
                elif whole:
                    yield chunk({"content": whole}, None)
            yield chunk({}, finish)
            if include_usage:
                yield {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                       "choices": [], "usage": usage(piece)}


async def completion_chunks(generation, ident: str, created: int, model: str, echo: str, index: int):
    """One prompt's events; the last item is its final Chunk (for the usage total), not an event."""
    def chunk(text: str, finish: str | None) -> dict:
        return {"id": ident, "object": "text_completion", "created": created, "model": model,
                "choices": [{"index": index, "text": text, "logprobs": None, "finish_reason": finish}]}

    if echo:
        yield chunk(echo, None)
    async for piece in generation:
        if piece.finish_reason == "error":
            yield {"error": errors.error_body(piece.error or "generation failed", "server_error")["error"]}
            return
        if piece.text or piece.finish_reason is not None:
            yield chunk(piece.text, piece.finish_reason)
        if piece.finish_reason is not None:
            yield piece


async def merged(streams, ident: str, created: int, model: str, include_usage: bool):
    """Interleave the events of several prompts as they come; usage once, summed, at the end."""
    queue: asyncio.Queue = asyncio.Queue()

    async def pump(stream) -> None:
        try:
            async for item in stream:
                await queue.put(item)
        finally:
            await queue.put(None)

    tasks = [asyncio.create_task(pump(s)) for s in streams]
    finals, open_streams = [], len(tasks)
    try:
        while open_streams:
            item = await queue.get()
            if item is None:
                open_streams -= 1
            elif isinstance(item, dict):
                yield item
                if "error" in item:
                    return
            else:
                finals.append(item)
        if include_usage:
            yield {"id": ident, "object": "text_completion", "created": created, "model": model, "choices": [],
                   "usage": usage_sum(finals)}
    finally:
        for t in tasks:
            t.cancel()
