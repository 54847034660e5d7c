"""Voice activity: silero VAD (ONNX, on onnxruntime; no torch) and the endpointer that decides
when the user has finished speaking."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import SAMPLE_RATE

WINDOW = 512  # samples per VAD step at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous window the v5/v6 model expects in front of each window


class SileroVad:
    """Streaming speech probability, one per 32 ms window, for 10 ms frames fed in order."""

    def __init__(self, path: Path) -> None:
        import onnxruntime

        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = opts.intra_op_num_threads = 1
        opts.log_severity_level = 4
        self._session = onnxruntime.InferenceSession(str(path), sess_options=opts,
                                                     providers=["CPUExecutionProvider"])
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(CONTEXT, np.float32)
        self._pending = np.zeros(0, np.float32)

    def process(self, frame: np.ndarray) -> list[float]:
        """The probabilities of the windows this frame completes (zero or one of them)."""
        self._pending = np.concatenate([self._pending, frame.astype(np.float32) / 32768.0])
        probs = []
        while len(self._pending) >= WINDOW:
            window, self._pending = self._pending[:WINDOW], self._pending[WINDOW:]
            x = np.concatenate([self._context, window])[None, :]
            prob, self._h, self._c = self._session.run(None, {"input": x, "h": self._h, "c": self._c})
            self._context = window[-CONTEXT:]
            probs.append(float(np.asarray(prob).reshape(-1)[0]))
        return probs


@dataclass(frozen=True)
class EndpointConfig:
    threshold: float = 0.5  # speech when the probability is at least this
    silence_s: float = 0.7  # this much silence after speech ends the utterance
    max_utterance_s: float = 15.0  # an utterance is cut here
    no_speech_timeout_s: float = 5.0  # give up when nobody speaks this long after the wake word
    min_speech_s: float = 0.1  # shorter blips are not speech


@dataclass(frozen=True)
class Endpoint:
    reason: str  # "silence", "max_length" or "no_speech"
    t: float  # seconds since recording began: where the utterance ends (the start of the silence)
    speech_start: float | None  # seconds since recording began; None when nobody spoke


class Endpointer:
    """Pure state machine over (time, probability) pairs; ``update`` returns an Endpoint once."""

    def __init__(self, config: EndpointConfig = EndpointConfig()) -> None:
        self.config = config
        self._speech_start: float | None = None
        self._run_start: float | None = None  # a run of speech windows not yet long enough to count
        self._last_speech: float | None = None

    @property
    def speaking(self) -> bool:
        return self._speech_start is not None

    @property
    def last_speech(self) -> float | None:
        """End of the last speech window, once speech has begun."""
        return self._last_speech if self._speech_start is not None else None

    def update(self, t: float, prob: float) -> Endpoint | None:
        """``t``: seconds since recording began, at the end of the window ``prob`` is for."""
        c = self.config
        step = WINDOW / SAMPLE_RATE
        if prob >= c.threshold:
            if self._run_start is None:
                self._run_start = t - step
            if self._speech_start is None and t - self._run_start >= c.min_speech_s:
                self._speech_start = self._run_start
            self._last_speech = t
        else:
            self._run_start = None
        if self._speech_start is None:
            if t >= c.no_speech_timeout_s:
                return Endpoint("no_speech", t, None)
            return None
        assert self._last_speech is not None
        if t - self._last_speech >= c.silence_s:
            return Endpoint("silence", self._last_speech, self._speech_start)
        if t - self._speech_start >= c.max_utterance_s:
            return Endpoint("max_length", t, self._speech_start)
        return None
