"""Piper and espeak-ng voices, and the sentence splitter that lets speech start early."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.errors import InvalidInputError, ModelFileError
from assistant.speech.tts import SentenceSplitter, check_speed, open_synthesizer, speakable


def split(deltas, **kw):
    splitter = SentenceSplitter(**kw)
    out = [s for d in deltas for s in splitter.feed(d)]
    return out + splitter.flush()


def test_sentences_come_out_as_soon_as_they_end():
    splitter = SentenceSplitter()
    assert splitter.feed("The capital of France") == []
    assert splitter.feed(" is Paris. It is") == ["The capital of France is Paris."]
    assert splitter.feed(" lovely!") == []  # the "!" may be followed by more: wait for the space
    assert splitter.feed(" Bye") == ["It is lovely!"]
    assert splitter.flush() == ["Bye"]


def test_streamed_token_by_token():
    text = "Mars is cold. Its days are 24.6 hours long; the nights are colder. Really?"
    assert split(list(text)) == ["Mars is cold.", "Its days are 24.6 hours long;", "the nights are colder.",
                                 "Really?"]


def test_a_long_first_sentence_is_let_out_at_a_comma():
    text = "Well, the weather on Mars is very cold and dusty today, with strong winds in the afternoon and no rain."
    first = split([text])[0]
    assert first == "Well, the weather on Mars is very cold and dusty today,"


def test_markdown_is_not_read_aloud():
    assert speakable("**Paris** is the [capital](https://x.org) of `France`.") == "Paris is the capital of France."
    assert split(["- item one.\n", "2. item two\n", "# Title\n"]) == ["item one.", "item two", "Title"]


def test_piper_speaks(piper, transcriber):
    assert piper.voice_id == "piper-en-us-joe-medium" and piper.sample_rate == 22050
    audio = np.concatenate(list(piper.synthesize("Hello world. How are you today?")))
    assert audio.dtype == np.int16 and 1.0 < len(audio) / 22050 < 4.0
    faster = np.concatenate(list(piper.synthesize("Hello world. How are you today?", speed=2.0)))
    assert len(faster) < 0.7 * len(audio)
    from assistant.speech.audio import to_mono_16k

    heard = transcriber.transcribe(to_mono_16k(audio, 22050)).text.lower()
    assert "hello world" in heard and "how are you today" in heard


def test_espeak_is_the_fallback_voice(espeak):
    audio = np.concatenate(list(espeak.synthesize("Hello world.")))
    assert espeak.voice_id == "espeak-ng:en-us" and len(audio) / espeak.sample_rate > 0.4
    assert open_synthesizer("espeak-ng:en-gb").voice_id == "espeak-ng:en-gb"


def test_voice_errors(tmp_path):
    with pytest.raises(InvalidInputError, match="between 0.25 and 4.0"):
        check_speed(5)
    voice = tmp_path / "voice.onnx"
    voice.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="no voice.onnx.json beside it"):
        open_synthesizer(str(voice))
    (tmp_path / "voice.onnx.json").write_text("{}")
    with pytest.raises(ModelFileError, match="cannot load the Piper voice"):
        open_synthesizer(str(voice))
