"""Audio in and out behind one small interface each.

Sources yield 10 ms frames of 16 kHz mono int16 (what the wake word, the VAD and Whisper take);
a frame's time is its position on the audio's own clock, so file input gives exact times.
Sinks take int16 mono at the voice's rate. The microphone and the speaker go through
sounddevice (PortAudio); files through soundfile (WAV, FLAC, OGG) and soxr for resampling.
"""

from __future__ import annotations

import io
import queue
import sys
import threading
import wave
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np

from ..errors import AudioDeviceError, AudioError, MissingDependencyError
from . import FRAME_SAMPLES, SAMPLE_RATE


class AudioSource(Protocol):
    realtime: bool  # True: frames arrive at the speed of sound (a microphone); False: as fast as read

    def frames(self) -> Iterator[np.ndarray]: ...

    def close(self) -> None: ...


class AudioSink(Protocol):
    def play(self, samples: np.ndarray, sample_rate: int) -> None: ...

    def stop(self) -> None: ...

    def busy(self) -> bool: ...

    def close(self) -> None: ...


def to_mono_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """Any shape and rate of decoded audio to 16 kHz mono int16."""
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    if samples.dtype != np.float32:
        samples = samples.astype(np.float32) / (32768.0 if np.issubdtype(samples.dtype, np.integer) else 1.0)
    if rate != SAMPLE_RATE:
        import soxr

        samples = soxr.resample(samples, rate, SAMPLE_RATE)
    # x 32768, so int16 -> float -> int16 is exact
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)


def decode(data: bytes, name: str = "audio") -> np.ndarray:
    """Encoded audio (WAV, FLAC, OGG; MP3 where libsndfile has it) to 16 kHz mono int16."""
    import soundfile

    if not data:
        raise AudioError(f"{name} is empty; send a WAV, FLAC or OGG file with speech in it")
    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=False)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
        detail = getattr(exc, "error_string", None) or str(exc)
        raise AudioError(f"{name} is not audio this assistant can decode ({detail}); send WAV, FLAC or OGG") \
            from None
    if samples.size == 0:
        raise AudioError(f"{name} holds no samples; send a recording with speech in it")
    return to_mono_16k(samples, rate)


# Encodable formats: libsndfile's container and subtype for each.
ENCODINGS = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"), "mp3": ("MP3", "MPEG_LAYER_III"),
             "opus": ("OGG", "OPUS")}


def encode(samples: np.ndarray, rate: int, fmt: str) -> bytes:
    """int16 mono samples to ``wav``, ``flac``, ``mp3``, ``opus`` or raw little-endian ``pcm``."""
    if fmt == "pcm":
        return samples.astype("<i2").tobytes()
    import soundfile

    container, subtype = ENCODINGS[fmt]
    out = io.BytesIO()
    soundfile.write(out, samples, rate, format=container, subtype=subtype)
    return out.getvalue()


def frames_of(samples: np.ndarray) -> Iterator[np.ndarray]:
    """Whole 10 ms frames; a partial last frame is padded with silence."""
    for start in range(0, len(samples), FRAME_SAMPLES):
        frame = samples[start:start + FRAME_SAMPLES]
        if len(frame) < FRAME_SAMPLES:
            frame = np.concatenate([frame, np.zeros(FRAME_SAMPLES - len(frame), np.int16)])
        yield frame


class FileSource:
    """A recording (path, or ``-`` for standard input), decoded and resampled up front. With
    ``realtime`` its frames come at the speed of sound, as from a microphone (for benchmarks and
    for testing the live path without a sound card)."""

    def __init__(self, path: str | Path, realtime: bool = False) -> None:
        self.realtime = realtime
        name = str(path)
        if name == "-":
            data = sys.stdin.buffer.read()
        else:
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                raise AudioError(f"cannot read {path}: {exc.strerror}") from None
        self.samples = decode(data, name if name != "-" else "standard input")

    def frames(self) -> Iterator[np.ndarray]:
        if not self.realtime:
            yield from frames_of(self.samples)
            return
        import time

        start = time.monotonic()
        for i, frame in enumerate(frames_of(self.samples)):
            delay = start + (i + 1) * FRAME_SAMPLES / SAMPLE_RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            yield frame

    def close(self) -> None:
        pass


def _sounddevice():
    try:
        import sounddevice
    except ImportError:
        raise MissingDependencyError("the microphone and speaker need the Python package 'sounddevice'; "
                                     "install it with pip install 'assistant[speech]'") from None
    except OSError:
        raise AudioDeviceError("the PortAudio library is missing, so there is no microphone or speaker; install "
                               "it (Debian/Ubuntu: apt install libportaudio2) or use --input FILE") from None
    return sounddevice


def input_devices() -> list[tuple[int, str]]:
    sd = _sounddevice()
    return [(i, d["name"]) for i, d in enumerate(sd.query_devices()) if d["max_input_channels"] > 0]


def output_devices() -> list[tuple[int, str]]:
    sd = _sounddevice()
    return [(i, d["name"]) for i, d in enumerate(sd.query_devices()) if d["max_output_channels"] > 0]


