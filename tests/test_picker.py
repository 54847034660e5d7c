"""The picker on a range of devices described in tests/data/specs, and its invariants."""

from __future__ import annotations

import pytest

from assistant.budget import compute_budget
from assistant.hardware import load_spec
from assistant.memory import RuntimeConfig, estimate_spec
from assistant.picker import Requirements, pick_model
from tests.conftest import SPECS

ALL_SPECS = sorted(SPECS.glob("*.json"))


def plan_for(catalog, name: str, **req):
    return pick_model(load_spec(SPECS / name), catalog, Requirements(**req))


@pytest.mark.parametrize("spec_file", ALL_SPECS, ids=lambda p: p.stem)
@pytest.mark.parametrize("context", [4096, 16384])
def test_never_recommends_what_does_not_fit(catalog, pick_validator, spec_file, context):
    plan = pick_model(load_spec(spec_file), catalog, Requirements(context_length=context))
    pick_validator.validate(plan.to_document())
    for c in plan.candidates:
        if c.fits and c.device != "cpu" and plan.budget.pool == "device" and c.gpu_layers is not None:
            continue  # split across GPU and host: checked in test_partial_offload
        if c.fits:
            assert c.estimate.required_bytes <= plan.budget.memory_bytes, c.model.id
    if plan.pick is not None:
        assert plan.pick.fits and plan.pick.model.chat


@pytest.mark.parametrize("spec_file, expected, device", [
    ("raspberry-pi-4-2gb.json", {"qwen2.5-0.5b-instruct-q4_k_m", "llama-3.2-1b-instruct-q4_k_m"}, "cpu"),
    ("raspberry-pi-5-8gb-coral.json", {"qwen2.5-1.5b-instruct-q4_k_m", "llama-3.2-1b-instruct-q4_k_m"}, "cpu"),
    ("jetson-orin-nano-super-8gb.json", {"llama-3.1-8b-instruct-q4_k_m", "qwen2.5-7b-instruct-q4_k_m"}, "cuda"),
    ("jetson-agx-orin-64gb.json", {"gemma-3-12b-it-q4_k_m"}, "cuda"),
    ("mac-m2-16gb.json", {"gemma-3-12b-it-q4_k_m", "llama-3.1-8b-instruct-q4_k_m"}, "metal"),
    ("mac-studio-m2-ultra-192gb.json", {"llama-3.3-70b-instruct-q4_k_m"}, "metal"),
    ("rtx-4090-desktop-64gb.json", {"qwen2.5-32b-instruct-q4_k_m"}, "cuda"),
    ("dgx-spark-gb10-128gb.json", {"qwen2.5-32b-instruct-q4_k_m"}, "cuda"),
    ("snapdragon-x-elite-16gb.json", {"gemma-3-12b-it-q4_k_m", "llama-3.1-8b-instruct-q4_k_m"}, "cpu"),
    ("plain-cpu-2core-24gb.json", {"qwen2.5-1.5b-instruct-q4_k_m", "llama-3.2-1b-instruct-q4_k_m"}, "cpu"),
])
def test_sensible_picks(catalog, spec_file, expected, device):
    plan = plan_for(catalog, spec_file)
    assert plan.pick is not None
    assert plan.pick.model.id in expected, plan.pick.reason
    assert plan.pick.device == device
    assert plan.pick.reason.startswith("picked")


def test_the_voice_floor_keeps_a_2_core_cpu_off_big_models(catalog):
    plan = plan_for(catalog, "plain-cpu-2core-24gb.json")
    big = next(c for c in plan.candidates if c.model.id == "qwen2.5-32b-instruct-q4_k_m")
    assert big.fits and big.tokens_per_s < 8 and "voice floor" in big.reason
    # Without the floor (a user who does not care about speed) the largest that fits wins.
    relaxed = plan_for(catalog, "plain-cpu-2core-24gb.json", min_tokens_per_s=0.0)
    assert relaxed.pick.model.id == "qwen2.5-32b-instruct-q4_k_m"


def test_memory_limit_caps_the_budget(catalog):
    plan = plan_for(catalog, "jetson-orin-nano-8gb-coral.json", context_length=8192, memory_limit=5 * 2**30)
    assert plan.budget.memory_bytes == 5 * 2**30
    assert plan.pick is not None and plan.pick.estimate.required_bytes <= 5 * 2**30
    assert "--memory-limit" in plan.budget.explanation


def test_nothing_fits_gives_no_pick_with_reasons(catalog):
    plan = plan_for(catalog, "raspberry-pi-4-2gb.json", memory_limit=64 * 2**20)
    assert plan.pick is None
    assert all(not c.fits for c in plan.candidates)
    assert all(c.reason for c in plan.candidates)


