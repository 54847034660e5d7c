"""NVIDIA: discrete GPUs (NVML or ``nvidia-smi``) and Jetson modules (device tree, L4T, nvpmodel).

Pure parsers first, then the boundary that runs the tools and reads the files.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .spec import Accelerator

MiB = 1024 * 1024

NVIDIA_SMI_QUERY = ["--query-gpu=index,name,memory.total,memory.free,compute_cap", "--format=csv"]


def parse_nvidia_smi_csv(text: str) -> list[Accelerator]:
    """Parse ``nvidia-smi --query-gpu=...,name,memory.total,...,compute_cap --format=csv``.

    Columns are found by name, so any superset of fields works. "[N/A]" memory means the GPU has
    no memory of its own (DGX Spark's GB10 shares LPDDR5X with the CPU): it is marked unified.
    """
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith(("$", "#"))]
    if not lines:
        return []
    rows = list(csv.reader(io.StringIO("\n".join(lines)), skipinitialspace=True))
    header = [h.split(" [")[0].strip().lower() for h in rows[0]]
    if "name" not in header:
        return []
    gpus = []
    for row in rows[1:]:
        if len(row) != len(header):
            continue
        field = dict(zip(header, (v.strip() for v in row), strict=True))
        memory = _mib(field.get("memory.total", ""))
        cc = field.get("compute_cap")
        gpus.append(
            Accelerator(
                kind="cuda",
                name=field["name"],
                memory_bytes=memory,
                unified=True if memory is None else None,
                compute_capability=cc if cc and not cc.startswith("[") else None,
            )
        )
    return gpus


def _mib(value: str) -> int | None:
    match = re.match(r"^\s*([0-9.]+)\s*(MiB)?\s*$", value)
    return int(float(match.group(1)) * MiB) if match else None


# --- Jetson -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class JetsonModule:
    pattern: str  # regex on the device-tree model string
    compute_capability: str
    bandwidth_gbps: float  # LPDDR peak, GB/s (NVIDIA module data sheets)
    tops: float | None  # vendor sparse INT8 TOPS


# Order matters: "Orin Nano ... Super" before "Orin Nano".
JETSON_MODULES: tuple[JetsonModule, ...] = (
    JetsonModule(r"Thor", "11.0", 273.0, None),
    JetsonModule(r"AGX Orin", "8.7", 204.8, 275.0),
    JetsonModule(r"Orin NX.*Super|Super.*Orin NX", "8.7", 102.4, 157.0),
    JetsonModule(r"Orin NX", "8.7", 102.4, 100.0),
    JetsonModule(r"Orin Nano.*Super", "8.7", 102.0, 67.0),
    JetsonModule(r"Orin Nano", "8.7", 68.0, 40.0),
    JetsonModule(r"AGX Xavier", "7.2", 136.5, 32.0),
    JetsonModule(r"Xavier NX", "7.2", 59.7, 21.0),
    JetsonModule(r"TX2", "6.2", 59.7, None),
    JetsonModule(r"Nano", "5.3", 25.6, None),
)


def parse_device_tree_string(raw: bytes | str) -> str:
    """/proc/device-tree/model ends in a NUL; printed captures do not. Either way, one clean string."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return text.split("\0")[0].strip()


def parse_device_tree_compatible(raw: bytes) -> list[str]:
    """/proc/device-tree/compatible: NUL-separated strings, most specific first."""
    return [s for s in raw.decode("utf-8", "replace").split("\0") if s.strip()]


def is_jetson(model: str, compatible: list[str]) -> bool:
    return "jetson" in model.lower() or any(c.startswith("nvidia,tegra") for c in compatible)


def parse_nv_tegra_release(text: str) -> str | None:
    """'# R36 (release), REVISION: 3.0, ...' -> 'R36.3.0' (the L4T version)."""
    match = re.search(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([0-9.]+)", text)
    return f"R{match.group(1)}.{match.group(2)}" if match else None


def parse_nvpmodel_query(text: str) -> str | None:
    """``nvpmodel -q`` -> the power mode name ('MAXN_SUPER', '15W', ...)."""
    match = re.search(r"NV Power Mode:\s*(\S+)", text)
    return match.group(1) if match else None


def jetson_module(model: str) -> JetsonModule | None:
    for module in JETSON_MODULES:
        if re.search(module.pattern, model, re.IGNORECASE):
            return module
    return None


def jetson_accelerator(model: str, l4t: str | None) -> Accelerator:
    """The integrated GPU of a Jetson: CUDA on the one LPDDR pool shared with the CPU."""
    module = jetson_module(model)
    name = f"{model} GPU" + (f" (L4T {l4t})" if l4t else "")
    return Accelerator(
        kind="cuda",
        name=name,
        unified=True,
        compute_capability=module.compute_capability if module else None,
        tops=module.tops if module else None,
        bandwidth_bytes_per_s=int(module.bandwidth_gbps * 1e9) if module else None,
    )


# --- boundary ---------------------------------------------------------------------------------

def read_discrete_gpus() -> list[Accelerator]:
    """Discrete NVIDIA GPUs through NVML when nvidia-ml-py is installed, else nvidia-smi."""
    gpus = _read_nvml()
    if gpus is not None:
        return gpus
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, *NVIDIA_SMI_QUERY], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_nvidia_smi_csv(out.stdout) if out.returncode == 0 else []


def _read_nvml() -> list[Accelerator] | None:
    import importlib.util

    if importlib.util.find_spec("pynvml") is None:
        return None
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # NVML missing or no driver: fall back to nvidia-smi
        return None
    try:
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(handle)
            name = name.decode() if isinstance(name, bytes) else name
            try:
                memory: int | None = int(pynvml.nvmlDeviceGetMemoryInfo(handle).total)
            except pynvml.NVMLError:
                memory = None
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
            gpus.append(Accelerator(kind="cuda", name=name, memory_bytes=memory,
                                    unified=True if memory is None else None,
                                    compute_capability=f"{major}.{minor}"))
        return gpus
    except Exception:
        return None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


@dataclass
class JetsonFacts:
    model: str
    l4t: str | None
    power_mode: str | None


def read_jetson(root: Path = Path("/")) -> JetsonFacts | None:
    try:
        model = parse_device_tree_string((root / "proc/device-tree/model").read_bytes())
    except OSError:
        return None
    try:
        compatible = parse_device_tree_compatible((root / "proc/device-tree/compatible").read_bytes())
    except OSError:
        compatible = []
    if not is_jetson(model, compatible):
        return None
    try:
        l4t = parse_nv_tegra_release((root / "etc/nv_tegra_release").read_text())
    except OSError:
        l4t = None
    power_mode = None
    exe = shutil.which("nvpmodel")
    if exe:
        try:
            out = subprocess.run([exe, "-q"], capture_output=True, text=True, timeout=5)
            power_mode = parse_nvpmodel_query(out.stdout)
        except (OSError, subprocess.SubprocessError):
            pass
    return JetsonFacts(model=model, l4t=l4t, power_mode=power_mode)
