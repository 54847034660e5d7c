"""`assistant doctor`: this machine for real, and plans for the device specs in tests/data/specs."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import SPECS
from tests.server.conftest import ASSISTANT


def doctor(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ASSISTANT, "doctor", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("spec", sorted(p.name for p in SPECS.glob("*.json")))
def test_plans_validate_against_the_schema(spec, doctor_validator):
    from assistant.doctor import run_doctor

    doc = run_doctor(SPECS / spec).to_document()
    doctor_validator.validate(doc)
    assert doc["planned"] is True and doc["install"][0].startswith("scripts/setup.sh")
    assert set(doc["stages"]) == {"wake_word", "vad", "stt", "llm", "tts", "vision"}


@pytest.mark.models
def test_this_machine(doctor_validator, local_models):
    run = doctor("--json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    doctor_validator.validate(doc)
    stages = doc["stages"]
    assert doc["planned"] is False
    # what really imports here: every default stage runs on this CPU, nothing is left to install
    assert (stages["llm"]["runtime"], stages["llm"]["device"]) == ("llama.cpp", "cpu")
    assert stages["llm"]["model"] == "smollm2-135m-instruct-q4_1"  # the installed chat model that fits
    assert (stages["wake_word"]["runtime"], stages["stt"]["runtime"]) == ("litert", "faster-whisper")
    assert (stages["vad"]["runtime"], stages["tts"]["runtime"]) == ("onnxruntime", "onnxruntime")
    assert (stages["vision"]["runtime"], stages["vision"]["device"]) == ("onnxruntime", "cpu")
    assert stages["vision"]["model"] == "yolov3-tiny-coco"
    assert "efficientnet-lite0 and pp-ocrv4 run there too" in stages["vision"]["reason"]
    assert "blazeface-full-range (faces) runs on litert, cpu" in stages["vision"]["reason"]
    assert doc["install"] == []
    human = doctor()
    assert human.returncode == 0 and "llama.cpp on cpu" in human.stdout


def test_bad_spec_file_is_one_line(tmp_path):
    run = doctor("--hardware", str(tmp_path / "nope.json"))
    assert run.returncode == 2 and "does not exist" in run.stderr and len(run.stderr.strip().splitlines()) == 1
