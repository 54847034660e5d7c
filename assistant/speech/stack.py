"""The speech models of one process, each loaded once on first use and shared: the HTTP audio
endpoints and the voice loop of ``serve --listen`` use the same Whisper and the same voice."""

from __future__ import annotations

import threading

from .stt import Transcriber, open_transcriber
from .tts import Synthesizer, open_synthesizer


class SpeechStack:
    def __init__(self, stt_model: str | None = None, voice: str | None = None, *, stt_device: str = "auto",
                 threads: int = 0) -> None:
        self.stt_model, self.voice, self.stt_device, self.threads = stt_model, voice, stt_device, threads
        self._lock = threading.Lock()
        self._transcriber: Transcriber | None = None
        self._synthesizer: Synthesizer | None = None

    def transcriber(self) -> Transcriber:
        with self._lock:
            if self._transcriber is None:
                self._transcriber = open_transcriber(self.stt_model, device=self.stt_device, threads=self.threads)
            return self._transcriber

    def synthesizer(self) -> Synthesizer:
        with self._lock:
            if self._synthesizer is None:
                self._synthesizer = open_synthesizer(self.voice)
            return self._synthesizer
