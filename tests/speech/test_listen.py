"""`assistant listen` end to end on files: wake word, endpoint, Whisper, the LLM, the spoken reply."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import soundfile

from tests.server.conftest import ASSISTANT, MODEL

pytestmark = pytest.mark.models


def listen(*args: str, timeout: int = 300) -> tuple[int, list[dict], str]:
    run = subprocess.run([ASSISTANT, "listen", "--json", "--model", MODEL, "--temperature", "0", "--threads", "2",
                          *args], capture_output=True, text=True, timeout=timeout)
    return run.returncode, [json.loads(line) for line in run.stdout.splitlines()], run.stderr


def test_a_request_from_a_file_is_answered_and_spoken(france, tmp_path, transcriber, local_models):
    clip, path = france
    reply_wav = tmp_path / "reply.wav"
    code, events, stderr = listen("--input", str(path), "--output", str(reply_wav))
    assert code == 0, stderr
    kinds = [e["event"] for e in events]
    assert kinds == ["listening", "wake", "speech_end", "transcript", "reply", "spoken"], events
    by = {e["event"]: e for e in events}
    assert by["listening"]["engine"] == "litert-cpu"
    assert by["wake"]["word"] == "okay_nabu" and abs(by["wake"]["t"] - clip.wake_end) < 0.3
    assert by["speech_end"]["reason"] == "silence" and abs(by["speech_end"]["t"] - clip.request_end) < 0.35
    assert by["transcript"]["text"] == "What is the capital of France?"
    assert "Paris" in by["reply"]["text"]
    assert by["spoken"]["path"] == str(reply_wav)
    # what was spoken is the reply
    samples, rate = soundfile.read(reply_wav, dtype="int16")
    from assistant.speech.audio import to_mono_16k

    assert "paris" in transcriber.transcribe(to_mono_16k(samples, rate)).text.lower()


def test_times_are_on_the_audio_clock_and_repeatable(france, local_models):
    _, path = france
    runs = [listen("--input", str(path), "--no-speak")[1] for _ in range(2)]
    times = [[(e["event"], e.get("t")) for e in events if "t" in e] for events in runs]
    assert times[0] == times[1] and len(times[0]) == 2


def test_wake_free_speech_wakes_nothing(chatter, local_models):
    _, path = chatter
    code, events, stderr = listen("--input", str(path), "--no-speak")
    assert code == 0, stderr
    assert [e["event"] for e in events] == ["listening"]


def test_nobody_speaks_after_the_wake_word(piper, tmp_path, local_models):
    from assistant.speech.clips import silence, speech

    path = tmp_path / "wake_only.wav"
    soundfile.write(path, np.concatenate([silence(0.3), speech(piper, "Okay nabu."), silence(4.0)]), 16000)
    code, events, _ = listen("--input", str(path), "--no-speak", "--no-speech-timeout", "2")
    assert code == 0
    assert [e["event"] for e in events] == ["listening", "wake", "speech_end"]
    assert events[-1]["reason"] == "no_speech"


def test_two_requests_keep_the_conversation(piper, tmp_path, local_models):
    from assistant.speech.clips import wake_and_request

    first = wake_and_request(piper, "What is the capital of France?")
    second = wake_and_request(piper, "What is the capital of Germany?")
    path = tmp_path / "two.wav"
    soundfile.write(path, np.concatenate([first.samples, second.samples]), 16000)
    code, events, stderr = listen("--input", str(path), "--no-speak")
    assert code == 0, stderr
    transcripts = [e["text"] for e in events if e["event"] == "transcript"]
    assert transcripts == ["What is the capital of France?", "What is the capital of Germany?"]
    wakes = [e["t"] for e in events if e["event"] == "wake"]
    assert abs(wakes[1] - (len(first.samples) / 16000 + second.wake_end)) < 0.3
    assert len([e for e in events if e["event"] == "reply"]) == 2


def test_stdin_input_and_max_turns(france, local_models):
    _, path = france
    run = subprocess.run([ASSISTANT, "listen", "--json", "--model", MODEL, "--input", "-", "--no-speak",
                          "--max-turns", "1", "--temperature", "0"], input=path.read_bytes(), capture_output=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert b'"event": "reply"' in run.stdout


def test_user_errors_are_one_line(tmp_path, france, local_models):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....not really")
    good = str(france[1])
    for args, message in [(("--input", str(bad)), "not audio this assistant can decode"),
                          (("--input", str(tmp_path / "missing.wav")), "cannot read"),
                          (("--wake-word", "hey_computer", "--input", good), "unknown wake word 'hey_computer'"),
                          (("--speed", "9", "--input", good), "between 0.25 and 4.0"),
                          (("--voice", str(tmp_path / "none.onnx"), "--speak", "--input", good), "does not exist"),
                          (("--server", "http://127.0.0.1:9", "--input", good), "cannot reach the server")]:
        run = subprocess.run([ASSISTANT, "listen", "--no-speak", *args], capture_output=True, text=True, timeout=120)
        assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr
        assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
