"""The memory estimator: formulas, agreement between GGUF header and catalog, and measured RSS."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from assistant.memory import (RuntimeConfig, architecture_from_header, compute_bytes, estimate_spec,
                              kv_cache_bytes, layout_from_header, repacked_bytes)
from assistant.gguf import read_header

AVX2 = ("avx2", "fma", "f16c")


@pytest.mark.parametrize("model_id", ["llama-3.1-8b-instruct-q4_k_m", "qwen2.5-7b-instruct-q4_k_m",
                                      "phi-3.5-mini-instruct-q4_k_m", "smollm2-135m-instruct-q4_1"])
@pytest.mark.parametrize("context", [2048, 8192, 32768])
def test_full_attention_kv_is_layers_x_kv_heads_x_dims_x_2_bytes_x_context(catalog, model_id, context):
    a = catalog.get(model_id).architecture
    expected = a.layers * a.kv_heads * (a.key_length + a.value_length) * 2 * context
    assert kv_cache_bytes(a, RuntimeConfig(context_length=context)) == expected


def test_llama_8b_kv_at_8k_is_one_gib(catalog):
    a = catalog.get("llama-3.1-8b-instruct-q4_k_m").architecture
    assert kv_cache_bytes(a, RuntimeConfig(context_length=8192)) == 2**30


def test_quantised_kv_cache(catalog):
    a = catalog.get("llama-3.1-8b-instruct-q4_k_m").architecture
    f16 = kv_cache_bytes(a, RuntimeConfig(context_length=8192))
    assert kv_cache_bytes(a, RuntimeConfig(context_length=8192, kv_type="q8_0")) == f16 // 2 * 34 // 32
    assert kv_cache_bytes(a, RuntimeConfig(context_length=8192, kv_type="q4_0")) == f16 // 2 * 18 // 32
    with pytest.raises(ValueError, match="unknown KV cache type"):
        kv_cache_bytes(a, RuntimeConfig(kv_type="q3_x"))


def test_sliding_window_layers_hold_window_plus_ubatch(catalog):
    """Gemma 3 270M: 3 global layers of the full context, 15 windowed layers of
    pad256(512 + 512) = 1024 cells; the figures llama.cpp logs for this model."""
    a = catalog.get("gemma-3-270m-q4_k_m").architecture
    per_cell_layer = a.kv_heads * (a.key_length + a.value_length) * 2
    for context in (2048, 8192, 32768):
        expected = 3 * context * per_cell_layer + 15 * 1024 * per_cell_layer
        assert kv_cache_bytes(a, RuntimeConfig(context_length=context)) == expected
    # swa_full=True (llama-cpp-python's default) gives every layer the whole context.
    assert kv_cache_bytes(a, RuntimeConfig(context_length=8192, swa_full=True)) == 18 * 8192 * per_cell_layer
    # A context under the window is not padded past itself.
    assert kv_cache_bytes(a, RuntimeConfig(context_length=512)) == 18 * 512 * per_cell_layer


def test_context_is_padded_to_256_cells(catalog):
    a = catalog.get("smollm2-135m-instruct-q4_1").architecture
    assert kv_cache_bytes(a, RuntimeConfig(context_length=1000)) == kv_cache_bytes(a, RuntimeConfig(context_length=1024))


def test_flash_attention_avoids_the_score_matrix(catalog):
    a = catalog.get("llama-3.1-8b-instruct-q4_k_m").architecture
    with_fa = compute_bytes(a, RuntimeConfig(context_length=32768))
    without = compute_bytes(a, RuntimeConfig(context_length=32768, flash_attn=False))
    assert without - with_fa == 32768 * 512 * a.heads * 4


@pytest.mark.models
@pytest.mark.parametrize("model_id", ["smollm2-135m-instruct-q4_1", "gemma-3-270m-q4_k_m"])
def test_catalog_numbers_match_the_gguf_header(catalog, local_models, model_id):
    spec = catalog.get(model_id)
    header = read_header(local_models[model_id])
    assert architecture_from_header(header) == spec.architecture
    assert header.file_size == spec.file_size


@pytest.mark.models
def test_repacking_depends_on_the_cpu(local_models):
    """On AVX2 llama.cpp repacks Gemma 270M's 27 Q4_K matrices (12.66 MiB, as its log says);
    SmolLM2's Q4_1 has no repacked layout; a Pi 4 (no dot product) repacks nothing."""
    gemma = layout_from_header(read_header(local_models["gemma-3-270m-q4_k_m"]))
    smol = layout_from_header(read_header(local_models["smollm2-135m-instruct-q4_1"]))
    assert abs(repacked_bytes(gemma, AVX2) / 2**20 - 12.66) < 0.01
    assert repacked_bytes(smol, AVX2) == 0
    assert repacked_bytes(gemma, ("neon", "asimd")) == 0
    assert repacked_bytes(gemma, ("neon", "asimddp")) > repacked_bytes(gemma, AVX2)  # Q6_K too on Arm


