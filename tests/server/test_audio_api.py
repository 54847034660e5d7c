"""/v1/audio/transcriptions and /v1/audio/speech with the official openai client, on the real
Whisper and Piper models, validated against OpenAI's published schemas."""

from __future__ import annotations

import io
import json
import subprocess

import httpx
import numpy as np
import openai
import pytest
import soundfile

from tests.server.conftest import ASSISTANT, MODEL
from tests.server.test_api import openai_schema  # noqa: F401 - the schema fixture

pytestmark = pytest.mark.models


def words(text: str) -> list[str]:
    return "".join(c for c in text.lower() if c.isalnum() or c.isspace()).split()


def test_transcription_json(client, server, france, openai_schema):
    _, path = france
    result = client.audio.transcriptions.create(model="whisper-1", file=path.open("rb"))
    assert words(result.text) == words("Okay, Nabu. What is the capital of France?")[-6:] or \
        words(result.text)[-6:] == words("What is the capital of France?")
    raw = httpx.post(f"{server.url}/v1/audio/transcriptions", data={"model": "whisper-1"},
                     files={"file": ("france.wav", path.read_bytes(), "audio/wav")}, timeout=60).json()
    openai_schema("CreateTranscriptionResponseJson", raw)
    assert raw["usage"] == {"type": "duration", "seconds": 5}


def test_transcription_verbose_json_with_words(client, server, france, openai_schema):
    clip, path = france
    result = client.audio.transcriptions.create(model="whisper-1", file=path.open("rb"),
                                                response_format="verbose_json", timestamp_granularities=["word"])
    assert result.language == "english" and abs(result.duration - len(clip.samples) / 16000) < 0.01
    assert result.segments[0].id == 0 and result.segments[-1].end <= result.duration + 0.5
    france_word = [w for w in result.words if "France" in w.word]
    assert france_word and abs(france_word[0].end - clip.request_end) < 0.6
    raw = httpx.post(f"{server.url}/v1/audio/transcriptions",
                     data={"model": "whisper-1", "response_format": "verbose_json"},
                     files={"file": ("france.wav", path.read_bytes())}, timeout=60).json()
    openai_schema("CreateTranscriptionResponseVerboseJson", raw)


# Piper's voice varies a little between runs and Whisper may hear "Okay, Nabu" or "Ok now", so the
# plain text is checked for being words, not JSON, rather than for its first word.
@pytest.mark.parametrize("fmt, start", [("text", ""), ("srt", "1\n00:00:00,000 --> 00:00:0"),
                                        ("vtt", "WEBVTT\n\n00:00:00.000 --> 00:00:0")])
def test_transcription_text_formats(client, france, fmt, start):
    _, path = france
    text = client.audio.transcriptions.create(model="whisper-1", file=path.open("rb"), response_format=fmt)
    assert text.startswith(start) and "capital of France" in text and not text.lstrip().startswith("{")


def test_transcription_of_flac_at_another_rate(client, france):
    import soxr

    clip, _ = france
    buf = io.BytesIO()
    soundfile.write(buf, soxr.resample(clip.samples, 16000, 44100).astype(np.int16), 44100, format="FLAC")
    result = client.audio.transcriptions.create(model="whisper-1", file=("france.flac", buf.getvalue()),
                                                language="en", prompt="A question about geography.")
    assert "capital of France" in result.text


@pytest.mark.parametrize("fmt, container", [("mp3", "MP3"), ("opus", "OGG"), ("flac", "FLAC"), ("wav", "WAV"),
                                            ("pcm", None)])
def test_speech_formats_decode_and_say_the_words(client, fmt, container):
    audio = client.audio.speech.create(model="tts-1", voice="alloy", input="Hello world. How are you today?",
                                       response_format=fmt).content
    if container is None:  # raw 24 kHz 16-bit mono, as OpenAI's pcm
        samples, rate = np.frombuffer(audio, "<i2"), 24000
    else:
        info = soundfile.info(io.BytesIO(audio))
        assert info.format == container and info.channels == 1
        samples, rate = soundfile.read(io.BytesIO(audio), dtype="int16")
    seconds = len(samples) / rate
    assert seconds > 1.0 and seconds < 4.0
    heard = client.audio.transcriptions.create(model="whisper-1", file=(f"speech.{fmt if container else 'wav'}",
                                               audio if container else _wav(samples, rate)))
    assert "hello world" in heard.text.lower()


