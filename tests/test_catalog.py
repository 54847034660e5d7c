"""The model catalog: required entries, real figures, and malformed entries."""

from __future__ import annotations

import pytest

from assistant.catalog import LLM, load_catalog, parse_model
from assistant.errors import CatalogError

REQUIRED_LLMS = [
    "smollm2-135m-instruct-q4_1", "gemma-3-270m-q4_k_m", "qwen2.5-0.5b-instruct-q4_k_m",
    "llama-3.2-1b-instruct-q4_k_m", "gemma-3-1b-it-q4_k_m", "qwen2.5-1.5b-instruct-q4_k_m",
    "llama-3.2-3b-instruct-q4_k_m", "phi-3.5-mini-instruct-q4_k_m", "gemma-3-4b-it-q4_k_m",
    "qwen2.5-7b-instruct-q4_k_m", "llama-3.1-8b-instruct-q4_k_m", "gemma-3-12b-it-q4_k_m",
    "qwen2.5-32b-instruct-q4_k_m", "llama-3.3-70b-instruct-q4_k_m",
]


def test_required_models_are_present(catalog):
    assert sorted(REQUIRED_LLMS) == sorted(m.id for m in catalog.of_kind(LLM))
    for kind in ("stt", "wake_word", "vad", "tts"):
        assert catalog.default_of(kind) is not None, kind
    assert {m.id for m in catalog.of_kind("stt")} == {"whisper-tiny.en-ct2", "whisper-base.en-ct2", "whisper-small.en-ct2"}


def test_every_llm_is_complete_and_plausible(catalog):
    for m in catalog.of_kind(LLM):
        a = m.architecture
        assert a is not None and m.sources, m.id
        assert a.heads % a.kv_heads == 0, m.id
        assert 4.0 < m.bits_per_weight < 8.5, m.id  # 4-bit quantisations with their 6/8-bit tensors
        assert a.context_length >= 8192, m.id
        assert (m.projector is not None) == ("vision" in m.modalities), m.id


def test_the_local_models_carry_their_sha256_and_a_pypi_source(catalog):
    for model_id in ("smollm2-135m-instruct-q4_1", "gemma-3-270m-q4_k_m"):
        m = catalog.get(model_id)
        assert m.sha256 and len(m.sha256) == 64
        assert m.sources[0].kind in ("pypi", "pypi-parts")
    assert catalog.get("smollm2-135m-instruct-q4_1").chat
    assert not catalog.get("gemma-3-270m-q4_k_m").chat  # base model


def test_sliding_window_pattern_matches_llama_cpp(catalog):
    gemma = catalog.get("gemma-3-4b-it-q4_k_m").architecture
    swa = [gemma.is_swa_layer(i) for i in range(12)]
    assert swa == [True] * 5 + [False] + [True] * 5 + [False]
    assert not any(catalog.get("llama-3.1-8b-instruct-q4_k_m").architecture.is_swa_layer(i) for i in range(32))


def test_unknown_id_lists_the_catalog(catalog):
    with pytest.raises(CatalogError, match="unknown model 'gpt-5'.*smollm2-135m"):
        catalog.get("gpt-5")


def test_malformed_entries(tmp_path):
    with pytest.raises(CatalogError, match="lacks the field 'family'"):
        parse_model({"id": "x", "name": "x", "kind": "llm"})
    (tmp_path / "bad.toml").write_text("id = \n")
    with pytest.raises(CatalogError, match="not valid TOML"):
        load_catalog(tmp_path)
    (tmp_path / "bad.toml").write_text('id="a"\nname="a"\nkind="llm"\nfamily="f"\nparameters=1\nquantization="Q4_0"\n'
                                       'format="gguf"\nlicense="mit"\nfile_size=1\n')
    with pytest.raises(CatalogError, match="needs an \\[architecture\\] table"):
        load_catalog(tmp_path)
