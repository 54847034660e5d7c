"""Real speech for the voice tests: clips spoken by the Piper voice (and espeak-ng), with the
time of every part known, written once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def piper():
    from assistant.speech.tts import open_synthesizer

    return open_synthesizer()


@pytest.fixture(scope="session")
def espeak():
    from assistant.speech.tts import EspeakSynthesizer

    return EspeakSynthesizer()


@pytest.fixture(scope="session")
def france(piper, tmp_path_factory):
    """"Okay nabu. What is the capital of France?" with silence around it, as a WAV file."""
    from assistant.speech.clips import wake_and_request

    clip = wake_and_request(piper, "What is the capital of France?")
    path = tmp_path_factory.mktemp("clips") / "france.wav"
    clip.to_wav(path)
    return clip, path


@pytest.fixture(scope="session")
def chatter(piper, espeak, tmp_path_factory):
    """Wake-free talk: the Piper voice at two speeds and espeak-ng."""
    import numpy as np

    from assistant.speech.clips import Clip, wake_free

    parts = [wake_free(piper), wake_free(piper, speed=1.2), wake_free(espeak)]
    clip = Clip(np.concatenate([p.samples for p in parts]), None, None, None, None)
    path: Path = tmp_path_factory.mktemp("clips") / "chatter.wav"
    clip.to_wav(path)
    return clip, path


@pytest.fixture(scope="session")
def transcriber():
    from assistant.speech.stt import open_transcriber

    return open_transcriber(threads=2)
