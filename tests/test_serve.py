"""`assistant serve`'s model resolution and pre-flight, planned for other devices (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import ModelDoesNotFitError
from assistant.hardware import load_spec
from assistant.serve import ServedModel, preflight
from assistant.settings import ServeSettings
from tests.conftest import SPECS


def served(catalog, model_id: str) -> ServedModel:
    return ServedModel(model_id, Path("/nonexistent") / model_id, catalog.get(model_id))


@pytest.mark.parametrize("spec_file, model_id, expect", [
    ("plain-cpu-2core-24gb.json", "qwen2.5-1.5b-instruct-q4_k_m", 0),
    ("jetson-orin-nano-8gb-coral.json", "llama-3.2-3b-instruct-q4_k_m", -1),
    ("rtx-4090-desktop-64gb.json", "qwen2.5-7b-instruct-q4_k_m", -1),
    ("mac-m2-16gb.json", "gemma-3-4b-it-q4_k_m", -1),
])
def test_gpu_layers(catalog, spec_file, model_id, expect):
    hw = load_spec(SPECS / spec_file)
    assert preflight(served(catalog, model_id), ServeSettings(context=4096), hw, catalog) == expect


def test_a_model_larger_than_the_card_is_split(catalog):
    hw = load_spec(SPECS / "rtx-4090-desktop-64gb.json")
    layers = preflight(served(catalog, "llama-3.3-70b-instruct-q4_k_m"), ServeSettings(context=4096), hw, catalog)
    assert 0 < layers < 80


def test_slots_count_against_the_budget(catalog):
    hw = load_spec(SPECS / "raspberry-pi-4-2gb.json")
    model = served(catalog, "qwen2.5-0.5b-instruct-q4_k_m")
    assert preflight(model, ServeSettings(context=2048, slots=1), hw, catalog) == 0
    with pytest.raises(ModelDoesNotFitError, match="needs"):
        preflight(model, ServeSettings(context=32768, slots=4), hw, catalog)


@pytest.mark.parametrize("spec_file, runtime, device, expect", [
    ("rtx-4090-desktop-64gb.json", None, None, ("llama.cpp", "cuda")),
    ("rtx-4090-desktop-64gb.json", None, "cpu", ("llama.cpp", "cpu")),
    ("mac-m2-16gb.json", "llama.cpp", "gpu", ("llama.cpp", "metal")),
    ("plain-cpu-2core-24gb.json", None, None, ("llama.cpp", "cpu")),
])
def test_the_llm_runtime_comes_from_the_registry(catalog, spec_file, runtime, device, expect):
    from assistant.doctor import recommended
    from assistant.serve import choose_llm_runtime

    hw = load_spec(SPECS / spec_file)
    settings = ServeSettings(runtime=runtime, device=device)
    chosen = choose_llm_runtime(served(catalog, "qwen2.5-1.5b-instruct-q4_k_m"), settings, hw, recommended(hw)[0])
    assert chosen[:2] == expect


@pytest.mark.parametrize("args, message", [
    (("--device", "cuda"), "this device has no cuda"),
    (("--runtime", "coreml"), "coreml runs only on darwin"),
    (("--runtime", "vllm"), "unknown runtime 'vllm'"),
])
def test_overrides_that_cannot_run_are_one_line(args, message, local_models):
    from tests.test_cli import run

    out = run("serve", "--port", "0", "--model", "smollm2-135m-instruct-q4_1", *args)
    assert out.returncode == 2 and message in out.stderr and "assistant doctor" in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