def test_offloaded_weights_are_not_repacked(catalog):
    spec = catalog.get("llama-3.2-3b-instruct-q4_k_m")
    cpu = estimate_spec(spec, RuntimeConfig(context_length=4096, cpu_features=AVX2))
    gpu = estimate_spec(spec, RuntimeConfig(context_length=4096, offload="gpu"))
    assert cpu.reclaimable_bytes > 0 and gpu.reclaimable_bytes == 0
    assert cpu.required_bytes == pytest.approx(gpu.required_bytes, rel=0.01)


def test_projector_counts_for_vision(catalog):
    spec = catalog.get("gemma-3-4b-it-q4_k_m")
    est = estimate_spec(spec, RuntimeConfig(context_length=4096))
    assert est.projector_bytes == spec.projector.file_size
    assert est.total_bytes == est.weights_bytes + est.kv_cache_bytes + est.compute_bytes + est.projector_bytes + est.overhead_bytes


PEAK_RSS_CHILD = r"""
import json, random, sys
import llama_cpp
path, n_ctx = sys.argv[1], int(sys.argv[2])
llm = llama_cpp.Llama(path, n_ctx=n_ctx, n_threads=2, flash_attn=True, swa_full=False, verbose=False)
random.seed(0)
llm.eval([random.randrange(100, llm.n_vocab() - 100) for _ in range(n_ctx - 32)])
for i, _ in enumerate(llm.generate([1000], temp=0.0, reset=False)):
    if i >= 4:
        break
print(json.dumps({k: int(v.split()[0]) * 1024 for k, _, v in (l.partition(":") for l in open("/proc/self/status")) if k == "VmHWM"}))
"""


@pytest.mark.models
@pytest.mark.parametrize("model_id", ["smollm2-135m-instruct-q4_1", "gemma-3-270m-q4_k_m"])
def test_estimate_matches_measured_peak_rss(catalog, local_models, model_id):
    """Load the real model through llama-cpp-python at 2048 tokens, fill the context, and compare
    its peak RSS with the prediction (scripts/bench_memory.py does this at 2k/8k/32k)."""
    from assistant.hardware import probe

    path = local_models[model_id]
    out = subprocess.run([sys.executable, "-c", PEAK_RSS_CHILD, str(path), "2048"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    measured = json.loads(out.stdout.strip().splitlines()[-1])["VmHWM"]
    predicted = estimate_spec(catalog.get(model_id),
                              RuntimeConfig(context_length=2048, cpu_features=tuple(probe().cpu.features)), path)
    assert predicted.total_bytes == pytest.approx(measured, rel=0.10)


def test_server_slots_each_get_a_kv_stream(catalog):
    """llama.cpp with n_seq_max slots and kv_unified=False gives each sequence its own stream of
    pad256(context) cells (sliding-window layers: window + ubatch each)."""
    smol = catalog.get("smollm2-135m-instruct-q4_1").architecture
    one = kv_cache_bytes(smol, RuntimeConfig(context_length=2048))
    assert kv_cache_bytes(smol, RuntimeConfig(context_length=2048, n_seq=4)) == 4 * one
    assert kv_cache_bytes(smol, RuntimeConfig(context_length=2048, n_seq=4, kv_unified=True)) == 4 * one
    gemma = catalog.get("gemma-3-270m-q4_k_m").architecture
    per_cell_layer = gemma.kv_heads * (gemma.key_length + gemma.value_length) * 2
    split = kv_cache_bytes(gemma, RuntimeConfig(context_length=8192, n_seq=4))
    assert split == 4 * (3 * 8192 + 15 * 1024) * per_cell_layer
    unified = kv_cache_bytes(gemma, RuntimeConfig(context_length=8192, n_seq=4, kv_unified=True))
    assert unified == (3 * 4 * 8192 + 15 * 2560) * per_cell_layer  # window x 4 seqs + ubatch, padded
