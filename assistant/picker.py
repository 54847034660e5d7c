"""The picker: a pure function of (hardware spec, catalog, requirements) -> a ranked plan.

Quality first (parameters, then bits per weight), among the models that fit at the requested
context; but a model whose estimated decode speed is under the voice floor is never preferred
while a quicker one fits. Every candidate is listed with the reason it was or was not chosen.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from .budget import Budget, compute_budget, ensure_fits
from .catalog import LLM, Catalog, ModelSpec
from .errors import ModelDoesNotFitError
from .hardware.bandwidth import board_bandwidth
from .hardware.spec import HardwareSpec
from .memory import MemoryEstimate, RuntimeConfig, estimate_spec, layout_from_catalog
from .units import format_size

# Decode is memory-bound: a token reads every weight once. Sustained fractions of peak bandwidth
# that llama.cpp reaches (CPU matmul kernels reach less of it than GPU ones).
CPU_BANDWIDTH_EFFICIENCY = 0.55
GPU_BANDWIDTH_EFFICIENCY = 0.65
THROTTLED_FACTOR = 0.6
# When a device's memory bandwidth is unknown (most PCs: it depends on the DIMMs), assume what one
# core can stream, capped at a dual-channel desktop's figure. Calibrated on this project's
# 2-core reference machine, where Gemma 3 270M decodes at ~45 tok/s.
ASSUMED_BANDWIDTH_PER_CORE = {"x86_64": 10e9, "aarch64": 5e9, "arm64": 5e9}
ASSUMED_BANDWIDTH_CAP = 80e9
# Below this a spoken reply lags behind the voice reading it out (~3 words/s is ~4-5 tokens/s,
# plus the time to the first sentence).
DEFAULT_MIN_TOKENS_PER_S = 8.0
MIN_CONTEXT = 512
SPEED_CONTEXT = 4096
TASKS = ("chat", "vision", "completion")


@dataclass(frozen=True)
class Requirements:
    context_length: int = 4096
    max_context: bool = False
    task: str = "chat"
    memory_limit: int | None = None
    installed_only: bool = False
    min_tokens_per_s: float = DEFAULT_MIN_TOKENS_PER_S
    voice: bool = True
    vision: bool = True  # reserve the vision stage's detectors (images in chat with a text-only model)
    kv_type: str = "f16"
    n_seq: int = 1  # requests decoded together (the server's slots), each with its own KV stream
    extra_overhead_bytes: int = 0  # what the host process adds (the HTTP stack)


@dataclass
class Candidate:
    model: ModelSpec
    fits: bool
    reason: str
    context_length: int | None = None
    estimate: MemoryEstimate | None = None
    runtime: str = "llama.cpp"
    device: str = "cpu"
    gpu_layers: int | None = None
    tokens_per_s: float | None = None
    installed: bool = False

    def to_document(self) -> dict[str, object]:
        doc: dict[str, object] = {"model": self.model.id, "fits": self.fits, "reason": self.reason,
                                  "context_length": self.context_length}
        if self.estimate is not None:
            doc["estimate"] = self.estimate.to_document()
        if self.tokens_per_s is not None:
            doc["tokens_per_s"] = round(self.tokens_per_s, 1)
        if self.fits:
            doc.update(runtime=self.runtime, device=self.device, installed=self.installed)
            if self.gpu_layers is not None:
                doc["gpu_layers"] = self.gpu_layers
        return doc


@dataclass
class Plan:
    hardware: HardwareSpec
    budget: Budget
    requirements: Requirements
    pick: Candidate | None
    candidates: list[Candidate] = field(default_factory=list)

    def to_document(self) -> dict[str, object]:
        pick = None
        if self.pick is not None:
            pick = {"model": self.pick.model.id, "context_length": self.pick.context_length,
                    "runtime": self.pick.runtime, "device": self.pick.device, "installed": self.pick.installed,
                    "estimate": self.pick.estimate.to_document() if self.pick.estimate else None}
            if self.pick.gpu_layers is not None:
                pick["gpu_layers"] = self.pick.gpu_layers
            if self.pick.tokens_per_s is not None:
                pick["tokens_per_s"] = round(self.pick.tokens_per_s, 1)
        return {"schema": "assistant.pick/1", "hardware": self.hardware.to_document(),
                "budget": self.budget.to_document(), "pick": pick,
                "candidates": [c.to_document() for c in self.candidates]}


def _config(hw: HardwareSpec, req: Requirements, context: int, offload: str) -> RuntimeConfig:
    return RuntimeConfig(context_length=context, kv_type=req.kv_type, offload=offload,
                         cpu_features=tuple(hw.cpu.features), n_seq=req.n_seq,
                         extra_overhead_bytes=req.extra_overhead_bytes)


def _fits(model: ModelSpec, est: MemoryEstimate, budget: Budget, limit: int) -> bool:
    try:
        ensure_fits(model.id, est, budget, pool_bytes=limit)
    except ModelDoesNotFitError:
        return False
    return True


def _speed(hw: HardwareSpec, model: ModelSpec, est: MemoryEstimate, device: str, gpu_fraction: float,
           budget: Budget) -> float | None:
    """Decode tokens/s ~ efficiency x bandwidth / bytes read per token: the weights plus the KV
    cache of a typical exchange (half of at most SPEED_CONTEXT tokens; a huge context that is
    rarely filled should not make every turn look slow)."""
    arch = model.architecture
    assert arch is not None
    layout = layout_from_catalog(model)
    used = min(1.0, SPEED_CONTEXT / est.context_length)
    per_token = (layout.total_bytes - layout.untouched_bytes) + est.kv_cache_bytes * used / 2
    cpu_bw = cpu_bandwidth(hw)
    gpu = budget.accelerator
    gpu_bw = (gpu.bandwidth_bytes_per_s if gpu else None) or (cpu_bw if gpu and gpu.unified else None)
    if device == "cpu":
        seconds = per_token / (cpu_bw * CPU_BANDWIDTH_EFFICIENCY)
    else:
        if not gpu_bw:
            return None
        seconds = gpu_fraction * per_token / (gpu_bw * GPU_BANDWIDTH_EFFICIENCY)
        if gpu_fraction < 1:
            seconds += (1 - gpu_fraction) * per_token / (cpu_bw * CPU_BANDWIDTH_EFFICIENCY)
    speed = 1 / seconds
    if hw.power is not None and hw.power.throttled:
        speed *= THROTTLED_FACTOR
    return speed


def cpu_bandwidth(hw: HardwareSpec) -> float:
    """The device's memory bandwidth, or an assumed one from its usable cores."""
    known = hw.memory.bandwidth_bytes_per_s or board_bandwidth(hw.name) or board_bandwidth(hw.cpu.name)
    if known:
        return float(known)
    per_core = ASSUMED_BANDWIDTH_PER_CORE.get(hw.arch, 5e9)
    return min(ASSUMED_BANDWIDTH_CAP, per_core * hw.cpu.cores)


