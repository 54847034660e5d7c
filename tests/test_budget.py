"""The one fit check that the picker and the loader share."""

from __future__ import annotations

import pytest

from assistant.budget import compute_budget, ensure_fits, os_reserve
from assistant.errors import ModelDoesNotFitError
from assistant.hardware import load_spec
from assistant.memory import RuntimeConfig, estimate_spec
from tests.conftest import SPECS


def test_too_big_raises_with_the_numbers(catalog):
    budget = compute_budget(load_spec(SPECS / "raspberry-pi-4-2gb.json"), catalog)
    est = estimate_spec(catalog.get("llama-3.1-8b-instruct-q4_k_m"), RuntimeConfig(context_length=8192))
    with pytest.raises(ModelDoesNotFitError) as info:
        ensure_fits("llama-3.1-8b-instruct-q4_k_m", est, budget)
    err = info.value
    assert err.needed_bytes == est.required_bytes and err.budget_bytes == budget.memory_bytes
    assert "8192-token context" in str(err) and "pick-model" in str(err)
    assert err.exit_code == 3 and err.http_status == 507


def test_small_model_passes(catalog):
    budget = compute_budget(load_spec(SPECS / "raspberry-pi-4-2gb.json"), catalog)
    est = estimate_spec(catalog.get("smollm2-135m-instruct-q4_1"), RuntimeConfig(context_length=2048))
    ensure_fits("smollm2-135m-instruct-q4_1", est, budget)


@pytest.mark.parametrize("total, reserve", [(2 * 2**30, 256 * 2**20), (8 * 2**30, int(0.8 * 2**30)), (192 * 2**30, 2 * 2**30)])
def test_os_reserve(total, reserve):
    assert os_reserve(total) == reserve


@pytest.mark.models
def test_loader_preflight_on_the_real_model(catalog, local_models):
    from assistant.budget import ensure_model_fits
    from assistant.hardware import probe

    hw = probe()
    path = local_models["gemma-3-270m-q4_k_m"]
    config = RuntimeConfig(context_length=8192, cpu_features=tuple(hw.cpu.features))
    est = ensure_model_fits(path, config, hw, catalog)
    assert est.context_length == 8192
    with pytest.raises(ModelDoesNotFitError, match="gemma-3-270m-q4_k_m.gguf at a 8192-token context needs"):
        ensure_model_fits(path, config, hw, catalog, memory_limit=200 * 2**20)
    with pytest.raises(ModelDoesNotFitError, match="^gemma-3-270m-q4_k_m at"):
        ensure_model_fits(catalog.get("gemma-3-270m-q4_k_m"), config, hw, catalog, file=path, memory_limit=200 * 2**20)
