"""Audio decoding, file sources and sinks, and what happens without a sound card."""

from __future__ import annotations

import io
import os
import subprocess
import time
import wave

import numpy as np
import pytest
import soundfile

from assistant.errors import AudioError
from assistant.speech.audio import FileSource, WavFileSink, decode, encode, frames_of
from tests.server.conftest import ASSISTANT


def tone(rate: int, seconds: float = 0.5, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    mono = (np.sin(2 * np.pi * 440 * t) * 12000).astype(np.int16)
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


@pytest.mark.parametrize("fmt, rate, channels", [("WAV", 16000, 1), ("WAV", 44100, 2), ("FLAC", 22050, 1),
                                                 ("OGG", 48000, 2)])
def test_decode_resamples_to_16k_mono(fmt, rate, channels):
    buf = io.BytesIO()
    soundfile.write(buf, tone(rate, 0.5, channels), rate, format=fmt)
    samples = decode(buf.getvalue())
    assert samples.dtype == np.int16 and samples.ndim == 1
    assert abs(len(samples) - 8000) <= 16
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float32)))
    assert abs(np.argmax(spectrum) * 16000 / len(samples) - 440) < 5


def test_16k_int16_is_read_exactly():
    original = tone(16000)
    assert np.array_equal(decode(encode(original, 16000, "wav")), original)


def test_bad_audio_is_a_clear_error():
    with pytest.raises(AudioError, match="is empty"):
        decode(b"")
    with pytest.raises(AudioError, match="not audio this assistant can decode"):
        decode(b"this is not a sound file at all" * 10)
    with pytest.raises(AudioError, match="holds no samples"):
        decode(encode(np.zeros(0, np.int16), 16000, "wav"))


def test_file_source_frames_and_pacing(tmp_path):
    path = tmp_path / "tone.wav"
    soundfile.write(path, tone(16000, 0.5), 16000)
    frames = list(FileSource(path).frames())
    assert len(frames) == 50 and all(len(f) == 160 for f in frames)
    start = time.monotonic()
    assert len(list(FileSource(path, realtime=True).frames())) == 50
    assert time.monotonic() - start >= 0.45  # as fast as a microphone, no faster
    with pytest.raises(AudioError, match="cannot read"):
        FileSource(tmp_path / "missing.wav")


def test_frames_pad_the_last_partial_frame():
    frames = list(frames_of(np.ones(250, np.int16)))
    assert len(frames) == 2 and frames[1][:90].sum() == 90 and frames[1][90:].sum() == 0


def test_wav_sink_joins_what_it_is_given(tmp_path):
    sink = WavFileSink(tmp_path / "out.wav")
    sink.play(tone(22050, 0.5), 22050)
    sink.play(tone(16000, 0.5), 16000)  # resampled to the first rate
    sink.close()
    with wave.open(str(tmp_path / "out.wav")) as w:
        assert w.getframerate() == 22050 and abs(w.getnframes() - 22050) < 10


def test_no_microphone_is_one_line_and_exit_4(tmp_path):
    """No sound server and no sound card (this machine without PulseAudio): the CLI says so."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE", "XDG_RUNTIME"))}
    env.update(HOME=str(tmp_path), XDG_RUNTIME_DIR=str(tmp_path), PULSE_SERVER=f"unix:{tmp_path}/none")
    run = subprocess.run([ASSISTANT, "listen", "--no-speak"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 4, run.stderr
    assert "no microphone found" in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
