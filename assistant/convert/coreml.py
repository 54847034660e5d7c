"""GGUF -> Core ML (.mlpackage) for Apple's Neural Engine: a Llama-architecture decoder whose KV
cache lives in Core ML states (``ct.StateType``), converted with ``compute_units=CPU_AND_NE``.

The decoder is written out here (embedding, RMSNorm, rotary attention with grouped KV heads,
SwiGLU) on the checkpoint's weights, rather than traced from transformers, so the graph is the
plain one Core ML maps well and the cache update is an in-place slice write it turns into a state
update (the pattern of Apple's stateful Llama example). ``reference_check`` compares its logits
with transformers' own model before converting.

Inputs: ``input_ids`` [1, n] (n = 1..max_context) and ``causal_mask`` [1, 1, n, end] (end = the
tokens seen so far plus n); the position of the new tokens is ``end - n``. Output: ``logits``.
Conversion runs anywhere coremltools installs; running the model needs macOS.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import MissingDependencyError, ModelFileError
from .checkpoint import gguf_to_checkpoint

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "config.json",
                   "generation_config.json")


@dataclass(frozen=True)
class CoreMLResult:
    path: Path
    max_logit_difference: float  # our decoder vs transformers', on a prompt and one cached step


def check_tools() -> None:
    missing = [m for m in ("coremltools", "torch", "transformers", "gguf") if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingDependencyError(f"the Core ML conversion needs {', '.join(missing)}; install them with "
                                     "pip install 'assistant[convert]' coremltools")


def stateful_llama(model, max_context: int, cache_dtype=None):
    """A torch module computing ``model``'s logits with its KV cache as registered buffers
    (float16, as the Neural Engine keeps it, unless ``cache_dtype`` says otherwise)."""
    import torch
    from torch import nn

    cfg = model.config
    if cfg.model_type not in ("llama", "mistral", "qwen2") or getattr(cfg, "attention_bias", False):
        raise ModelFileError(f"the Core ML conversion handles Llama-style decoders without attention bias, not "
                             f"{cfg.model_type}")
    rope = getattr(cfg, "rope_parameters", None) or {"rope_theta": getattr(cfg, "rope_theta", 10000.0)}
    if rope.get("rope_type", "default") != "default":
        raise ModelFileError(f"rope type {rope['rope_type']!r} is not handled by the Core ML conversion")
    heads, kv_heads = cfg.num_attention_heads, cfg.num_key_value_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    layers = cfg.num_hidden_layers

    class StatefulLlama(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model.eval()
            shape = (layers, 1, kv_heads, max_context, head_dim)
            self.register_buffer("keyCache", torch.zeros(shape, dtype=cache_dtype or torch.float16))
            self.register_buffer("valueCache", torch.zeros(shape, dtype=cache_dtype or torch.float16))
            inv_freq = 1.0 / (rope["rope_theta"] ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
            angles = torch.outer(torch.arange(max_context, dtype=torch.float32), inv_freq)
            self.register_buffer("cos", torch.cat([angles, angles], -1).cos(), persistent=False)
            self.register_buffer("sin", torch.cat([angles, angles], -1).sin(), persistent=False)

        @staticmethod
        def _rms(x, weight, eps):
            return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

        @staticmethod
        def _rotate(x, cos, sin):
            half = head_dim // 2  # a constant: shape arithmetic traces into casts Core ML cannot fold
            return x * cos + torch.cat([-x[..., half:], x[..., :half]], -1) * sin

        def forward(self, input_ids, causal_mask):
            n, end = input_ids.shape[-1], causal_mask.shape[-1]  # traced as shape ops, not constants
            start = end - n
            inner = self.model.model
            h = inner.embed_tokens(input_ids)
            cos, sin = self.cos[start:end].unsqueeze(0), self.sin[start:end].unsqueeze(0)
            for i, layer in enumerate(inner.layers):
                attn, eps = layer.self_attn, layer.input_layernorm.variance_epsilon
                x = self._rms(h, layer.input_layernorm.weight, eps)
                q = attn.q_proj(x).view(1, -1, heads, head_dim).transpose(1, 2)
                k = attn.k_proj(x).view(1, -1, kv_heads, head_dim).transpose(1, 2)
                v = attn.v_proj(x).view(1, -1, kv_heads, head_dim).transpose(1, 2)
                q, k = self._rotate(q, cos, sin), self._rotate(k, cos, sin)
                self.keyCache[i:i + 1, :, :, start:end, :] = k.to(self.keyCache.dtype).unsqueeze(0)
                self.valueCache[i:i + 1, :, :, start:end, :] = v.to(self.valueCache.dtype).unsqueeze(0)
                keys = self.keyCache[i, :, :, :end, :].to(torch.float32)
                values = self.valueCache[i, :, :, :end, :].to(torch.float32)
                # grouped KV heads: each serves heads // kv_heads query heads
                keys = keys.unsqueeze(2).expand(1, kv_heads, heads // kv_heads, -1, head_dim).reshape(
                    1, heads, -1, head_dim)
                values = values.unsqueeze(2).expand(1, kv_heads, heads // kv_heads, -1, head_dim).reshape(
                    1, heads, -1, head_dim)
                scores = q @ keys.transpose(-1, -2) * (head_dim ** -0.5) + causal_mask
                out = (scores.softmax(-1) @ values).transpose(1, 2).reshape(1, -1, heads * head_dim)
                h = h + attn.o_proj(out)
                x = self._rms(h, layer.post_attention_layernorm.weight, layer.post_attention_layernorm.variance_epsilon)
                mlp = layer.mlp
                h = h + mlp.down_proj(torch.nn.functional.silu(mlp.gate_proj(x)) * mlp.up_proj(x))
            h = self._rms(h, inner.norm.weight, inner.norm.variance_epsilon)
            return self.model.lm_head(h)

    return StatefulLlama()


def causal_mask(n: int, end: int):
    """The runtime's mask (runtimes/coreml.py) as a float32 tensor, for tracing and checking."""
    import numpy as np
    import torch

    from ..runtimes.coreml import causal_mask as mask

    return torch.from_numpy(mask(n, end).astype(np.float32))


