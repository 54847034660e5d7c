"""Whisper and the voice of a running server, over its OpenAI-compatible audio endpoints, so
``assistant listen --server URL`` loads no model of its own but the tiny wake word and VAD."""

from __future__ import annotations

from typing import Iterator

import numpy as np

from . import SAMPLE_RATE
from .audio import encode
from .brain import check_response, http_client
from .stt import Segment, TranscribeOptions, Transcript

OPENAI_PCM_RATE = 24_000  # OpenAI's ``pcm`` speech format: 24 kHz, 16-bit, mono, little-endian


class HttpTranscriber:
    def __init__(self, base_url: str, api_key: str | None = None, model: str = "whisper-1") -> None:
        self.client = http_client(base_url, api_key)
        self.model_id = model

    def transcribe(self, samples: np.ndarray, options: TranscribeOptions = TranscribeOptions()) -> Transcript:
        data = {"model": self.model_id, "response_format": "verbose_json", "temperature": str(options.temperature)}
        if options.language:
            data["language"] = options.language
        if options.prompt:
            data["prompt"] = options.prompt
        response = self.client.post("/audio/transcriptions", data=data,
                                    files={"file": ("speech.wav", encode(samples, SAMPLE_RATE, "wav"), "audio/wav")})
        check_response(response)
        doc = response.json()
        segments = tuple(Segment(s.get("id", i), s["start"], s["end"], s["text"].strip())
                         for i, s in enumerate(doc.get("segments") or []))
        return Transcript(doc["text"].strip(), doc.get("language", ""), float(doc.get("duration", 0.0)), segments)


class HttpSynthesizer:
    sample_rate = OPENAI_PCM_RATE

    def __init__(self, base_url: str, api_key: str | None = None, voice: str | None = None) -> None:
        self.client = http_client(base_url, api_key)
        self.voice_id = voice or "alloy"

    def synthesize(self, text: str, speed: float = 1.0) -> Iterator[np.ndarray]:
        response = self.client.post("/audio/speech", json={"model": "tts-1", "input": text, "voice": self.voice_id,
                                                           "response_format": "pcm", "speed": speed})
        check_response(response)
        yield np.frombuffer(response.content, "<i2").astype(np.int16)