def _pick_device(device: int | str | None, inputs: bool) -> int | str | None:
    found = input_devices() if inputs else output_devices()
    what = "microphone" if inputs else "speaker"
    if not found:
        hint = "plug one in, or use --input FILE" if inputs else "use --no-speak or --output FILE"
        raise AudioDeviceError(f"no {what} found; {hint}")
    if device is None:
        return None
    if isinstance(device, str) and device.isdigit():
        device = int(device)
    ids = [i for i, _ in found]
    if isinstance(device, int) and device not in ids:
        listing = ", ".join(f"{i}: {n}" for i, n in found)
        raise AudioDeviceError(f"there is no {what} number {device}; the {what}s are: {listing}")
    return device


class MicrophoneSource:
    """The microphone through PortAudio. Opened at 16 kHz when the device allows it, else at its
    own rate and resampled as the audio arrives. The queue is bounded: if the consumer stalls for
    longer than ``max_backlog_s`` the oldest audio is dropped rather than memory growing."""

    realtime = True

    def __init__(self, device: int | str | None = None, max_backlog_s: float = 30.0) -> None:
        sd = _sounddevice()
        device = _pick_device(device, inputs=True)
        self._queue: queue.Queue[np.ndarray] = queue.Queue(maxsize=int(max_backlog_s * 100))
        self._pending = np.zeros(0, np.int16)
        self._closed = threading.Event()
        try:
            sd.check_input_settings(device=device, samplerate=SAMPLE_RATE, channels=1, dtype="int16")
            rate = SAMPLE_RATE
        except Exception:
            rate = int(sd.query_devices(device, "input")["default_samplerate"])
        self._resampler = None
        if rate != SAMPLE_RATE:
            import soxr

            self._resampler = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="int16")
        try:
            self._stream = sd.InputStream(device=device, samplerate=rate, channels=1, dtype="int16",
                                          blocksize=rate // 100, callback=self._on_audio)
            self._stream.start()
        except sd.PortAudioError as exc:
            raise AudioDeviceError(f"cannot open the microphone ({exc}); check --input-device or use --input FILE") \
                from None

    def _on_audio(self, indata, _frames, _time, _status) -> None:  # PortAudio's thread
        block = indata[:, 0].copy()
        if self._resampler is not None:
            block = self._resampler.resample_chunk(block)
        try:
            self._queue.put_nowait(block)
        except queue.Full:
            self._queue.get_nowait()
            self._queue.put_nowait(block)

    def frames(self) -> Iterator[np.ndarray]:
        while not self._closed.is_set():
            try:
                block = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self._pending = np.concatenate([self._pending, block])
            while len(self._pending) >= FRAME_SAMPLES:
                yield self._pending[:FRAME_SAMPLES]
                self._pending = self._pending[FRAME_SAMPLES:]

    def close(self) -> None:
        self._closed.set()
        self._stream.stop()
        self._stream.close()


class SpeakerSink:
    """The speaker through PortAudio. ``play`` queues audio and returns at once, so sentences are
    spoken while later ones are still being synthesised; ``stop`` drops what is queued (barge-in)."""

    def __init__(self, device: int | str | None = None) -> None:
        self._sd = _sounddevice()
        self._device = _pick_device(device, inputs=False)
        self._lock = threading.Lock()
        self._buffer = np.zeros(0, np.int16)
        self._stream = None
        self._rate = 0

    def _open(self, rate: int) -> None:
        if self._stream is not None and self._rate == rate:
            return
        self.close()
        try:
            self._stream = self._sd.OutputStream(device=self._device, samplerate=rate, channels=1, dtype="int16",
                                                 callback=self._fill)
            self._stream.start()
        except self._sd.PortAudioError as exc:
            raise AudioDeviceError(f"cannot open the speaker ({exc}); check --output-device or use --no-speak") \
                from None
        self._rate = rate

    def _fill(self, outdata, frames, _time, _status) -> None:  # PortAudio's thread
        with self._lock:
            take = self._buffer[:frames]
            self._buffer = self._buffer[frames:]
        outdata[:len(take), 0] = take
        outdata[len(take):, 0] = 0

    def play(self, samples: np.ndarray, sample_rate: int) -> None:
        self._open(sample_rate)
        with self._lock:
            self._buffer = np.concatenate([self._buffer, samples.astype(np.int16)])

    def stop(self) -> None:
        with self._lock:
            self._buffer = np.zeros(0, np.int16)

    def busy(self) -> bool:
        with self._lock:
            return len(self._buffer) > 0

    def close(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None


class WavFileSink:
    """Everything played, joined into one WAV file written on ``close`` (and on every ``flush``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._chunks: list[np.ndarray] = []
        self._rate: int | None = None

    def play(self, samples: np.ndarray, sample_rate: int) -> None:
        if self._rate not in (None, sample_rate):
            import soxr

            samples = soxr.resample(samples, sample_rate, self._rate).astype(np.int16)
        self._rate = self._rate or sample_rate
        self._chunks.append(samples.astype(np.int16))

    def stop(self) -> None:
        pass

    def busy(self) -> bool:
        return False

    def flush(self) -> None:
        if self._rate is None:
            return
        with wave.open(str(self.path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(self._rate)
            out.writeframes(np.concatenate(self._chunks).astype("<i2").tobytes())

    def close(self) -> None:
        self.flush()
