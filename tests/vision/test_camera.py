"""The camera source: a video file written with OpenCV stands in for /dev/video0 (the same
VideoCapture reads both), and `assistant listen --camera` answers "what do you see?" from it."""

from __future__ import annotations

import json
import subprocess
import time

import numpy as np
import pytest

from assistant.errors import CameraError
from assistant.vision.camera import Camera, wants_to_see
from tests.server.conftest import ASSISTANT, MODEL, Server


@pytest.fixture(scope="module")
def coffee_video(tmp_path_factory, photos):
    """Two seconds of the coffee photo at 10 frames/s, MJPEG in AVI."""
    import cv2

    frame = cv2.cvtColor(np.asarray(photos["coffee"]), cv2.COLOR_RGB2BGR)
    path = tmp_path_factory.mktemp("video") / "coffee.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (frame.shape[1], frame.shape[0]))
    for _ in range(20):
        writer.write(frame)
    writer.release()
    return path


def test_which_requests_look_at_the_camera():
    for text in ("What do you see?", "Who is at the door?", "Can you read this for me?", "How many people are there?",
                 "What colour is my shirt?", "What am I holding?", "Look at this."):
        assert wants_to_see(text), text
    for text in ("What is the capital of France?", "Set a timer for ten minutes.", "Tell me a joke."):
        assert not wants_to_see(text), text


def test_a_video_file_plays_at_its_pace_and_holds_its_last_frame(coffee_video, photos):
    camera = Camera(str(coffee_video))
    try:
        assert camera.fps == 10 and camera.is_file
        image, age = camera.latest()
        assert image.size == photos["coffee"].size and age < 1.0
        # MJPEG is lossy: the frame is the photo to within compression noise
        assert np.abs(np.asarray(image, np.int16) - np.asarray(photos["coffee"], np.int16)).mean() < 6
        time.sleep(0.5)
        assert 2 <= camera.frames < 20 and not camera.ended  # paced, not read as fast as possible
        deadline = time.monotonic() + 5
        while not camera.ended and time.monotonic() < deadline:
            time.sleep(0.1)
        assert camera.ended and camera.frames == 20
        assert camera.latest()[0].size == photos["coffee"].size
    finally:
        camera.close()


def test_camera_errors_say_what_to_do(tmp_path):
    with pytest.raises(CameraError, match="no video file") as info:
        Camera(str(tmp_path / "missing.avi"))
    assert info.value.exit_code == 4
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"not a video")
    with pytest.raises(CameraError, match="OpenCV cannot read it"):
        Camera(str(junk))
    with pytest.raises(CameraError, match="no camera at that number"):
        Camera("63")


@pytest.fixture(scope="module")
def see_then_france(piper, tmp_path_factory):
    """"Okay nabu. What do you see?" then "Okay nabu. What is the capital of France?"."""
    import soundfile

    from assistant.speech.clips import wake_and_request

    wav = tmp_path_factory.mktemp("clips") / "see.wav"
    first = wake_and_request(piper, "What do you see?")
    second = wake_and_request(piper, "What is the capital of France?")
    soundfile.write(wav, np.concatenate([first.samples, second.samples]), 16000)
    return wav


def listen_with_camera(wav, video, *args: str) -> list[dict]:
    run = subprocess.run([ASSISTANT, "listen", "--json", "--temperature", "0", "--threads", "2", "--input", str(wav),
                          "--no-speak", "--camera", str(video), *args], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return [json.loads(line) for line in run.stdout.splitlines()]


@pytest.mark.models
def test_listen_answers_what_it_sees_from_the_camera(see_then_france, coffee_video, local_models, vision_models):
    events = listen_with_camera(see_then_france, coffee_video, "--model", MODEL)
    assert events[0]["camera"] == str(coffee_video)
    kinds = [e["event"] for e in events]
    assert kinds.count("saw") == 1 and kinds.index("saw") == kinds.index("transcript") + 1  # only the first request
    saw = next(e for e in events if e["event"] == "saw")
    assert saw["seen_by"] == "vision stage" and "one cup" in saw["description"] and "espresso" in saw["description"]
    replies = [e["text"].lower() for e in events if e["event"] == "reply"]
    assert any(w in replies[0] for w in ("cup", "espresso", "coffee")) and "paris" in replies[1]


def test_listen_without_a_camera_is_one_line(tmp_path):
    import soundfile

    wav = tmp_path / "quiet.wav"
    soundfile.write(wav, np.zeros(16000, np.int16), 16000)
    run = subprocess.run([ASSISTANT, "listen", "--input", str(wav), "--no-speak", "--camera", "63"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 4 and "no camera at that number" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


@pytest.mark.models
def test_a_model_with_a_projector_gets_the_frame_itself(see_then_france, coffee_video, local_models, tmp_path):
    from tests.runtimes.mmproj import write_mmproj

    mmproj = write_mmproj(tmp_path / "mmproj.gguf")
    events = listen_with_camera(see_then_france, coffee_video, "--model", str(local_models[MODEL]),
                                "--mmproj", str(mmproj))
    saw = [e for e in events if e["event"] == "saw"]
    assert len(saw) == 1 and saw[0]["seen_by"] == "model" and "description" not in saw[0]
    assert len([e for e in events if e["event"] == "reply" and e["text"]]) == 2


@pytest.mark.models
def test_listen_through_a_server_sends_the_frame_there(see_then_france, coffee_video, local_models, vision_models):
    """With --server the listener loads no vision models: the frame goes to the server as an image."""
    server = Server("--context", "2048", "--slots", "2")
    try:
        events = listen_with_camera(see_then_france, coffee_video, "--server", server.url)
    finally:
        server.stop()
    saw = [e for e in events if e["event"] == "saw"]
    assert len(saw) == 1 and saw[0]["seen_by"] == "server"
    replies = [e["text"].lower() for e in events if e["event"] == "reply"]
    assert any(w in replies[0] for w in ("cup", "espresso", "coffee")) and "paris" in replies[1]