def test_context_beyond_training_is_refused(catalog):
    plan = plan_for(catalog, "mac-studio-m2-ultra-192gb.json", context_length=65536)
    smol = next(c for c in plan.candidates if c.model.id == "smollm2-135m-instruct-q4_1")
    assert not smol.fits and "trained context of 8192" in smol.reason
    assert plan.pick.model.id == "llama-3.3-70b-instruct-q4_k_m"


def test_max_context_is_the_largest_that_fits(catalog):
    hw = load_spec(SPECS / "raspberry-pi-5-8gb-coral.json")
    plan = pick_model(hw, catalog, Requirements(max_context=True))
    budget = compute_budget(hw, catalog)
    for c in plan.candidates:
        if not c.fits:
            continue
        arch = c.model.architecture
        config = RuntimeConfig(context_length=c.context_length, cpu_features=tuple(hw.cpu.features))
        assert estimate_spec(c.model, config).required_bytes <= budget.memory_bytes
        if c.context_length < arch.context_length:
            bigger = RuntimeConfig(context_length=c.context_length + 256, cpu_features=tuple(hw.cpu.features))
            assert estimate_spec(c.model, bigger).required_bytes > budget.memory_bytes, c.model.id


def test_vision_task_needs_a_projector_and_counts_it(catalog):
    plan = plan_for(catalog, "mac-m2-16gb.json", task="vision")
    assert plan.pick.model.id in {"gemma-3-12b-it-q4_k_m", "gemma-3-4b-it-q4_k_m"}
    assert plan.pick.estimate.projector_bytes == plan.pick.model.projector.file_size
    no_eyes = next(c for c in plan.candidates if c.model.id == "llama-3.1-8b-instruct-q4_k_m")
    assert not no_eyes.fits and "images" in no_eyes.reason
    chat = plan_for(catalog, "mac-m2-16gb.json")
    gemma = next(c for c in chat.candidates if c.model.id == "gemma-3-12b-it-q4_k_m")
    assert gemma.estimate.projector_bytes == 0  # not loaded for text


def test_completion_task_admits_the_base_model(catalog):
    chat = plan_for(catalog, "raspberry-pi-4-2gb.json")
    base = next(c for c in chat.candidates if c.model.id == "gemma-3-270m-q4_k_m")
    assert not base.fits and "chat template" in base.reason
    completion = plan_for(catalog, "raspberry-pi-4-2gb.json", task="completion")
    assert next(c for c in completion.candidates if c.model.id == "gemma-3-270m-q4_k_m").fits


def test_installed_only(catalog):
    hw = load_spec(SPECS / "plain-cpu-2core-24gb.json")
    files = {"smollm2-135m-instruct-q4_1": SPECS / "not-a-real-file.gguf"}
    plan = pick_model(hw, catalog, Requirements(installed_only=True), files)
    assert plan.pick.model.id == "smollm2-135m-instruct-q4_1" and plan.pick.installed
    assert all(not c.fits for c in plan.candidates if c is not plan.pick)


def test_partial_offload_on_a_discrete_gpu(catalog):
    plan = plan_for(catalog, "rtx-4090-desktop-64gb.json", min_tokens_per_s=0.0)
    big = next(c for c in plan.candidates if c.model.id == "llama-3.3-70b-instruct-q4_k_m")
    assert big.fits and big.device == "cuda"
    assert 0 < big.gpu_layers < big.model.architecture.layers
    assert big.tokens_per_s < plan.pick.tokens_per_s or plan.pick is big


def test_voice_reserve_is_counted(catalog):
    hw = load_spec(SPECS / "raspberry-pi-4-2gb.json")
    with_voice = compute_budget(hw, catalog)
    without = compute_budget(hw, catalog, voice=False)
    speech = sum(catalog.default_of(k).resident_bytes for k in ("stt", "vad", "wake_word", "tts"))
    assert without.memory_bytes - with_voice.memory_bytes == speech


def test_metal_working_set_cap(catalog):
    budget = compute_budget(load_spec(SPECS / "mac-m2-16gb.json"), catalog)
    assert budget.pool == "unified" and budget.device == "metal"
    assert budget.memory_bytes == int(16 * 2**30 * 2 / 3)


def test_discrete_gpu_budget_is_its_own_memory(catalog):
    budget = compute_budget(load_spec(SPECS / "rtx-4090-desktop-64gb.json"), catalog)
    assert budget.pool == "device"
    assert budget.memory_bytes == 24564 * 2**20 - 512 * 2**20