def reference_check(model, tokenizer, max_context: int = 64) -> float:
    """Largest logit difference between the stateful decoder (with a float32 cache, so only the
    graph is compared) and transformers' model, over a prompt and one cached decode step."""
    import torch

    ids = tokenizer("The capital of France is", return_tensors="pt").input_ids
    ours = stateful_llama(model, max_context, cache_dtype=torch.float32)
    with torch.no_grad():
        full = model(torch.cat([ids, torch.tensor([[1]])], -1)).logits
        prefill = ours(ids, causal_mask(ids.shape[1], ids.shape[1]))
        step = ours(torch.tensor([[1]]), causal_mask(1, ids.shape[1] + 1))
    return float(max((prefill - full[:, :-1]).abs().max(), (step - full[:, -1:]).abs().max()))


def gguf_to_coreml(gguf: Path, out: Path, *, max_context: int = 512, say=print) -> CoreMLResult:
    """Convert a Llama-architecture GGUF to ``out`` (a folder: ``model.mlpackage`` and the tokenizer)."""
    check_tools()
    if not gguf.is_file():
        raise ModelFileError(f"{gguf} does not exist")
    if not 16 <= max_context <= 32768:
        raise ModelFileError("max_context must be between 16 and 32768")
    import warnings

    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with tempfile.TemporaryDirectory(prefix="assistant-coreml-") as tmp:
        checkpoint, partial = Path(tmp) / "hf", Path(tmp) / "out"
        say(f"reading {gguf.name} (dequantising through transformers)...")
        gguf_to_checkpoint(gguf, checkpoint)
        model = AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=torch.float32).eval()
        tokenizer = AutoTokenizer.from_pretrained(str(checkpoint))
        difference = reference_check(model, tokenizer)
        if difference > 1e-3:
            raise ModelFileError(f"the stateful decoder disagrees with transformers by {difference:.3g} in the "
                                 "logits; this architecture is not converted faithfully")
        say(f"the stateful decoder matches transformers (largest logit difference {difference:.2g}); converting...")
        module = stateful_llama(model, max_context)
        example = (torch.zeros((1, 2), dtype=torch.int32), causal_mask(2, 2))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(module, example)
        mlmodel = _convert(traced, module, max_context)
        partial.mkdir()
        mlmodel.save(str(partial / "model.mlpackage"))
        for name in TOKENIZER_FILES:
            if (checkpoint / name).is_file():
                shutil.copy(checkpoint / name, partial / name)
        (partial / "coreml_config.json").write_text(json.dumps({
            "max_context": max_context, "source": gguf.name, "inputs": ["input_ids", "causal_mask"],
            "outputs": ["logits"], "states": ["keyCache", "valueCache"], "compute_units": "CPU_AND_NE",
            "eos_token_id": model.config.eos_token_id, "vocab_size": model.config.vocab_size,
            "dtype": str(np.float16.__name__)}, indent=2))
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(partial), str(out))
    return CoreMLResult(out, difference)


def _convert(traced, module, max_context: int):
    import io
    import logging
    from contextlib import redirect_stderr

    import coremltools as ct
    import numpy as np

    logging.getLogger("coremltools").setLevel(logging.ERROR)
    query = ct.RangeDim(lower_bound=1, upper_bound=max_context, default=1)
    end = ct.RangeDim(lower_bound=1, upper_bound=max_context, default=1)
    with redirect_stderr(io.StringIO()):  # progress bars
        return ct.convert(
            traced, convert_to="mlprogram", minimum_deployment_target=ct.target.macOS15,
            compute_units=ct.ComputeUnit.CPU_AND_NE, compute_precision=ct.precision.FLOAT16,
            inputs=[ct.TensorType(name="input_ids", shape=(1, query), dtype=np.int32),
                    ct.TensorType(name="causal_mask", shape=(1, 1, query, end), dtype=np.float16)],
            outputs=[ct.TensorType(name="logits", dtype=np.float16)],
            states=[ct.StateType(wrapped_type=ct.TensorType(shape=tuple(module.keyCache.shape), dtype=np.float16),
                                 name="keyCache"),
                    ct.StateType(wrapped_type=ct.TensorType(shape=tuple(module.valueCache.shape), dtype=np.float16),
                                 name="valueCache")])
