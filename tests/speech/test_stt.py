"""Whisper tiny.en (the embedded default, faster-whisper int8) on real Piper speech."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.errors import AudioError, ModelFileError
from assistant.speech.stt import TranscribeOptions


def words(text: str) -> list[str]:
    return "".join(c for c in text.lower() if c.isalnum() or c.isspace()).split()


def test_transcribes_the_request(france, transcriber):
    clip, _ = france
    request = clip.samples[int(clip.request_start * 16000) - 1600:int(clip.request_end * 16000) + 3200]
    result = transcriber.transcribe(request)
    assert words(result.text) == words("What is the capital of France?")
    assert result.language == "en" and transcriber.device == "cpu" and transcriber.compute_type == "int8"


def test_segments_and_words_have_times(france, transcriber):
    clip, _ = france
    result = transcriber.transcribe(clip.samples, TranscribeOptions(timestamps=True, words=True, beam_size=5))
    assert result.segments and result.segments[-1].end <= result.duration + 0.5
    france_word = [w for w in result.words if "france" in w.word.lower()]
    assert france_word and abs(france_word[0].end - clip.request_end) < 0.6


def test_bad_requests(transcriber):
    with pytest.raises(AudioError, match="no samples"):
        transcriber.transcribe(np.zeros(0, np.int16))
    with pytest.raises(AudioError, match="English only"):
        transcriber.transcribe(np.zeros(16000, np.int16), TranscribeOptions(language="de"))


def test_a_folder_that_is_not_a_whisper_model(tmp_path):
    from assistant.speech.stt import open_transcriber

    with pytest.raises(ModelFileError, match="not a CTranslate2 Whisper model"):
        open_transcriber(str(tmp_path))
