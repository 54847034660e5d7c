"""Core ML: the conversion of SmolLM2 runs here for real (coremltools on Linux), its decoder is
checked against transformers, and the package is inspected; running it needs macOS, so here the
engine must refuse in one clear line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from assistant.errors import MissingDependencyError, ModelFileError
from assistant.runtimes.base import SamplingParams
from assistant.runtimes.coreml import CoreMLEngine, causal_mask, sample_token


@pytest.fixture(scope="module")
def converted(local_models, tmp_path_factory):
    from assistant.convert.coreml import gguf_to_coreml

    out = tmp_path_factory.mktemp("coreml") / "smollm2-coreml"
    return gguf_to_coreml(local_models["smollm2-135m-instruct-q4_1"], out, max_context=128, say=lambda _m: None)


@pytest.mark.models
def test_converts_with_the_kv_cache_as_state(converted):
    import coremltools as ct

    assert converted.max_logit_difference < 1e-3  # the written-out decoder is transformers' model
    spec = ct.models.MLModel(str(converted.path / "model.mlpackage"), skip_model_load=True).get_spec()
    assert [i.name for i in spec.description.input] == ["input_ids", "causal_mask"]
    assert [o.name for o in spec.description.output] == ["logits"]
    states = {s.name: list(s.type.stateType.arrayType.shape) for s in spec.description.state}
    assert states == {"keyCache": [30, 1, 3, 128, 64], "valueCache": [30, 1, 3, 128, 64]}
    ids = spec.description.input[0].type.multiArrayType.shapeRange.sizeRanges
    assert (ids[1].lowerBound, ids[1].upperBound) == (1, 128)  # any prompt length up to the context
    config = json.loads((converted.path / "coreml_config.json").read_text())
    assert config["compute_units"] == "CPU_AND_NE" and config["eos_token_id"] == 2
    assert (converted.path / "tokenizer.json").is_file() and (converted.path / "chat_template.jinja").is_file()


@pytest.mark.models
def test_running_it_needs_macos(converted):
    with pytest.raises(MissingDependencyError, match="only on macOS, and this is linux"):
        CoreMLEngine(converted.path)


@pytest.mark.models
def test_serve_refuses_it_here_in_one_line(converted):
    from tests.test_cli import run

    out = run("serve", "--port", "0", "--model", str(converted.path))
    assert out.returncode == 2 and "coreml runs only on darwin" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_folder_errors(tmp_path):
    with pytest.raises(ModelFileError, match="not a Core ML model folder"):
        CoreMLEngine(tmp_path)


def test_masks_and_sampling():
    mask = causal_mask(2, 5)
    assert mask.shape == (1, 1, 2, 5) and mask.dtype == np.float16
    assert (mask[0, 0, 0] == [0, 0, 0, 0, -np.inf]).all() and (mask[0, 0, 1] == 0).all()
    logits = np.array([0.1, 3.0, 2.9, -1.0])
    rng = np.random.default_rng(0)
    assert sample_token(logits, SamplingParams(temperature=0), rng) == 1
    picks = {sample_token(logits, SamplingParams(temperature=1.0, top_k=2, top_p=1.0), rng) for _ in range(200)}
    assert picks == {1, 2}  # top-k 2 keeps the two likeliest, and sampling reaches both
    assert {sample_token(logits, SamplingParams(temperature=1.0, top_k=0, top_p=0.3), rng) for _ in range(50)} == {1}


def test_conversion_input_errors(tmp_path):
    from assistant.convert.coreml import gguf_to_coreml

    with pytest.raises(ModelFileError, match="does not exist"):
        gguf_to_coreml(tmp_path / "missing.gguf", tmp_path / "out")
