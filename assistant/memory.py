"""Memory estimate: the peak resident memory of serving one request with llama.cpp.

It follows how llama.cpp (as vendored by llama-cpp-python 0.3.36) allocates, so each part can be
checked against its logs and against measured RSS (``scripts/bench_memory.py``):

* **weights**: tensor bytes from the GGUF tensor table (block sizes per ggml type), or the catalog
  file size. With mmap, weights are file-backed pages that count in RSS once touched; every
  tensor is touched per token except an untied ``token_embd`` (only the rows of the tokens seen).
* **CPU repack**: on AVX2 / Arm dot-product CPUs llama.cpp copies some types (Q4_0, Q4_K, ...)
  into an interleaved layout in anonymous memory; the file pages it read stay mapped too, so RSS
  counts those tensors twice. The second copy is *reclaimable* (clean, never read again).
* **KV cache**: per layer, ``cells x kv_heads x (key_length + value_length) x bytes``, where
  sliding-window layers (``swa_full=False``) hold ``pad256(min(ctx, window + n_ubatch))`` cells
  and full layers ``pad256(ctx)``. The buffer is zeroed at creation, so it is all resident.
* **compute**: the graph buffer llama.cpp reserves is sized for ``n_ubatch`` output rows of
  logits, but with one output per sequence only the activations of one micro-batch, the KQ mask
  (context x ubatch) and one logits row are touched.
* **overhead**: the Python process with the binding loaded, plus llama.cpp's vocabulary tables.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from .catalog import Architecture, ModelSpec
from .gguf import GGUFHeader, read_header, type_bytes

MiB = 1024 * 1024

# Measured on this project's reference machine (scripts/bench_memory.py): a Python process with
# llama_cpp imported, before any model is loaded.
PROCESS_BASE_BYTES = 40 * MiB
# llama.cpp's vocabulary (token strings, lookup maps, BPE merge ranks) per token or merge, and a
# fixed part for the context and sampler; fitted to the two local models.
VOCAB_BYTES_PER_ENTRY = 166
CONTEXT_FIXED_BYTES = int(5.5 * MiB)
# Transient allocations of one request outside ggml (tokenised prompt, sampler arrays, Python).
REQUEST_FIXED_BYTES = 4 * MiB

KV_TYPES = {"f16": "F16", "f32": "F32", "bf16": "BF16", "q8_0": "Q8_0", "q4_0": "Q4_0", "q4_1": "Q4_1",
            "q5_0": "Q5_0", "q5_1": "Q5_1", "iq4_nl": "IQ4_NL"}


@dataclass(frozen=True)
class RuntimeConfig:
    """How the model will be run; the defaults are what the assistant's llama.cpp runtime uses."""

    context_length: int = 4096  # per sequence
    n_ubatch: int = 512
    n_seq: int = 1  # sequences decoded together (server slots)
    kv_unified: bool = False  # one KV pool shared by all sequences, or a stream each (llama.cpp's default)
    kv_type: str = "f16"
    flash_attn: bool = True
    swa_full: bool = False
    offload: str = "cpu"  # cpu | gpu (weights, KV and compute on a CUDA/Metal device)
    cpu_features: tuple[str, ...] = ()  # decides which weights llama.cpp repacks on the CPU
    use_mmap: bool = True
    extra_overhead_bytes: int = 0  # what the host process adds (e.g. the HTTP server stack)


@dataclass(frozen=True)
class MemoryEstimate:
    weights_bytes: int  # weight bytes resident (mapped pages touched + repacked copies)
    kv_cache_bytes: int
    compute_bytes: int
    projector_bytes: int
    overhead_bytes: int
    total_bytes: int  # predicted peak RSS of the process (or device use when offloaded)
    reclaimable_bytes: int  # part of total the kernel can drop without slowing inference
    context_length: int

    @property
    def required_bytes(self) -> int:
        """What must really be free: the peak minus clean pages that are never read again."""
        return self.total_bytes - self.reclaimable_bytes

    def to_document(self) -> dict[str, int]:
        doc = asdict(self)
        doc.pop("context_length")
        return doc


@dataclass(frozen=True)
class WeightsLayout:
    """What the estimator needs to know about a model's tensors."""

    total_bytes: int  # all tensor bytes
    untouched_bytes: int  # an untied token_embd: mapped but only a few rows are read
    repackable: tuple[tuple[str, int, int], ...]  # (ggml type, rows, bytes) of matmul weights


def layout_from_header(header: GGUFHeader) -> WeightsLayout:
    names = {t.name for t in header.tensors}
    tied = "output.weight" not in names
    untouched = 0
    repackable = []
    for t in header.tensors:
        if t.name == "token_embd.weight":
            if not tied:
                untouched = t.n_bytes
            continue
        if len(t.shape) == 2 and t.name.endswith(".weight") and t.name != "output.weight":
            repackable.append((t.type_name, t.shape[1], t.n_bytes))
    return WeightsLayout(header.tensor_bytes(), untouched, tuple(repackable))


