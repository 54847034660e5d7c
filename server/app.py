"""``create_app(engine, settings)``: the FastAPI app of the OpenAI-compatible API."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from typing import Any, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from assistant.errors import AssistantError
from assistant.runtimes.base import Engine, Generation, GenerationRequest, SamplingParams
from assistant.settings import ServeSettings
from assistant.speech.stack import SpeechStack
from assistant.vision.bridge import VisionStack
from assistant.vision.images import ImageLimits

from . import audio, errors, responses, tools, vision
from .errors import APIError
from .gate import Gate
from .metrics import Metrics
from .schemas import ChatCompletionRequest, CompletionRequest


class EngineHolder:
    """The engine, or why there is none yet: the server answers /health with 503 while loading."""

    def __init__(self, engine: Engine | None = None, model_id: str | None = None,
                 installed: list[str] | None = None) -> None:
        self.engine = engine
        self.model_id = model_id or (engine.model_id if engine else None)
        self.installed = [m for m in (installed or []) if m != self.model_id]  # on disk, not loaded
        self.error: str | None = None
        self.created = int(time.time())

    def load_in_background(self, factory: Callable[[], Engine]) -> threading.Thread:
        def run() -> None:
            try:
                self.engine = factory()
                self.model_id = self.engine.model_id
            except AssistantError as exc:
                self.error = str(exc)
            except Exception as exc:  # noqa: BLE001 - reported through /health
                self.error = f"loading failed: {exc}"

        thread = threading.Thread(target=run, name="model-loader", daemon=True)
        thread.start()
        return thread

    def ready(self) -> Engine:
        if self.engine is not None:
            return self.engine
        if self.error:
            raise APIError(503, f"the model could not be loaded: {self.error}", type="server_error")
        raise APIError(503, "the model is still loading; retry shortly", type="server_error",
                       headers={"Retry-After": "2"})


def create_app(engine: Engine | EngineHolder, settings: ServeSettings | None = None,
               speech: SpeechStack | None = None) -> FastAPI:
    """``speech``: the process's speech models (shared with ``serve --listen``); made from the
    settings when not given, and loaded on the first audio request."""
    settings = settings or ServeSettings()
    holder = engine if isinstance(engine, EngineHolder) else EngineHolder(engine)
    api_key = settings.resolved_api_key()
    app = FastAPI(title="assistant", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.holder = holder
    metrics = Metrics()
    app.state.metrics = metrics
    errors.install(app)
    app.state.speech = speech or SpeechStack(settings.stt_model, settings.voice, stt_device=settings.stt_device,
                                             threads=settings.threads or 0)
    audio.install(app, app.state.speech, settings.max_queue)
    app.state.vision = VisionStack()
    image_limits = ImageLimits(max_images=settings.max_images, allow_remote=settings.allow_remote_images)

    app.add_middleware(Gate, api_key=api_key, max_body_bytes=settings.max_body_bytes, metrics=metrics,
                       upload_limits={"/v1/audio/transcriptions": settings.max_upload_bytes})
    if settings.cors_origin:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origin, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])

    @app.get("/metrics")
    async def prometheus() -> PlainTextResponse:
        engine = holder.engine
        text = metrics.render(engine.queue_depth() if engine else 0, engine.active() if engine else 0)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    @app.get("/health")
    async def health() -> JSONResponse:
        if holder.engine is not None:
            return JSONResponse({"status": "ok", "model": holder.model_id, "active": holder.engine.active(),
                                 "queued": holder.engine.queue_depth()})
        status = "error" if holder.error else "loading"
        return JSONResponse({"status": status, "error": holder.error}, 503)

    def model_card(model_id: str) -> dict[str, Any]:
        # "loaded" is ours: installed models are listed too, but only the loaded one answers.
        return {"id": model_id, "object": "model", "created": holder.created, "owned_by": "assistant",
                "loaded": model_id == holder.model_id}

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        ids = ([holder.model_id] if holder.model_id else []) + holder.installed
        return {"object": "list", "data": [model_card(m) for m in ids]}

    @app.get("/v1/models/{model_id:path}")
    async def get_model(model_id: str) -> dict[str, Any]:
        if model_id not in holder.installed:
            check_model(model_id)
        return model_card(model_id)

    def check_model(model_id: str) -> None:
        if model_id == holder.model_id:
            return
        if model_id in holder.installed:
            message = (f"{model_id!r} is installed but this server runs {holder.model_id!r}; restart it with "
                       f"`assistant serve --model {model_id}`")
        else:
            message = f"the model {model_id!r} does not exist here; this server serves {holder.model_id!r}"
        raise APIError(404, message, type="invalid_request_error", param="model", code="model_not_found")

    def common(body: ChatCompletionRequest | CompletionRequest, default_temperature: float) -> tuple[Engine, SamplingParams, tuple[str, ...]]:
        check_model(body.model)
        engine = holder.ready()
        if body.n not in (None, 1):
            raise APIError(400, "n > 1 is not supported; send separate requests", param="n")
        stop = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())
        if len(stop) > 4:
            raise APIError(400, "at most 4 stop sequences", param="stop")
        sampling = SamplingParams(
            temperature=default_temperature if body.temperature is None else body.temperature,
            top_p=1.0 if body.top_p is None else body.top_p,
            presence_penalty=body.presence_penalty or 0.0,
            frequency_penalty=body.frequency_penalty or 0.0,
            seed=body.seed,
        )
        return engine, sampling, tuple(s for s in stop if s)

    def limit_tokens(requested: int | None, engine: Engine, prompt_tokens: int) -> int:
        room = engine.context_length - prompt_tokens
        if requested is not None and requested > settings.max_tokens_limit:
            raise APIError(400, f"max_tokens is limited to {settings.max_tokens_limit} on this server", param="max_tokens")
        return max(1, min(requested or room, room, settings.max_tokens_limit))

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest, request: Request):
        engine, sampling, stop = common(body, 1.0)
        if body.top_logprobs is not None and not (0 <= body.top_logprobs <= 20):
            raise APIError(400, "top_logprobs must be between 0 and 20", param="top_logprobs")
        if body.top_logprobs is not None and not body.logprobs:
            raise APIError(400, "top_logprobs needs logprobs: true", param="top_logprobs")
        top = (body.top_logprobs or 0) if body.logprobs else None
        images: list[bytes] = []
        if vision.image_parts(body.messages):
            if getattr(engine, "sees_images", False):
                images = await asyncio.to_thread(vision.images_to_markers, body.messages, image_limits,
                                                 engine.media_marker)
            else:
                await asyncio.to_thread(vision.images_to_text, body.messages, app.state.vision, image_limits)
        plan = tools.plan_tools(body.tools, body.tool_choice)
        if plan is not None and body.response_format and body.response_format.type != "text":
            raise APIError(400, "use either tools or response_format, not both", param="response_format")
        knows_tools = engine.template_knows_tools
        messages = tools.messages_for_template([_message_dict(m) for m in body.messages], plan, knows_tools)
        grammar = plan.grammar if plan is not None else _grammar_for(body)
        if grammar:
            sampling = SamplingParams(**{**sampling.__dict__, "grammar": grammar})
        template_tools = body.tools if plan is not None and knows_tools else None
        if images:
            media = await asyncio.to_thread(engine.media_prompt, messages, images, tools=template_tools)
            request_tokens: tuple[int, ...] = ()
            max_tokens = limit_tokens(body.max_completion_tokens or body.max_tokens, engine, media.n_tokens)
        else:
            media = None
            request_tokens = tuple(await asyncio.to_thread(engine.chat_prompt_tokens, messages, tools=template_tools))
            max_tokens = limit_tokens(body.max_completion_tokens or body.max_tokens, engine, len(request_tokens))
        generation = engine.submit(GenerationRequest(request_tokens, max_tokens, stop, sampling, top, media=media),
                                   asyncio.get_running_loop())
        ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return responses.sse(request, generation,
                        responses.chat_chunks(responses.Observed(generation, metrics), ident, created, holder.model_id,
                                     include_usage, plan))
        text, last, entries = await responses.collect(request, responses.Observed(generation, metrics))
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
        finish = last.finish_reason
        calls = tools.parse_call(text, plan) if plan is not None else None
        if calls:
            message.update(content=None, tool_calls=calls)
            finish = "tool_calls"
        return {"id": ident, "object": "chat.completion", "created": created, "model": holder.model_id,
                "choices": [{"index": 0, "message": message, "logprobs": responses.chat_logprobs(entries, top),
                             "finish_reason": finish}],
                "usage": responses.usage(last)}

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request):
        engine, sampling, stop = common(body, 1.0)
        if body.suffix:
            raise APIError(400, "suffix (fill-in-the-middle) is not supported", param="suffix")
        if body.best_of not in (None, 1):
            raise APIError(400, "best_of > 1 is not supported", param="best_of")
        if body.logprobs is not None and not (0 <= int(body.logprobs) <= 5):
            raise APIError(400, "logprobs must be between 0 and 5", param="logprobs")
        top = None if body.logprobs is None or body.logprobs is False else int(body.logprobs)
        prompts = await asyncio.to_thread(_completion_prompts, engine, body.prompt)
        loop = asyncio.get_running_loop()
        generations = []
        try:
            for _, tokens in prompts:
                max_tokens = limit_tokens(body.max_tokens, engine, len(tokens))
                generations.append(engine.submit(GenerationRequest(tuple(tokens), max_tokens, stop, sampling, top), loop))
        except BaseException:
            for g in generations:
                g.cancel()
            raise
        group = _Group(generations)
        ident, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())
        echoes = [text if body.echo else "" for text, _ in prompts]
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            streams = [responses.completion_chunks(responses.Observed(g, metrics), ident, created, holder.model_id,
                                                   echo, i)
                       for i, (g, echo) in enumerate(zip(generations, echoes, strict=True))]
            return responses.sse(request, group,
                                 responses.merged(streams, ident, created, holder.model_id, include_usage))
        results = await asyncio.gather(*(responses.collect(request, responses.Observed(g, metrics))
                                         for g in generations))
        choices = [{"index": i, "text": echo + text, "logprobs": responses.completion_logprobs(entries, top, len(echo)),
                    "finish_reason": last.finish_reason}
                   for i, ((text, last, entries), echo) in enumerate(zip(results, echoes, strict=True))]
        return {"id": ident, "object": "text_completion", "created": created, "model": holder.model_id,
                "choices": choices, "usage": responses.usage_sum([last for _, last, _ in results])}

    @app.post("/v1/embeddings")
    async def embeddings(request: Request):
        raise APIError(400, f"{holder.model_id} is a generative model and this server does not compute "
                            "embeddings yet", param="model", code="embeddings_not_supported")

    return app


# --- helpers -------------------------------------------------------------------------------------

def _message_dict(message) -> dict[str, Any]:
    out = _message_content(message)
    if message.tool_calls:
        out["tool_calls"] = message.tool_calls
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    if message.name:
        out["name"] = message.name
    return out


def _message_content(message) -> dict[str, Any]:
    content = message.content
    if isinstance(content, list):
        parts = []
        for part in content:
            if part.get("type") == "text":
                parts.append(str(part.get("text", "")))
            else:
                raise APIError(400, f"content parts of type {part.get('type')!r} are not supported yet",
                               param="messages")
        content = "".join(parts)
    role = "system" if message.role == "developer" else message.role
    return {"role": role, "content": content or ""}


def _grammar_for(body: ChatCompletionRequest) -> str | None:
    fmt = body.response_format
    if fmt is None or fmt.type == "text":
        return None
    from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

    if fmt.type == "json_object":
        return JSON_GBNF
    schema = fmt.json_schema.schema_ if fmt.json_schema else None
    if not schema:
        raise APIError(400, "response_format json_schema needs json_schema.schema", param="response_format")
    try:
        return json_schema_to_gbnf(json.dumps(schema))
    except Exception as exc:  # noqa: BLE001 - the converter raises plain exceptions
        raise APIError(400, f"cannot turn this JSON schema into a grammar: {exc}", param="response_format") from None


MAX_PROMPTS = 16


def _completion_prompts(engine: Engine, prompt) -> list[tuple[str, list[int]]]:
    """A string, a token list, or a list of either -> [(text, tokens)], one per prompt."""
    if isinstance(prompt, str):
        return [(prompt, engine.tokenize(prompt))]
    if not prompt:
        raise APIError(400, "the prompt is empty", param="prompt")
    if all(isinstance(t, int) for t in prompt):
        return [(engine.detokenize(list(prompt)), list(prompt))]
    if len(prompt) > MAX_PROMPTS:
        raise APIError(400, f"at most {MAX_PROMPTS} prompts per request", param="prompt")
    return [p for item in prompt for p in _completion_prompts(engine, item)]


class _Group:
    """Several generations cancelled together (a completion request with a list of prompts)."""

    def __init__(self, generations: list[Generation]) -> None:
        self.generations = generations

    def cancel(self) -> None:
        for g in self.generations:
            g.cancel()


