"""The voice state machine: wait for the wake word, record until the user stops speaking,
transcribe, ask the LLM, speak the reply sentence by sentence while it is still being written.

Every frame of audio goes through the wake-word detector, so its clock is the audio's clock and
event times (``t``) are exact for file input. With a microphone the turn (Whisper, LLM, TTS) runs
in a worker thread so listening never stops: while the assistant speaks, the wake word is ignored
(its own voice must not wake it) unless barge-in is on, in which case the wake word stops
playback and starts a new turn. With a file the turn runs in line, and the file's clock waits.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import AssistantError
from . import SAMPLE_RATE
from .audio import AudioSink, AudioSource
from .brain import Brain, Conversation
from .stt import TranscribeOptions, Transcriber
from .tts import SentenceSplitter, Synthesizer
from .vad import EndpointConfig, Endpointer, SileroVad
from .wakeword import WakeWordDetector

Emit = Callable[[dict], None]
SPECULATE_S = 0.25  # live audio: start Whisper after this much silence, before the endpoint is sure
PRE_ROLL_S = 0.3  # audio kept from before the wake word ended, in case the request runs on
ECHO_TAIL_S = 0.5  # the wake word stays deaf this long after playback, for the room's echo


@dataclass(frozen=True)
class LoopSettings:
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)
    transcribe: TranscribeOptions = field(default_factory=TranscribeOptions)
    barge_in: bool = False
    speed: float = 1.0
    max_turns: int | None = None  # stop after this many turns (None: until the audio ends)


class VoiceLoop:
    def __init__(self, source: AudioSource, detector: WakeWordDetector, vad: SileroVad, transcriber: Transcriber,
                 brain: Brain, synthesizer: Synthesizer | None, sink: AudioSink | None, emit: Emit,
                 settings: LoopSettings = LoopSettings(), conversation: Conversation | None = None,
                 spoken_to: str = "speaker") -> None:
        self.source, self.detector, self.vad = source, detector, vad
        self.transcriber, self.brain, self.synthesizer, self.sink = transcriber, brain, synthesizer, sink
        self.emit, self.settings = emit, settings
        self.conversation = conversation or Conversation()
        self.spoken_to = spoken_to
        self.stopped = threading.Event()
        self._turn: threading.Thread | None = None
        self._cancel = threading.Event()
        self._turns = 0
        self._deaf_until = 0.0  # wall clock: end of playback plus the echo tail
        # Live audio: Whisper starts on the words so far once the user pauses; if they go on, the
        # guess is dropped. It saves up to (silence_s - SPECULATE_S) of the reply's latency.
        self._speculation: tuple[float, Future] | None = None
        self._stt_pool = ThreadPoolExecutor(1, thread_name_prefix="stt") if source.realtime else None

    # -- the frame loop -------------------------------------------------------------------
    def run(self) -> None:
        recording: list[np.ndarray] | None = None
        endpointer: Endpointer | None = None
        started = 0.0  # audio time the recording began
        vad_t = 0.0
        history: list[np.ndarray] = []  # the last PRE_ROLL_S of audio, for the recording's start
        for frame in self.source.frames():
            if self.stopped.is_set() or self._done():
                break
            self.detector.suppressed = self._speaking() and not self.settings.barge_in
            detection = self.detector.process(frame)
            history = (history + [frame])[-int(PRE_ROLL_S * 100):]
            if detection is not None and recording is None:
                if self._turn_active() or (self.sink is not None and self.sink.busy()):
                    self._barge_in(detection.t)  # only reached with barge-in on: else the detector is deaf
                self.emit({"event": "wake", "word": detection.word, "t": detection.t,
                           "probability": detection.probability})
                recording, endpointer, started, vad_t = list(history[-10:]), Endpointer(self.settings.endpoint), \
                    detection.t, 0.0
                self.vad.reset()
                continue
            if recording is None:
                continue
            recording.append(frame)
            for prob in self.vad.process(frame):
                vad_t += 512 / SAMPLE_RATE
                assert endpointer is not None
                end = endpointer.update(vad_t, prob)
                if end is not None:
                    self._end_of_speech(recording, started, end.reason, end.t, end.speech_start)
                    recording = None
                    break
                self._maybe_speculate(recording, endpointer, vad_t)
        if recording is not None:  # the audio ended while the user was speaking
            assert endpointer is not None
            if endpointer.speaking:
                self._end_of_speech(recording, started, "end_of_audio", vad_t, 0.0)
            else:
                self.emit({"event": "speech_end", "t": round(started + vad_t, 3), "reason": "no_speech"})
        self.close()

    @staticmethod
    def _utterance(recording: list[np.ndarray], end_t: float) -> np.ndarray:
        """The recording up to 0.2 s after the speech ends (it starts with 0.1 s of pre-roll)."""
        return np.concatenate(recording)[:int((0.1 + end_t + 0.2) * SAMPLE_RATE)]

    def _maybe_speculate(self, recording: list[np.ndarray], endpointer: Endpointer, vad_t: float) -> None:
        last = endpointer.last_speech
        if self._stt_pool is None or last is None or vad_t - last < SPECULATE_S:
            return
        if self._speculation is not None and self._speculation[0] == last:
            return
        audio = self._utterance(recording, last)
        self._speculation = (last, self._stt_pool.submit(self.transcriber.transcribe, audio,
                                                         self.settings.transcribe))

    def _end_of_speech(self, recording: list[np.ndarray], started: float, reason: str, end_t: float,
                       speech_start: float | None) -> None:
        self.emit({"event": "speech_end", "t": round(started + end_t, 3), "reason": reason})
        guess, self._speculation = self._speculation, None
        if reason == "no_speech" or speech_start is None:
            return
        audio = self._utterance(recording, end_t)
        early = guess[1] if guess is not None and guess[0] == end_t else None
        self._turns += 1
        self._cancel = threading.Event()
        decided = time.perf_counter()
        if self.source.realtime:
            self.wait()
            self._turn = threading.Thread(target=self._guarded_turn, args=(audio, decided, self._cancel, early),
                                          name="voice-turn", daemon=True)
            self._turn.start()
        else:
            self._guarded_turn(audio, decided, self._cancel, early)

    def _done(self) -> bool:
        limit = self.settings.max_turns
        return limit is not None and self._turns >= limit and not self._turn_active()

    def _turn_active(self) -> bool:
        return self._turn is not None and self._turn.is_alive()

    def _speaking(self) -> bool:
        busy = self._turn_active() or (self.sink is not None and self.sink.busy())
        if busy:
            self._deaf_until = time.monotonic() + ECHO_TAIL_S
        return busy or time.monotonic() < self._deaf_until

    def _barge_in(self, t: float) -> None:
        self._cancel.set()
        if self.sink is not None:
            self.sink.stop()
        self.emit({"event": "barge_in", "t": t})
        self.wait()

    def wait(self) -> None:
        if self._turn is not None:
            self._turn.join()
            self._turn = None

    def close(self) -> None:
        self.wait()
        if self._stt_pool is not None:
            self._stt_pool.shutdown(wait=True, cancel_futures=True)

    def stop(self) -> None:
        self.stopped.set()
        self._cancel.set()
        if self.sink is not None:
            self.sink.stop()

    # -- one turn: Whisper, the LLM, the voice ------------------------------------------
    def _guarded_turn(self, audio: np.ndarray, decided: float, cancel: threading.Event,
                      early: Future | None = None) -> None:
        try:
            self._turn_body(audio, decided, cancel, early)
        except AssistantError as exc:
            self.emit({"event": "error", "message": str(exc)})
        except Exception as exc:  # noqa: BLE001 - a failed turn must not end the loop
            self.emit({"event": "error", "message": f"{exc.__class__.__name__}: {exc}"})

    def _turn_body(self, audio: np.ndarray, decided: float, cancel: threading.Event, early: Future | None) -> None:
        transcript = early.result() if early is not None else self.transcriber.transcribe(audio, self.settings.transcribe)
        self.emit({"event": "transcript", "text": transcript.text, "latency_s": _since(decided)})
        if not transcript.text.strip() or cancel.is_set():
            return
        splitter, parts = SentenceSplitter(), []
        first_token = first_audio = None
        for delta in self.brain.reply(self.conversation, transcript.text, cancel):
            first_token = first_token or _since(decided)
            parts.append(delta)
            for sentence in splitter.feed(delta):
                if self._say(sentence, cancel) and first_audio is None:
                    first_audio = _since(decided)
        for sentence in splitter.flush():
            if self._say(sentence, cancel) and first_audio is None:
                first_audio = _since(decided)
        reply = "".join(parts).strip()
        self.conversation.add(transcript.text, reply)
        self.emit({"event": "reply", "text": reply, "first_token_s": first_token, "first_audio_s": first_audio,
                   "cancelled": cancel.is_set()})
        if self.synthesizer is not None and self.sink is not None and reply:
            flush = getattr(self.sink, "flush", None)
            if flush is not None:
                flush()
            self.emit({"event": "spoken", "path": self.spoken_to})

    def _say(self, sentence: str, cancel: threading.Event) -> bool:
        """Synthesise and queue one sentence; True when audio went out."""
        if self.synthesizer is None or self.sink is None or cancel.is_set():
            return False
        spoke = False
        for samples in self.synthesizer.synthesize(sentence, self.settings.speed):
            if cancel.is_set():
                return spoke
            self.sink.play(samples, self.synthesizer.sample_rate)
            spoke = True
        return spoke


def _since(start: float) -> float:
    return round(time.perf_counter() - start, 3)
