"""Memory budgets and the one check every model load goes through.

Budget = what the LLM may use: available memory (or a discrete GPU's own memory, with host RAM for
layers that stay on the CPU), minus a documented reserve for the OS and the assistant's other
stages, capped by ``--memory-limit``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pathlib import Path

from .catalog import SPEECH_KINDS, VISION_KINDS, Catalog, ModelSpec
from .errors import ModelDoesNotFitError
from .hardware.spec import Accelerator, HardwareSpec
from .memory import MemoryEstimate, RuntimeConfig, estimate_gguf, estimate_spec
from .units import GiB, MiB, format_size

# The OS, its services and a desktop need headroom that MemAvailable does not promise to keep:
# 10 % of RAM, at least 256 MiB (a headless Pi) and at most 2 GiB.
OS_RESERVE_FRACTION = 0.10
OS_RESERVE_MIN = 256 * MiB
OS_RESERVE_MAX = 2 * GiB
# A CUDA context plus the display (on desktops) takes this much of a discrete GPU's memory.
GPU_CONTEXT_RESERVE = 512 * MiB
# Apple's Metal limits one process's working set (recommendedMaxWorkingSetSize) to about two
# thirds of RAM on machines up to 36 GiB and three quarters above.
METAL_SMALL_FRACTION, METAL_LARGE_FRACTION, METAL_LARGE_FROM = 2 / 3, 3 / 4, 36 * GiB


@dataclass(frozen=True)
class Budget:
    memory_bytes: int  # what the LLM may use in its pool
    reserved_bytes: int  # held back for the OS and the other stages
    pool: str  # unified | host | device
    explanation: str
    host_bytes: int  # the host RAM budget (the same as memory_bytes unless pool is device)
    device: str  # where the LLM runs by default: cpu | cuda | metal
    accelerator: Accelerator | None = None

    def to_document(self) -> dict[str, object]:
        return {"memory_bytes": self.memory_bytes, "reserved_bytes": self.reserved_bytes,
                "pool": self.pool, "explanation": self.explanation}


def os_reserve(total_bytes: int) -> int:
    return int(min(OS_RESERVE_MAX, max(OS_RESERVE_MIN, total_bytes * OS_RESERVE_FRACTION)))


def stage_reserve(catalog: Catalog, voice: bool = True, vision: bool = False) -> tuple[int, list[str]]:
    """Memory of the default speech stages (wake word, VAD, STT, TTS) and, with ``vision``, of the
    vision stage for text-only models (label, objects, faces, OCR), from the catalog."""
    kinds = (SPEECH_KINDS if voice else ()) + (VISION_KINDS if vision else ())
    total, names = 0, []
    for kind in kinds:
        spec = catalog.default_of(kind)
        if spec is not None and spec.resident_bytes:
            total += spec.resident_bytes
            names.append(spec.id)
    return total, names


def compute_budget(hw: HardwareSpec, catalog: Catalog, *, memory_limit: int | None = None,
                   voice: bool = True, vision: bool = True) -> Budget:
    total = hw.memory.total_bytes
    host_free = total - os_reserve(total)
    if hw.memory.available_bytes is not None:
        host_free = min(host_free, hw.memory.available_bytes)
    stages, stage_names = stage_reserve(catalog, voice, vision)
    host = max(0, host_free - stages)
    why = [f"{format_size(host_free)} usable RAM"
           + (" (available now)" if hw.memory.available_bytes is not None and host_free == hw.memory.available_bytes
              else f" ({format_size(total)} less {format_size(os_reserve(total))} for the OS)")]
    if stages:
        which = " and ".join(w for w, on in (("voice", voice), ("vision", vision)) if on)
        why.append(f"less {format_size(stages)} for the {which} stages ({', '.join(stage_names)})")

    gpu = _main_gpu(hw)
    pool, device, memory = "host", "cpu", host
    if gpu is not None and gpu.kind == "metal":
        pool, device = "unified", "metal"
        fraction = METAL_LARGE_FRACTION if total > METAL_LARGE_FROM else METAL_SMALL_FRACTION
        metal_cap = int(total * fraction)
        if metal_cap < memory:
            memory = metal_cap
            why.append(f"capped at Metal's working-set limit, {format_size(metal_cap)}")
    elif gpu is not None and gpu.kind in ("cuda", "rocm", "vulkan") and (gpu.unified or not gpu.memory_bytes):
        pool, device = "unified", gpu.kind
        why.append(f"shared with the {gpu.name}")
    elif gpu is not None and gpu.memory_bytes:
        pool, device = "device", gpu.kind
        memory = max(0, gpu.memory_bytes - GPU_CONTEXT_RESERVE)
        why = [f"{format_size(gpu.memory_bytes)} on the {gpu.name} less {format_size(GPU_CONTEXT_RESERVE)} "
               f"for the CUDA context; host RAM ({format_size(host)}) holds layers that do not fit"]
    if memory_limit is not None and memory_limit < memory:
        memory = memory_limit
        why.append(f"capped by --memory-limit at {format_size(memory_limit)}")
    if memory_limit is not None and pool == "device":
        host = min(host, memory_limit)
    reserved = (total - memory) if pool != "device" else GPU_CONTEXT_RESERVE
    return Budget(memory_bytes=memory, reserved_bytes=max(0, reserved), pool=pool, explanation="; ".join(why),
                  host_bytes=host if pool == "device" else memory, device=device, accelerator=gpu)


def _main_gpu(hw: HardwareSpec) -> Accelerator | None:
    """The accelerator llama.cpp would run on: the largest discrete GPU, else an integrated one."""
    gpus = [a for a in hw.accelerators if a.kind in ("cuda", "metal", "rocm", "vulkan")]
    if not gpus:
        return None
    return max(gpus, key=lambda a: (a.memory_bytes or 0, a.kind == "cuda"))


def ensure_fits(model_id: str, estimate: MemoryEstimate, budget: Budget, *, pool_bytes: int | None = None) -> None:
    """Raise :class:`ModelDoesNotFitError` when a model at its context exceeds the budget.

    The runtime calls this before loading, and the picker uses the same test, so what
    ``pick-model`` recommends always loads. Clean file pages that llama.cpp never reads again
    (repacked weights) do not count: the kernel drops them first."""
    limit = budget.memory_bytes if pool_bytes is None else pool_bytes
    needed = estimate.required_bytes
    if needed > limit:
        raise ModelDoesNotFitError(
            f"{model_id} at a {estimate.context_length}-token context needs {format_size(needed)} "
            f"but the budget is {format_size(limit)} ({budget.explanation}); pick a smaller model or "
            "context (`assistant pick-model` lists what fits), or raise --memory-limit",
            needed_bytes=needed, budget_bytes=limit,
        )


def ensure_model_fits(model: ModelSpec | str | Path, config: RuntimeConfig, hw: HardwareSpec, catalog: Catalog, *,
                      file: str | Path | None = None, memory_limit: int | None = None,
                      voice: bool = True, projector: str | Path | None = None) -> MemoryEstimate:
    """The loader's pre-flight: estimate a catalog model (or a bare .gguf path) at ``config`` and
    raise :class:`ModelDoesNotFitError` if it exceeds this device's budget. Returns the estimate."""
    budget = compute_budget(hw, catalog, memory_limit=memory_limit, voice=voice)
    if isinstance(model, ModelSpec):
        est, name = estimate_spec(model, config, file), model.id
    else:
        est, name = estimate_gguf(model, config, projector), Path(model).name
    ensure_fits(name, est, budget)
    return est