# Bits per weight of each tensor class in a llama.cpp Q4_K_M file, used when only the catalog
# numbers are known: most matrices Q4_K, half of attn_v/ffn_down Q6_K, embeddings Q4_K/Q6_K.
_CATALOG_SHARES = {"Q4_K_M": (("Q4_K", 0.72), ("Q6_K", 0.28)), "Q4_0": (("Q4_0", 1.0),)}


def layout_from_catalog(spec: ModelSpec) -> WeightsLayout:
    arch = spec.architecture
    assert arch is not None
    total = spec.file_size
    embd_params = arch.vocab * arch.embedding
    bytes_per_param = total / spec.parameters if spec.parameters else 0.5
    untouched = 0 if arch.tied_embeddings else int(embd_params * bytes_per_param)
    matmul_bytes = total - int(embd_params * bytes_per_param)
    rows = arch.feed_forward  # all catalog models have row counts that are multiples of 8
    repackable = tuple((ggml_type, rows, int(matmul_bytes * share))
                       for ggml_type, share in _CATALOG_SHARES.get(spec.quantization, ()))
    return WeightsLayout(total, untouched, repackable)


def repacked_bytes(layout: WeightsLayout, cpu_features: tuple[str, ...]) -> int:
    """Bytes llama.cpp's CPU backend copies into repacked buffers (ggml-cpu/repack.cpp:
    ggml_repack_get_optimal_repack_type)."""
    features = set(cpu_features)
    avx2 = "avx2" in features
    avx512 = "avx512f" in features
    arm_dot = bool({"asimddp", "dotprod", "i8mm"} & features)
    total = 0
    for ggml_type, rows, n_bytes in layout.repackable:
        if avx2 and ggml_type in ("Q4_0", "Q4_K", "IQ4_NL", "MXFP4") and rows % 8 == 0:
            total += n_bytes
        elif avx512 and ggml_type == "Q2_K" and rows % 8 == 0:
            total += n_bytes
        elif arm_dot and ggml_type in ("Q4_0", "IQ4_NL", "MXFP4", "Q8_0") and rows % 4 == 0:
            total += n_bytes
        elif arm_dot and ggml_type in ("Q4_K", "Q5_K", "Q6_K") and rows % 8 == 0:
            total += n_bytes
    return total