def _wav(samples, rate) -> bytes:
    buf = io.BytesIO()
    soundfile.write(buf, samples, rate, format="WAV")
    return buf.getvalue()


def test_speech_speed_and_voice_names(client):
    def seconds(speed, voice="alloy"):
        audio = client.audio.speech.create(model="tts-1", voice=voice, input="The quick brown fox jumps.",
                                           response_format="wav", speed=speed).content
        info = soundfile.info(io.BytesIO(audio))
        return info.frames / info.samplerate

    assert seconds(2.0) < 0.7 * seconds(1.0)
    # the OpenAI names are the same Piper voice (its durations vary a little from run to run)
    assert abs(seconds(1.0, "piper-en-us-joe-medium") / seconds(1.0, "nova") - 1) < 0.15


def test_audio_errors_are_openai_shaped(client, server):
    with pytest.raises(openai.BadRequestError, match="not audio this assistant can decode"):
        client.audio.transcriptions.create(model="whisper-1", file=("clip.wav", b"definitely not audio"))
    with pytest.raises(openai.BadRequestError, match="is empty"):
        client.audio.transcriptions.create(model="whisper-1", file=("clip.wav", b""))
    with pytest.raises(openai.NotFoundError, match="does not exist here"):
        client.audio.transcriptions.create(model="whisper-9", file=("clip.wav", _wav(np.zeros(1600, np.int16), 16000)))
    with pytest.raises(openai.BadRequestError, match="response_format"):
        client.audio.speech.create(model="tts-1", voice="alloy", input="hi", response_format="aac")
    with pytest.raises(openai.BadRequestError, match="speed"):
        client.audio.speech.create(model="tts-1", voice="alloy", input="hi", speed=9)
    with pytest.raises(openai.BadRequestError, match="unknown voice"):
        client.audio.speech.create(model="tts-1", voice="darth", input="hi")
    with pytest.raises(openai.BadRequestError, match="non-empty"):
        client.audio.speech.create(model="tts-1", voice="alloy", input="  ")
    cases = [
        (httpx.post(f"{server.url}/v1/audio/transcriptions", json={"model": "whisper-1"}), 400, "multipart"),
        (httpx.post(f"{server.url}/v1/audio/transcriptions", data={"model": "whisper-1"},
                    files={"other": ("x", b"1")}), 400, "'file'"),
        (httpx.post(f"{server.url}/v1/audio/speech", content=b"{nope"), 400, "not valid JSON"),
        (httpx.post(f"{server.url}/v1/audio/speech", json={"model": "tts-1", "voice": "alloy"}), 400, "input"),
    ]
    for response, status, message in cases:
        assert response.status_code == status and message in response.json()["error"]["message"]
    too_big = httpx.post(f"{server.url}/v1/audio/transcriptions", data={"model": "whisper-1"},
                         files={"file": ("big.wav", b"\0" * (26 * 1024 * 1024))}, timeout=60)
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "request_too_large"
    assert server.health()["status"] == "ok"  # and the server is still up


def test_silence_transcribes_to_nothing(client):
    result = client.audio.transcriptions.create(model="whisper-1", file=("quiet.wav",
                                                                         _wav(np.zeros(32000, np.int16), 16000)))
    assert result.text.strip() in ("", "you", "You")  # Whisper's known habit on silence aside, no words


def test_listen_drives_a_running_server(server, france, tmp_path):
    """`assistant listen --server URL` loads no Whisper, LLM or voice: the server's do the work."""
    _, path = france
    reply = tmp_path / "reply.wav"
    run = subprocess.run([ASSISTANT, "listen", "--json", "--server", server.url, "--input", str(path),
                          "--output", str(reply), "--temperature", "0"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert [e["event"] for e in events] == ["listening", "wake", "speech_end", "transcript", "reply", "spoken"]
    assert events[3]["text"] == "What is the capital of France?" and "Paris" in events[4]["text"]
    assert soundfile.info(reply).samplerate == 24000 and soundfile.info(reply).duration > 1.0
    assert MODEL  # the server's model answered: /v1/models named it
