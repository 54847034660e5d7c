"""Linux facts: CPU model and features, usable cores, RAM, and cgroup (v1 and v2) limits.

The ``parse_*`` functions are pure (text in, facts out) and are tested on real captures in
``tests/data/``; the ``read_*`` functions are the thin boundary that reads /proc and /sys.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Features that decide which llama.cpp / ONNX kernels can run; the rest of the flag list is noise.
_INTERESTING_FEATURES = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
    "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16",
    "neon", "asimd", "asimddp", "asimdhp", "fphp", "i8mm", "bf16", "sve", "sve2", "sme",
)

# cgroup v1 writes "no limit" as a huge number that differs by kernel (LONG_MAX rounded to a page,
# LONG_MAX itself, or u64 max); anything at or above 2**60 bytes is no limit in practice.
_CGROUP_V1_UNLIMITED = 1 << 60


@dataclass
class CpuInfo:
    name: str | None
    logical_cpus: int
    features: list[str]


def parse_cpuinfo(text: str) -> CpuInfo:
    """Parse /proc/cpuinfo (x86 'model name'/'flags', Arm 'Features'/'CPU part', Pi 'Model')."""
    name: str | None = None
    flags: set[str] = set()
    processors = 0
    arm_part: str | None = None
    arm_implementer: str | None = None
    board_model: str | None = None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "processor":
            processors += 1
        elif key == "model name" and name is None:
            name = value
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
        elif key == "cpu part" and arm_part is None:
            arm_part = value
        elif key == "cpu implementer" and arm_implementer is None:
            arm_implementer = value
        elif key == "model":
            # Raspberry Pi kernels print the board here; x86 prints a number under the same key.
            if not value.isdigit():
                board_model = value
    # Arm kernels often print a generic "ARMv8 Processor rev 0 (v8l)"; the part number says more.
    if (name is None or name.startswith("ARMv")) and arm_part is not None:
        name = _ARM_PARTS.get((arm_implementer or "").lower(), {}).get(arm_part.lower(), name)
    if name is None and board_model is not None:
        name = board_model
    features = sorted(f for f in flags if f in _INTERESTING_FEATURES)
    if "asimd" in flags and "neon" not in features:
        features = sorted([*features, "neon"])
    return CpuInfo(name=name, logical_cpus=max(processors, 1), features=features)


# (implementer, part) -> core name, from the Arm and NVIDIA part numbers that /proc/cpuinfo prints.
_ARM_PARTS: dict[str, dict[str, str]] = {
    "0x41": {
        "0xd03": "Arm Cortex-A53", "0xd04": "Arm Cortex-A35", "0xd05": "Arm Cortex-A55",
        "0xd07": "Arm Cortex-A57", "0xd08": "Arm Cortex-A72", "0xd09": "Arm Cortex-A73",
        "0xd0a": "Arm Cortex-A75", "0xd0b": "Arm Cortex-A76", "0xd0c": "Arm Neoverse-N1",
        "0xd0d": "Arm Cortex-A77", "0xd41": "Arm Cortex-A78", "0xd42": "Arm Cortex-A78AE",
        "0xd40": "Arm Neoverse-V1", "0xd4f": "Arm Neoverse-V2", "0xd49": "Arm Neoverse-N2",
        "0xd83": "Arm Neoverse-V3AE",
    },
    "0x4e": {"0x004": "NVIDIA Carmel"},
    "0x61": {"0x022": "Apple M1 Icestorm", "0x023": "Apple M1 Firestorm",
             "0x032": "Apple M2 Blizzard", "0x033": "Apple M2 Avalanche"},
}


def parse_meminfo(text: str) -> tuple[int, int | None]:
    """(MemTotal, MemAvailable) in bytes from /proc/meminfo."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        parts = rest.split()
        if sep and parts and parts[0].isdigit():
            scale = 1024 if len(parts) > 1 and parts[1].lower() == "kb" else 1
            values[key.strip()] = int(parts[0]) * scale
    if "MemTotal" not in values:
        raise ValueError("no MemTotal line in meminfo")
    return values["MemTotal"], values.get("MemAvailable")


def parse_cgroup_v2_cpu_max(text: str) -> float | None:
    """cgroup v2 cpu.max ("$MAX $PERIOD", "max 100000") -> CPUs allowed, or None when unlimited."""
    parts = text.split()
    if not parts or parts[0] == "max":
        return None
    quota = int(parts[0])
    period = int(parts[1]) if len(parts) > 1 else 100000
    return quota / period if quota > 0 and period > 0 else None


def parse_cgroup_v1_cpu_quota(quota_text: str, period_text: str) -> float | None:
    """cgroup v1 cpu.cfs_quota_us / cpu.cfs_period_us -> CPUs allowed, or None ("-1")."""
    quota = int(quota_text.split()[0])
    period = int(period_text.split()[0])
    return quota / period if quota > 0 and period > 0 else None