def _pad(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def kv_streams(config: RuntimeConfig) -> int:
    return 1 if config.kv_unified else config.n_seq


def kv_cells(arch: Architecture, layer: int, config: RuntimeConfig) -> int:
    """KV cells per stream llama.cpp allocates for one layer (llama-context.cpp pads n_ctx and the
    per-sequence n_ctx_seq to 256; llama-kv-cache-iswa.cpp sizes the sliding-window cache)."""
    n_ctx_seq = _pad(config.context_length * (config.n_seq if config.kv_unified else 1), 256)
    if arch.is_swa_layer(layer) and not config.swa_full:
        window = arch.sliding_window * (config.n_seq if config.kv_unified else 1)
        return _pad(min(n_ctx_seq, window + config.n_ubatch), 256)
    return n_ctx_seq


def kv_cache_bytes(arch: Architecture, config: RuntimeConfig) -> int:
    kv_type = KV_TYPES.get(config.kv_type.lower())
    if kv_type is None:
        raise ValueError(f"unknown KV cache type {config.kv_type!r}; use one of {', '.join(KV_TYPES)}")
    total = 0
    for layer in range(arch.layers):
        cells = kv_cells(arch, layer, config)
        total += type_bytes(kv_type, cells * arch.kv_heads * arch.key_length)
        total += type_bytes(kv_type, cells * arch.kv_heads * arch.value_length)
    return total * kv_streams(config)


def compute_bytes(arch: Architecture, config: RuntimeConfig) -> int:
    """Touched part of the compute graph buffer for a micro-batch that fills the context."""
    # Several streams split a micro-batch between them, so the mask stays n_ctx_seq x n_ubatch.
    n_ctx = _pad(config.context_length * (config.n_seq if config.kv_unified else 1), 256)
    ub = min(config.n_ubatch, n_ctx * kv_streams(config))
    q_dim = arch.heads * arch.key_length
    # Live activations at the widest point of a layer: residual + norm + q/k/v + attention out,
    # then the gated FFN (gate, up and their product), all f32.
    activations = ub * 4 * (3 * arch.embedding + 2 * q_dim + 3 * arch.feed_forward)
    mask = n_ctx * _pad(ub, 64) * 2  # f16 KQ mask
    if arch.sliding_window and not config.swa_full:
        mask += kv_cells(arch, 0, config) * _pad(ub, 64) * 2
    attention = 0 if config.flash_attn else n_ctx * ub * arch.heads * 4  # KQ scores per layer
    logits = arch.vocab * 4 * config.n_seq
    return activations + mask + attention + logits + REQUEST_FIXED_BYTES


def overhead_bytes(arch: Architecture, merges: int) -> int:
    return PROCESS_BASE_BYTES + CONTEXT_FIXED_BYTES + VOCAB_BYTES_PER_ENTRY * (arch.vocab + merges)


def estimate(arch: Architecture, layout: WeightsLayout, config: RuntimeConfig, *, merges: int | None = None,
             projector_bytes: int = 0) -> MemoryEstimate:
    """The estimate for one model at one configuration."""
    if merges is None:
        # BPE vocabularies (Llama 3, Qwen, SmolLM) carry about one merge rule per token;
        # SentencePiece ones (Gemma, Phi-3) none.
        merges = 0 if arch.arch in ("gemma3", "gemma2", "gemma", "phi3") else arch.vocab
    mapped = layout.total_bytes - layout.untouched_bytes if config.use_mmap else layout.total_bytes
    if config.offload == "cpu":
        repack = repacked_bytes(layout, config.cpu_features)
        weights = mapped + repack
        reclaimable = repack if config.use_mmap else 0
    else:
        # Offloaded: the device holds a copy of every tensor; the file pages read to upload it are
        # clean and never read again.
        weights = layout.total_bytes
        reclaimable = 0
    kv = kv_cache_bytes(arch, config)
    compute = compute_bytes(arch, config)
    overhead = overhead_bytes(arch, merges) + config.extra_overhead_bytes
    total = weights + kv + compute + projector_bytes + overhead
    return MemoryEstimate(weights, kv, compute, projector_bytes, overhead, total, reclaimable, config.context_length)


def architecture_from_header(header: GGUFHeader) -> Architecture:
    """The estimator's numbers from GGUF metadata (llama.cpp's own keys)."""
    g = header.arch_value
    heads = g("attention.head_count")
    kv_heads = g("attention.head_count_kv", heads)
    # Some models store per-layer head counts as arrays; the estimate uses the largest.
    heads = max(heads) if isinstance(heads, list) else heads
    kv_heads = max(kv_heads) if isinstance(kv_heads, list) else kv_heads
    embedding = int(g("embedding_length"))
    head_dim = embedding // int(heads)
    tokens = header.metadata.get("tokenizer.ggml.tokens")
    vocab = g("vocab_size") or getattr(tokens, "length", 0)
    window = int(g("attention.sliding_window", 0) or 0)
    # llama.cpp hard-codes the sliding-window layer pattern per architecture (llama-model.cpp).
    pattern = {"gemma3": 6, "gemma3n": 5, "cohere2": 4, "gemma2": 2}.get(header.architecture, 0) if window else 0
    ff = g("feed_forward_length")
    return Architecture(
        arch=header.architecture,
        layers=int(g("block_count")),
        embedding=embedding,
        feed_forward=int(max(ff) if isinstance(ff, list) else ff),
        heads=int(heads),
        kv_heads=int(kv_heads),
        key_length=int(g("attention.key_length", head_dim)),
        value_length=int(g("attention.value_length", head_dim)),
        vocab=int(vocab),
        context_length=int(g("context_length")),
        tied_embeddings=not any(t.name == "output.weight" for t in header.tensors),
        sliding_window=window,
        sliding_window_pattern=pattern,
    )


@dataclass(frozen=True)
class GGUFFacts:
    architecture: Architecture
    layout: WeightsLayout
    merges: int


@lru_cache(maxsize=64)
def _facts(path: str, mtime_ns: int, size: int) -> GGUFFacts:
    header = read_header(path)
    merges = header.metadata.get("tokenizer.ggml.merges")
    return GGUFFacts(architecture_from_header(header), layout_from_header(header), getattr(merges, "length", 0))


def gguf_facts(path: str | Path) -> GGUFFacts:
    """What the estimator needs from a GGUF file, read once per file version (the picker asks
    many times when it searches for the largest context)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        read_header(p)  # raises the ModelFileError that explains it
        raise
    return _facts(str(p), st.st_mtime_ns, st.st_size)


def estimate_gguf(path: str | Path, config: RuntimeConfig, projector: str | Path | None = None) -> MemoryEstimate:
    """Estimate from a GGUF file on disk (fast header read; the token arrays are skipped)."""
    facts = gguf_facts(path)
    projector_bytes = read_header(projector).tensor_bytes() if projector else 0
    return estimate(facts.architecture, facts.layout, config, merges=facts.merges, projector_bytes=projector_bytes)


def estimate_spec(spec: ModelSpec, config: RuntimeConfig, file: str | Path | None = None) -> MemoryEstimate:
    """Estimate for a catalog model: from its GGUF header when the file is present, else from the
    catalog numbers. A vision projector is counted when the model has one."""
    projector_bytes = spec.projector.file_size if spec.projector else 0
    if file is not None and Path(file).exists():
        facts = gguf_facts(file)
        return estimate(facts.architecture, facts.layout, config, merges=facts.merges,
                        projector_bytes=projector_bytes)
    if spec.architecture is None:
        raise ValueError(f"{spec.id} is not an LLM; its memory is resident_bytes")
    return estimate(spec.architecture, layout_from_catalog(spec), config, projector_bytes=projector_bytes)


__all__ = ["MemoryEstimate", "RuntimeConfig", "estimate", "estimate_gguf", "estimate_spec", "gguf_facts",
           "kv_cache_bytes", "compute_bytes", "repacked_bytes", "architecture_from_header"]
