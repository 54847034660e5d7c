"""A small LLaVA-style vision projector (mmproj GGUF) for SmolLM2-135M, written here with gguf-py:
a 2-layer ViT on 56x56 images (16 patches of 14 px) and the two-layer MLP into the LLM's 576-wide
embedding. Its weights are random, so what the model says about an image is noise; it exists to
run llama.cpp's real multimodal path (mtmd: load, preprocess, encode, decode into a request's KV
stream) end to end, since no projector for a model this small ships on PyPI. Tensor names and keys
follow llama.cpp's tools/mtmd/clip-impl.h."""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_SIDE, PATCH = 56, 14
IMAGE_TOKENS = (IMAGE_SIDE // PATCH) ** 2


def write_mmproj(path: Path, n_embd_text: int = 576, seed: int = 0) -> Path:
    import gguf

    rng = np.random.default_rng(seed)
    d, ff, heads, layers = 64, 128, 4, 2
    w = gguf.GGUFWriter(str(path), arch="clip")
    w.add_bool("clip.has_vision_encoder", True)
    w.add_string("clip.projector_type", "mlp")
    w.add_bool("clip.use_gelu", True)
    for key, value in (("image_size", IMAGE_SIDE), ("patch_size", PATCH), ("embedding_length", d),
                       ("feed_forward_length", ff), ("block_count", layers), ("attention.head_count", heads),
                       ("projection_dim", n_embd_text)):
        w.add_uint32(f"clip.vision.{key}", value)
    w.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-5)
    w.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    w.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])

    def tensor(name: str, *shape: int) -> None:  # numpy order: (out, in); gguf-py reverses for ggml
        w.add_tensor(name, (rng.standard_normal(shape) * 0.02).astype(np.float32))

    tensor("v.patch_embd.weight", d, 3, PATCH, PATCH)
    tensor("v.position_embd.weight", IMAGE_TOKENS, d)
    for i in range(layers):
        for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
            tensor(f"v.blk.{i}.{name}.weight", d, d)
            tensor(f"v.blk.{i}.{name}.bias", d)
        for name in ("ln1", "ln2"):
            w.add_tensor(f"v.blk.{i}.{name}.weight", np.ones(d, np.float32))
            w.add_tensor(f"v.blk.{i}.{name}.bias", np.zeros(d, np.float32))
        tensor(f"v.blk.{i}.ffn_up.weight", ff, d)
        tensor(f"v.blk.{i}.ffn_up.bias", ff)
        tensor(f"v.blk.{i}.ffn_down.weight", d, ff)
        tensor(f"v.blk.{i}.ffn_down.bias", d)
    tensor("mm.0.weight", n_embd_text, d)
    tensor("mm.0.bias", n_embd_text)
    tensor("mm.2.weight", n_embd_text, n_embd_text)
    tensor("mm.2.bias", n_embd_text)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
