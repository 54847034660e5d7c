"""The live path for real: sounddevice records from PulseAudio's virtual microphone while a clip
is played into it in real time, and the replies are spoken to a virtual speaker."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time

import pytest

from tests.server.conftest import ASSISTANT, MODEL, Server

pytestmark = pytest.mark.models


class Live:
    """A running `assistant listen --json` on the virtual microphone."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen([ASSISTANT, "listen", "--json", "--model", MODEL, "--temperature", "0",
                                      "--threads", "2", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        self.events: queue.Queue[dict] = queue.Queue()
        self.seen: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.events.put(json.loads(line))

    def wait_for(self, kind: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None and self.events.empty():
                    break
                continue
            self.seen.append(event)
            if event["event"] == kind:
                return event
        raise AssertionError(f"no {kind!r} event; saw {self.seen}; stderr: {self._stderr()}")

    def _stderr(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


def play(env: dict[str, str], path, device: str = "vmic") -> None:
    subprocess.run(["paplay", f"--device={device}", str(path)], env=env, check=True, timeout=120)


def test_listen_hears_the_microphone_and_speaks(pulse, france, local_models):
    clip, path = france
    live = Live(pulse, "--max-turns", "1")
    try:
        ready = live.wait_for("listening")
        assert ready["input"] == "microphone"
        played_at = time.monotonic()
        play(pulse, path)
        wake = live.wait_for("wake")
        assert wake["word"] == "okay_nabu"
        assert live.wait_for("transcript")["text"] == "What is the capital of France?"
        reply = live.wait_for("reply")
        assert "Paris" in reply["text"] and reply["first_audio_s"] is not None
        assert live.wait_for("spoken")["path"] == "speaker"
        # live: the reply begins soon after the user stops (Whisper starts during the pause)
        assert time.monotonic() - played_at < clip.request_end + 30
        assert live.proc.wait(timeout=60) == 0  # --max-turns 1: exits once the reply is spoken
    finally:
        live.stop()


def long_request(piper, tmp_path, text: str):
    from assistant.speech.clips import wake_and_request

    clip = wake_and_request(piper, text, tail_s=1.0)
    path = tmp_path / f"{abs(hash(text))}.wav"
    clip.to_wav(path)
    return path


def test_barge_in_stops_the_reply(pulse, piper, france, tmp_path, local_models):
    story = long_request(piper, tmp_path, "Tell me a long story about a dragon.")
    live = Live(pulse, "--barge-in", "--max-turns", "2", "--silence", "0.6")
    try:
        live.wait_for("listening")
        play(pulse, story)
        first = live.wait_for("reply", timeout=120)
        assert len(first["text"]) > 150  # many seconds of speech still to play
        play(pulse, france[1])  # "okay nabu" while the assistant is talking
        live.wait_for("barge_in")
        assert live.wait_for("transcript")["text"] == "What is the capital of France?"
        assert "Paris" in live.wait_for("reply")["text"]
    finally:
        live.stop()


def test_without_barge_in_its_own_time_speaking_is_deaf(pulse, piper, france, tmp_path, local_models):
    """The wake word during the assistant's reply is ignored; after the reply it works again."""
    story = long_request(piper, tmp_path, "Tell me a long story about a dragon.")
    live = Live(pulse, "--silence", "0.6")
    try:
        live.wait_for("listening")
        play(pulse, story)
        live.wait_for("reply", timeout=120)
        play(pulse, france[1])
        time.sleep(1.0)
        while not live.events.empty():
            live.seen.append(live.events.get())
        assert [e["event"] for e in live.seen].count("wake") == 1, live.seen
    finally:
        live.stop()


def test_serve_listen_runs_the_api_and_the_voice_on_one_model(pulse, france, local_models):
    server = Server("--listen", "--context", "2048", env={**pulse, "ASSISTANT_TEMPERATURE": "0"})
    try:
        from openai import OpenAI

        client = OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=120)
        play(pulse, france[1])
        answer = client.chat.completions.create(model=MODEL, temperature=0, max_tokens=20, messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the capital of France?"}])
        assert "Paris" in answer.choices[0].message.content
        lines, deadline = [], time.monotonic() + 60
        while time.monotonic() < deadline and not any(line.startswith("assistant:") for line in lines):
            lines.append(server.proc.stdout.readline().strip())
        assert "you: What is the capital of France?" in lines, lines
        assert any(line.startswith("assistant:") and "Paris" in line for line in lines), lines
        assert server.health()["status"] == "ok"
    finally:
        server.stop()
