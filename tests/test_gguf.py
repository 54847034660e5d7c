"""The GGUF header reader on the real local models, and on broken files."""

from __future__ import annotations

import pytest

from assistant.errors import ModelFileError
from assistant.gguf import ArrayInfo, read_header, type_bytes


@pytest.mark.models
def test_smollm2_header(local_models):
    h = read_header(local_models["smollm2-135m-instruct-q4_1"])
    assert h.architecture == "llama"
    assert h.arch_value("block_count") == 30
    assert h.arch_value("attention.head_count_kv") == 3
    assert isinstance(h.metadata["tokenizer.ggml.tokens"], ArrayInfo)
    assert h.metadata["tokenizer.ggml.tokens"].length == 49152
    assert h.metadata["tokenizer.ggml.merges"].length == 48900
    assert "chat_template" in h.metadata["tokenizer.chat_template"] or "{%" in h.metadata["tokenizer.chat_template"]
    # The tensor table accounts for the whole file after the aligned header.
    end = max(t.offset + t.n_bytes for t in h.tensors)
    assert h.file_size - 32 < h.data_offset + end <= h.file_size


@pytest.mark.models
def test_gemma_header_skips_the_262k_vocabulary(local_models):
    h = read_header(local_models["gemma-3-270m-q4_k_m"])
    assert h.architecture == "gemma3"
    assert h.metadata["tokenizer.ggml.tokens"].length == 262144
    assert h.arch_value("attention.sliding_window") == 512
    types = {t.type_name for t in h.tensors}
    assert {"Q4_K", "Q8_0", "Q6_K", "Q5_0", "F32"} <= types
    embd = next(t for t in h.tensors if t.name == "token_embd.weight")
    assert embd.shape == (640, 262144) and embd.n_bytes == 262144 * 640 // 32 * 34


def test_type_bytes():
    assert type_bytes("F16", 10) == 20
    assert type_bytes("Q4_K", 256) == 144
    assert type_bytes("Q8_0", 64) == 68
    assert type_bytes("Q4_0", 33) == 36  # whole blocks


def test_not_a_gguf(tmp_path):
    p = tmp_path / "x.gguf"
    p.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(ModelFileError, match="not a GGUF"):
        read_header(p)


def test_missing_and_tiny_files(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        read_header(tmp_path / "none.gguf")
    (tmp_path / "tiny.gguf").write_bytes(b"GGUF")
    with pytest.raises(ModelFileError, match="too small"):
        read_header(tmp_path / "tiny.gguf")


@pytest.mark.models
def test_truncated_files_are_refused(tmp_path, local_models):
    data = local_models["smollm2-135m-instruct-q4_1"].read_bytes()
    header_cut = tmp_path / "header-cut.gguf"
    header_cut.write_bytes(data[:100_000])
    with pytest.raises(ModelFileError, match="truncated"):
        read_header(header_cut)
    tail_cut = tmp_path / "tail-cut.gguf"
    tail_cut.write_bytes(data[:-1000])
    with pytest.raises(ModelFileError, match="truncated"):
        read_header(tail_cut)