def _place(hw: HardwareSpec, model: ModelSpec, req: Requirements, budget: Budget, context: int,
           files: dict[str, Path]) -> Candidate | None:
    """Where the model runs at this context, or None when it fits nowhere."""
    file = files.get(model.id)
    if budget.device == "cpu":
        est = estimate_spec(model, _config(hw, req, context, "cpu"), file)
        if _fits(model, est, budget, budget.memory_bytes):
            return Candidate(model, True, "", context, est, device="cpu")
        return None
    est_gpu = estimate_spec(model, _config(hw, req, context, "gpu"), file)
    if _fits(model, est_gpu, budget, budget.memory_bytes):
        layers = model.architecture.layers + 1 if model.architecture else None
        return Candidate(model, True, "", context, est_gpu, device=budget.device, gpu_layers=layers)
    if budget.pool != "device":
        return None
    # Discrete GPU too small: put as many layers as fit on it, the rest on the CPU.
    arch = model.architecture
    assert arch is not None
    per_layer = (est_gpu.weights_bytes + est_gpu.kv_cache_bytes) / (arch.layers + 1)
    fixed_gpu = est_gpu.compute_bytes
    n_gpu = int(max(0, budget.memory_bytes - fixed_gpu) // per_layer) if per_layer else 0
    n_gpu = min(n_gpu, arch.layers)
    est_cpu = estimate_spec(model, _config(hw, req, context, "cpu"), file)
    host_part = int(est_cpu.required_bytes - (est_gpu.weights_bytes + est_gpu.kv_cache_bytes) * n_gpu / (arch.layers + 1))
    if host_part > budget.host_bytes:
        return None
    if n_gpu == 0:
        return Candidate(model, True, "", context, est_cpu, device="cpu", gpu_layers=0)
    return Candidate(model, True, "", context, est_cpu, device=budget.device, gpu_layers=n_gpu)


def place_model(hw: HardwareSpec, catalog: Catalog, model: ModelSpec, req: Requirements,
                files: dict[str, Path] | None = None) -> Candidate | None:
    """Where one model runs at req.context_length on this device (GPU, split, or CPU), or None."""
    budget = compute_budget(hw, catalog, memory_limit=req.memory_limit, voice=req.voice, vision=req.vision)
    return _place(hw, model, req, budget, req.context_length, files or {})


def _largest_context(hw: HardwareSpec, model: ModelSpec, req: Requirements, budget: Budget,
                     files: dict[str, Path]) -> Candidate | None:
    """Binary search over multiples of 256 up to the trained context (the estimate grows with it)."""
    arch = model.architecture
    assert arch is not None
    lo, hi = MIN_CONTEXT // 256, arch.context_length // 256
    best = None
    while lo <= hi:
        mid = (lo + hi) // 2
        placed = _place(hw, model, req, budget, mid * 256, files)
        if placed is not None:
            best, lo = placed, mid + 1
        else:
            hi = mid - 1
    return best


def pick_model(hw: HardwareSpec, catalog: Catalog, req: Requirements,
               installed: dict[str, Path] | None = None) -> Plan:
    """Rank every catalog LLM for this device and requirements. Pure: no I/O except reading the
    GGUF headers of installed files (given in ``installed``) for exact figures."""
    files = installed or {}
    budget = compute_budget(hw, catalog, memory_limit=req.memory_limit, voice=req.voice, vision=req.vision)
    candidates: list[Candidate] = []
    for model in catalog.of_kind(LLM):
        reason = _excluded(model, req, files)
        if reason:
            candidates.append(Candidate(model, False, reason, installed=model.id in files))
            continue
        arch = model.architecture
        assert arch is not None
        if req.task != "vision" and model.projector is not None:
            # The vision projector is only loaded to see images.
            model = replace(model, projector=None)
        if req.max_context:
            placed = _largest_context(hw, model, req, budget, files)
        elif req.context_length > arch.context_length:
            candidates.append(Candidate(model, False, f"{req.context_length} tokens exceeds its trained context "
                                        f"of {arch.context_length}", installed=model.id in files))
            continue
        else:
            placed = _place(hw, model, req, budget, req.context_length, files)
        if placed is None:
            context = MIN_CONTEXT if req.max_context else req.context_length
            est = estimate_spec(model, _config(hw, req, context, "cpu" if budget.device == "cpu" else "gpu"),
                                files.get(model.id))
            candidates.append(Candidate(model, False, f"needs {format_size(est.required_bytes)} at {context} tokens; "
                                        f"the budget is {format_size(budget.memory_bytes)}", context, est,
                                        installed=model.id in files))
            continue
        # gpu_layers counts the output layer too (llama.cpp's n_gpu_layers), hence the cap.
        fraction = 0.0 if placed.device == "cpu" else min(1.0, (placed.gpu_layers or 0) / arch.layers)
        placed.tokens_per_s = _speed(hw, model, placed.estimate, placed.device, fraction, budget)
        placed.installed = model.id in files
        candidates.append(placed)

    fitting = [c for c in candidates if c.fits]
    quick = [c for c in fitting if c.tokens_per_s is None or c.tokens_per_s >= req.min_tokens_per_s]
    pick = None
    if quick:
        pick = max(quick, key=lambda c: (c.model.parameters, c.model.bits_per_weight))
    elif fitting:
        pick = max(fitting, key=lambda c: c.tokens_per_s or 0.0)
    throttled = bool(hw.power and hw.power.throttled)
    for c in fitting:
        c.reason = _fit_reason(c, pick, req, budget, throttled)
    order = sorted(candidates, key=lambda c: (c is not pick, not c.fits, -c.model.parameters))
    return Plan(hw, budget, req, pick, order)


def _excluded(model: ModelSpec, req: Requirements, files: dict[str, Path]) -> str | None:
    if req.installed_only and model.id not in files:
        return "not installed (--installed)"
    if req.task == "chat" and not model.chat:
        return "base model without a chat template (fine for --task completion)"
    if req.task == "vision" and not model.has_vision:
        return "cannot see images (no vision projector)"
    return None


def _fit_reason(c: Candidate, pick: Candidate | None, req: Requirements, budget: Budget,
                hw_throttled: bool = False) -> str:
    where = c.device if c.gpu_layers is None or c.device == "cpu" else f"{c.device}, {c.gpu_layers} layers on the GPU"
    slow = c.tokens_per_s is not None and c.tokens_per_s < req.min_tokens_per_s
    floor = f"the {req.min_tokens_per_s:g} tok/s voice floor"
    if c is pick and hw_throttled:
        return _fit_reason(c, pick, req, budget, False) + "; the device is thermally throttled, speeds lowered"
    if c is pick:
        if slow:
            return f"picked: the fastest that fits ({where}); every fitting model is under {floor}"
        return f"picked: the largest model that fits ({where})"
    if slow:
        return f"fits, but ~{c.tokens_per_s:.1f} tok/s is under {floor}"
    return "fits; a larger model was picked"