def parse_cgroup_memory_limit(text: str) -> int | None:
    """memory.max (v2, "max" = none) or memory.limit_in_bytes (v1, a huge number = none)."""
    value = text.strip().split()[0] if text.strip() else "max"
    if value == "max":
        return None
    limit = int(value)
    if limit <= 0 or limit >= _CGROUP_V1_UNLIMITED:
        return None
    return limit


@dataclass
class CgroupMount:
    version: int
    mount_point: str
    root: str
    controllers: frozenset[str]


def parse_mountinfo(text: str) -> list[CgroupMount]:
    """The cgroup v1 and v2 mounts in /proc/self/mountinfo."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        fstype, super_opts = tail[0], tail[2]
        if fstype == "cgroup2":
            mounts.append(CgroupMount(2, fields[4], fields[3], frozenset()))
        elif fstype == "cgroup":
            opts = frozenset(super_opts.split(","))
            mounts.append(CgroupMount(1, fields[4], fields[3], opts))
    return mounts


def parse_proc_self_cgroup(text: str) -> dict[str, str]:
    """/proc/self/cgroup -> {controller: path}; the v2 unified entry is under the key ''."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            paths[""] = path
        for controller in controllers.split(","):
            if controller:
                paths[controller] = path
    return paths


def cgroup_dirs(controller: str, mounts: list[CgroupMount], paths: dict[str, str]) -> list[Path]:
    """The directories of this process's cgroup for ``controller``, innermost first, up to the
    mount root. A limit can sit on any ancestor (a Slurm step, a systemd slice), so callers take
    the smallest limit along the chain."""
    for mount in mounts:
        if mount.version == 1 and controller in mount.controllers and controller in paths:
            path = paths[controller]
        elif mount.version == 2 and "" in paths and not any(
            m.version == 1 and controller in m.controllers for m in mounts
        ):
            path = paths[""]
        else:
            continue
        rel = path
        if mount.root != "/" and rel.startswith(mount.root):
            rel = rel[len(mount.root):]
        base = Path(mount.mount_point)
        parts = [p for p in rel.split("/") if p]
        return [base.joinpath(*parts[:i]) for i in range(len(parts), -1, -1)]
    return []


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


@dataclass(frozen=True)
class CgroupLimits:
    cpus: float | None = None  # CPU quota, in CPUs
    memory_bytes: int | None = None  # the smallest memory limit along the cgroup's ancestry
    memory_used_bytes: int | None = None  # what this process's own cgroup uses now


def read_cgroup_limits(proc: Path = Path("/proc")) -> CgroupLimits:
    """CPU quota, memory limit and memory use of this process's cgroup (v1 or v2)."""
    mountinfo = _read(proc / "self" / "mountinfo")
    self_cgroup = _read(proc / "self" / "cgroup")
    if mountinfo is None or self_cgroup is None:
        return CgroupLimits()
    mounts, paths = parse_mountinfo(mountinfo), parse_proc_self_cgroup(self_cgroup)
    cpu_limits: list[float] = []
    for d in cgroup_dirs("cpu", mounts, paths):
        v2 = _read(d / "cpu.max")
        if v2 is not None:
            q = parse_cgroup_v2_cpu_max(v2)
        else:
            quota, period = _read(d / "cpu.cfs_quota_us"), _read(d / "cpu.cfs_period_us")
            q = parse_cgroup_v1_cpu_quota(quota, period) if quota and period else None
        if q is not None:
            cpu_limits.append(q)
    mem_limits: list[int] = []
    memory_dirs = cgroup_dirs("memory", mounts, paths)
    for d in memory_dirs:
        text = _read(d / "memory.max") or _read(d / "memory.limit_in_bytes")
        limit = parse_cgroup_memory_limit(text) if text else None
        if limit is not None:
            mem_limits.append(limit)
    used = None
    if memory_dirs:
        text = (_read(memory_dirs[0] / "memory.current") or _read(memory_dirs[0] / "memory.usage_in_bytes") or "").strip()
        used = int(text) if text.isdigit() else None
    return CgroupLimits(min(cpu_limits) if cpu_limits else None, min(mem_limits) if mem_limits else None, used)


def usable_cores(logical_cpus: int, affinity: int | None, cpu_quota: float | None) -> int:
    """Cores this process may really use: the CPU count, narrowed by affinity and a cgroup quota
    (a quota of 2.5 CPUs allows 2 full cores' worth of threads; never less than 1)."""
    cores = min(logical_cpus, affinity) if affinity else logical_cpus
    if cpu_quota is not None:
        cores = min(cores, max(1, int(cpu_quota)))
    return max(1, cores)


def read_affinity() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None
