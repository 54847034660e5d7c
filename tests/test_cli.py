"""The `assistant` command, run as a user runs it (a subprocess of the installed console script)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SPECS

ASSISTANT = shutil.which("assistant", path=str(Path(sys.executable).parent)) or "assistant"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([ASSISTANT, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "120", **(env or {})})


def test_hw_json_validates(hardware_validator):
    out = run("hw", "--json")
    assert out.returncode == 0, out.stderr
    hardware_validator.validate(json.loads(out.stdout))


def test_hw_table():
    out = run("hw")
    assert out.returncode == 0
    assert "usable cores" in out.stdout and "memory" in out.stdout


def test_pick_model_for_a_jetson_as_in_the_issue(pick_validator):
    out = run("pick-model", "--hardware", str(SPECS / "jetson-orin-nano-8gb-coral.json"), "--context", "8192",
              "--memory-limit", "5GiB", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    pick_validator.validate(doc)
    assert doc["budget"]["memory_bytes"] == 5 * 2**30
    assert doc["pick"]["context_length"] == 8192 and doc["pick"]["device"] == "cuda"
    assert doc["pick"]["estimate"]["total_bytes"] - doc["pick"]["estimate"]["reclaimable_bytes"] <= 5 * 2**30


def test_pick_model_table_on_this_machine():
    out = run("pick-model")
    assert out.returncode == 0, out.stderr
    assert "picked" in out.stdout and "for the LLM" in out.stdout


def test_nothing_fits_exits_non_zero_with_one_line(pick_validator):
    out = run("pick-model", "--hardware", str(SPECS / "raspberry-pi-4-2gb.json"), "--memory-limit", "50MiB", "--json")
    assert out.returncode == 3
    doc = json.loads(out.stdout)
    pick_validator.validate(doc)
    assert doc["pick"] is None
    assert len(out.stderr.strip().splitlines()) == 1 and "fits" in out.stderr


@pytest.mark.parametrize("args, message", [
    (["pick-model", "--memory-limit", "lots"], "cannot read the size"),
    (["pick-model", "--task", "dance"], "unknown task"),
    (["pick-model", "--kv-type", "q3"], "unknown KV cache type"),
    (["pick-model", "--hardware", "/no/such/spec.json"], "does not exist"),
    (["models", "pull", "gpt-5"], "unknown model"),
])
def test_user_errors_are_one_line_and_non_zero(args, message):
    out = run(*args)
    assert out.returncode != 0
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_models_list_json(tmp_path):
    out = run("models", "list", "--json", env={"ASSISTANT_MODELS_DIR": str(tmp_path)})
    assert out.returncode == 0
    rows = json.loads(out.stdout)
    assert {r["id"] for r in rows} >= {"smollm2-135m-instruct-q4_1", "whisper-tiny.en-ct2"}
    installed = {r["id"] for r in rows if r["installed"]}
    # an empty store: only the models that ship inside installed Python packages are there
    assert "smollm2-135m-instruct-q4_1" not in installed and "yolov3-tiny-coco" not in installed
    assert installed <= {"okay-nabu-microwakeword", "silero-vad", "whisper-tiny.en-ct2", "piper-en-us-joe-medium",
                         "pp-ocrv4", "blazeface-full-range"}


@pytest.mark.models
def test_models_verify_rm_and_errors(tmp_path, local_models):
    env = {"ASSISTANT_MODELS_DIR": str(tmp_path)}
    folder = tmp_path / "smollm2-135m-instruct-q4_1"
    folder.mkdir()
    target = folder / "SmolLM2-135M-Instruct.Q4_1.gguf"
    target.write_bytes(local_models["smollm2-135m-instruct-q4_1"].read_bytes())
    ok = run("models", "verify", env=env)
    assert ok.returncode == 0 and "smollm2-135m-instruct-q4_1: ok" in ok.stdout
    with target.open("r+b") as f:
        f.seek(1000)
        f.write(b"xx")
    bad = run("models", "verify", env=env)
    assert bad.returncode != 0 and "sha256 differs" in bad.stdout and "pull --force" in bad.stderr
    assert "no previous version" in run("models", "rollback", "smollm2-135m-instruct-q4_1", env=env).stderr
    gone = run("models", "rm", "smollm2-135m-instruct-q4_1", env=env)
    assert gone.returncode == 0 and not folder.exists()


def test_serve_on_a_busy_port_is_one_line(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        out = run("serve", "--port", str(s.getsockname()[1]), env={"ASSISTANT_MODELS_DIR": str(tmp_path)})
    assert out.returncode != 0
    assert "cannot listen on 127.0.0.1" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_serve_refuses_a_corrupt_model_file(tmp_path, local_models):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(local_models["smollm2-135m-instruct-q4_1"].read_bytes()[:1_000_000])
    out = run("serve", "--model", str(bad), "--port", "0")
    assert out.returncode != 0 and "truncated" in out.stderr and "Traceback" not in out.stderr
