"""/v1/audio/transcriptions (Whisper) and /v1/audio/speech (Piper), shaped like OpenAI's.

The speech models load on first use and are shared with the voice loop (``serve --listen``).
Both run in worker threads, at most ``max_queue`` requests waiting, so the event loop and the
chat endpoints stay responsive."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from assistant.errors import QueueFullError
from assistant.speech.stack import SpeechStack
from assistant.speech.stt import TranscribeOptions, Transcript

from .errors import APIError

TRANSCRIPTION_MODELS = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe")
SPEECH_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse",
                 "marin", "cedar")
TRANSCRIPT_FORMATS = ("json", "text", "verbose_json", "srt", "vtt")
SPEECH_FORMATS = {"mp3": "audio/mpeg", "opus": "audio/ogg", "flac": "audio/flac", "wav": "audio/wav",
                  "pcm": "audio/pcm"}  # response_format -> media type
PCM_RATE = 24_000  # OpenAI's raw pcm is 24 kHz 16-bit mono little-endian; so is ours
OPUS_RATES = (8_000, 12_000, 16_000, 24_000, 48_000)
MAX_SPEECH_INPUT = 4096
# Whisper's language codes as OpenAI's verbose_json names them.
LANGUAGE_NAMES = {"en": "english", "de": "german", "fr": "french", "es": "spanish", "it": "italian",
                  "pt": "portuguese", "nl": "dutch", "sv": "swedish", "pl": "polish", "ru": "russian",
                  "uk": "ukrainian", "zh": "chinese", "ja": "japanese", "ko": "korean", "ar": "arabic",
                  "hi": "hindi", "tr": "turkish", "cs": "czech", "da": "danish", "fi": "finnish", "no": "norwegian"}


class SpeechJobs:
    """Bounded admission to the speech models: beyond ``max_waiting`` a request gets 429."""

    def __init__(self, max_waiting: int) -> None:
        self.max_waiting, self.waiting = max_waiting, 0

    async def run(self, fn, *args):
        if self.waiting >= self.max_waiting:
            raise QueueFullError(f"{self.waiting} audio requests are already waiting; retry shortly")
        self.waiting += 1
        try:
            return await asyncio.to_thread(fn, *args)
        finally:
            self.waiting -= 1


def install(app: FastAPI, stack: SpeechStack, max_queue: int) -> None:
    jobs = SpeechJobs(max_queue)

    @app.post("/v1/audio/transcriptions")
    async def transcriptions(request: Request):
        form = await _form(request)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise APIError(400, "send the audio as a file in the multipart field 'file'", param="file")
        model = _text(form, "model") or ""
        fmt = _text(form, "response_format") or "json"
        if fmt not in TRANSCRIPT_FORMATS:
            raise APIError(400, f"response_format must be one of {', '.join(TRANSCRIPT_FORMATS)}",
                           param="response_format")
        granularities = [g for key in ("timestamp_granularities[]", "timestamp_granularities")
                         for g in form.getlist(key)]
        if any(g not in ("segment", "word") for g in granularities):
            raise APIError(400, "timestamp_granularities may hold 'segment' and 'word'", param="timestamp_granularities")
        options = TranscribeOptions(language=_text(form, "language") or None, prompt=_text(form, "prompt") or None,
                                    temperature=_number(form, "temperature", 0.0, 0.0, 1.0), beam_size=5,
                                    timestamps=fmt in ("verbose_json", "srt", "vtt"),
                                    words="word" in granularities and fmt == "verbose_json")
        data = await upload.read()
        transcriber = await jobs.run(stack.transcriber)
        _check_model(model, TRANSCRIPTION_MODELS, transcriber.model_id, "transcription")
        samples = await jobs.run(_decode, data, upload.filename or "file")
        result: Transcript = await jobs.run(transcriber.transcribe, samples, options)
        return _transcript_response(result, fmt)

    @app.post("/v1/audio/speech")
    async def speech(request: Request):
        body = await _json(request)
        text, fmt = body.get("input"), body.get("response_format", "mp3")
        if not isinstance(text, str) or not text.strip():
            raise APIError(400, "input must be non-empty text", param="input")
        if len(text) > MAX_SPEECH_INPUT:
            raise APIError(400, f"input is longer than {MAX_SPEECH_INPUT} characters; split it", param="input")
        if fmt not in SPEECH_FORMATS:
            raise APIError(400, f"response_format {fmt!r} is not supported here; use one of "
                                f"{', '.join(SPEECH_FORMATS)}", param="response_format")
        speed = body.get("speed", 1.0)
        if not isinstance(speed, (int, float)) or isinstance(speed, bool) or not 0.25 <= speed <= 4.0:
            raise APIError(400, "speed must be a number from 0.25 to 4.0", param="speed")
        if body.get("stream_format", "audio") != "audio":
            raise APIError(400, "only stream_format 'audio' is supported", param="stream_format")
        synthesizer = await jobs.run(stack.synthesizer)
        _check_model(body.get("model"), SPEECH_MODELS, synthesizer.voice_id, "speech")
        _check_voice(body.get("voice"), synthesizer.voice_id)
        audio = await jobs.run(_synthesize, synthesizer, text, float(speed), fmt)
        return Response(audio, media_type=SPEECH_FORMATS[fmt])


async def _form(request: Request):
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise APIError(400, "send multipart/form-data with the audio in a 'file' field and a 'model' field")
    try:
        return await request.form()
    except Exception as exc:  # noqa: BLE001 - python-multipart's parse errors
        raise APIError(400, f"the multipart body cannot be parsed: {exc}") from None


async def _json(request: Request) -> dict[str, Any]:
    import json

    try:
        body = json.loads(await request.body())
    except ValueError:
        raise APIError(400, "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise APIError(400, "the request body must be a JSON object")
    for field in ("model", "input", "voice"):
        if field not in body:
            raise APIError(400, f"{field} is required", param=field)
    return body


def _text(form, key: str) -> str | None:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else None


def _number(form, key: str, default: float, low: float, high: float) -> float:
    raw = _text(form, key)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise APIError(400, f"{key} must be a number from {low} to {high}", param=key)
    return value


def _check_model(model: Any, aliases: tuple[str, ...], loaded: str, what: str) -> None:
    if not isinstance(model, str) or not model:
        raise APIError(400, "model is required", param="model")
    if model in aliases or model == loaded or model.startswith(aliases):
        return
    raise APIError(404, f"the {what} model {model!r} does not exist here; use {aliases[0]!r} or {loaded!r}",
                   param="model", code="model_not_found")


def _check_voice(voice: Any, loaded: str) -> None:
    if isinstance(voice, dict):
        voice = voice.get("id")
    if voice in OPENAI_VOICES or voice == loaded:
        return
    raise APIError(400, f"unknown voice {voice!r}; this server speaks with {loaded!r} (the OpenAI voice names "
                        "map to it too)", param="voice")


def _decode(data: bytes, name: str) -> np.ndarray:
    from assistant.speech.audio import decode

    return decode(data, name)


def _synthesize(synthesizer, text: str, speed: float, fmt: str) -> bytes:
    import soxr

    from assistant.speech.audio import encode

    pieces = list(synthesizer.synthesize(text, speed))
    samples = np.concatenate(pieces) if pieces else np.zeros(0, np.int16)
    rate = synthesizer.sample_rate
    if fmt == "pcm" or (fmt == "opus" and rate not in OPUS_RATES):
        samples = soxr.resample(samples, rate, PCM_RATE).astype(np.int16)
        rate = PCM_RATE
    return encode(samples, rate, fmt)


def _transcript_response(t: Transcript, fmt: str):
    if fmt == "text":
        return PlainTextResponse(t.text + "\n")
    if fmt in ("srt", "vtt"):
        return PlainTextResponse(subtitles(t, fmt), media_type="text/vtt" if fmt == "vtt" else "application/x-subrip")
    usage = {"type": "duration", "seconds": max(1, round(t.duration))}
    if fmt == "json":
        return JSONResponse({"text": t.text, "usage": usage})
    doc: dict[str, Any] = {
        "task": "transcribe", "language": LANGUAGE_NAMES.get(t.language, t.language), "duration": t.duration,
        "text": t.text,
        "segments": [{"id": s.id, "seek": 0, "start": s.start, "end": s.end, "text": " " + s.text,
                      "tokens": list(s.tokens), "temperature": s.temperature, "avg_logprob": s.avg_logprob,
                      "compression_ratio": s.compression_ratio, "no_speech_prob": s.no_speech_prob}
                     for s in t.segments],
        "usage": usage}
    if t.words:
        doc["words"] = [{"word": w.word, "start": w.start, "end": w.end} for w in t.words]
    return JSONResponse(doc)


def subtitles(t: Transcript, fmt: str) -> str:
    """SubRip or WebVTT cues, one per segment."""
    def stamp(seconds: float) -> str:
        ms = int(round(seconds * 1000))
        h, ms = divmod(ms, 3_600_000)
        m, ms = divmod(ms, 60_000)
        s, ms = divmod(ms, 1000)
        return f"{h:02d}:{m:02d}:{s:02d}{',' if fmt == 'srt' else '.'}{ms:03d}"

    cues = []
    for i, s in enumerate(t.segments, 1):
        head = f"{i}\n" if fmt == "srt" else ""
        cues.append(f"{head}{stamp(s.start)} --> {stamp(s.end)}\n{s.text}\n")
    return ("WEBVTT\n\n" if fmt == "vtt" else "") + "\n".join(cues)
