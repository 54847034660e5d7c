"""Hardware probe: what this device offers, as a :class:`HardwareSpec`.

One module per platform family; each has pure parsers (tested on real captures) and a thin reader.
``probe()`` assembles the spec for the machine it runs on.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

from . import apple, bandwidth, coral, linux, npu, nvidia, thermal
from .spec import Accelerator, Cpu, HardwareSpec, Memory, Power, load_spec

__all__ = ["Accelerator", "Cpu", "HardwareSpec", "Memory", "Power", "load_spec", "probe"]


def _arch() -> str:
    machine = platform.machine().lower()
    if machine in ("amd64", "x86_64"):
        return "x86_64"
    if machine in ("arm64",):
        return "arm64"
    if machine in ("aarch64", "armv8l"):
        return "aarch64"
    return machine


def probe() -> HardwareSpec:
    """Read this machine."""
    if sys.platform == "darwin":
        return _probe_darwin()
    if sys.platform == "win32":
        return _probe_windows()
    return _probe_linux()


def _probe_linux() -> HardwareSpec:
    proc = Path("/proc")
    cpuinfo = linux.parse_cpuinfo(_read_text(proc / "cpuinfo") or "")
    total, available = linux.parse_meminfo(_read_text(proc / "meminfo") or "MemTotal: 0 kB")
    cgroup = linux.read_cgroup_limits(proc)
    mem_limit, used = cgroup.memory_bytes, cgroup.memory_used_bytes
    logical = os.cpu_count() or cpuinfo.logical_cpus
    cores = linux.usable_cores(logical, linux.read_affinity(), cgroup.cpus)
    if mem_limit is not None and mem_limit < total:
        # Inside a limited cgroup the limit is the RAM we have; headroom is what is left under it.
        total = mem_limit
        headroom = max(0, mem_limit - used) if used is not None else mem_limit
        available = min(available, headroom) if available is not None else headroom

    accelerators: list[Accelerator] = []
    board = _device_tree_model()
    name = board or _dmi_product() or cpuinfo.name or f"Linux {_arch()} machine"
    power = None
    jetson = nvidia.read_jetson()
    if jetson is not None:
        name = jetson.model
        accelerators.append(nvidia.jetson_accelerator(jetson.model, jetson.l4t))
        if jetson.power_mode:
            power = Power(mode=jetson.power_mode)
    else:
        for gpu in nvidia.read_discrete_gpus():
            gpu.bandwidth_bytes_per_s = bandwidth.gpu_bandwidth(gpu.name)
            accelerators.append(gpu)
    accelerators += npu.read_npus()
    accelerators += coral.read_corals()
    state = thermal.thermal_state(thermal.read_thermal_zones())
    if state.max_temp_c is not None:
        power = Power(mode=power.mode if power else None, throttled=state.throttled,
                      temperature_c=round(state.max_temp_c, 1))
    mem_bw = next((a.bandwidth_bytes_per_s for a in accelerators if a.unified and a.bandwidth_bytes_per_s), None)
    return HardwareSpec(
        name=name,
        os="linux",
        arch=_arch(),
        cpu=Cpu(cores=cores, name=cpuinfo.name, features=cpuinfo.features),
        memory=Memory(total_bytes=total, available_bytes=available,
                      bandwidth_bytes_per_s=mem_bw or bandwidth.board_bandwidth(name)),
        accelerators=accelerators,
        power=power,
    )


def _probe_darwin() -> HardwareSpec:
    import psutil

    facts = apple.read_sysctl()
    vm = psutil.virtual_memory()
    on_apple_silicon = facts is not None and (_arch() == "arm64" or facts.translated)
    accelerators = apple.apple_accelerators(facts) if on_apple_silicon else []
    chip = facts.chip if facts else None
    return HardwareSpec(
        name=f"Mac ({chip})" if chip else "Mac",
        os="darwin",
        arch="arm64" if facts and facts.translated else _arch(),
        cpu=Cpu(cores=os.cpu_count() or 1, name=chip, features=facts.features if facts else []),
        memory=Memory(total_bytes=(facts.memory_bytes if facts and facts.memory_bytes else vm.total),
                      available_bytes=vm.available,
                      bandwidth_bytes_per_s=apple.apple_bandwidth(facts) if facts else None),
        # No sysfs here: a USB Coral is found when the Edge TPU delegate loads, not by the probe.
        accelerators=accelerators,
    )


def _probe_windows() -> HardwareSpec:
    import psutil

    vm = psutil.virtual_memory()
    cpu_name = platform.processor() or None
    accelerators: list[Accelerator] = []
    for gpu in nvidia.read_discrete_gpus():
        gpu.bandwidth_bytes_per_s = bandwidth.gpu_bandwidth(gpu.name)
        accelerators.append(gpu)
    accelerators += npu.read_npus()
    return HardwareSpec(
        name=platform.node() or "Windows PC",
        os="windows",
        arch=_arch(),
        cpu=Cpu(cores=len(psutil.Process().cpu_affinity() or []) or os.cpu_count() or 1, name=cpu_name),
        memory=Memory(total_bytes=vm.total, available_bytes=vm.available,
                      bandwidth_bytes_per_s=bandwidth.board_bandwidth(cpu_name)),
        accelerators=accelerators,
    )


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _device_tree_model() -> str | None:
    try:
        return nvidia.parse_device_tree_string(Path("/proc/device-tree/model").read_bytes()) or None
    except OSError:
        return None


def _dmi_product() -> str | None:
    text = _read_text(Path("/sys/class/dmi/id/product_name"))
    text = text.strip() if text else None
    # Virtual machines and white boxes report placeholders; those name nothing.
    if not text or text.lower() in ("to be filled by o.e.m.", "system product name", "default string", "none"):
        return None
    return text

