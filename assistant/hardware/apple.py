"""Apple silicon: chip, memory and cores from ``sysctl``; Metal GPU and Neural Engine on the one
unified memory pool."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field

from .spec import Accelerator

# Chip -> (peak memory bandwidth GB/s, Neural Engine TOPS), from Apple's published specs.
# Where a chip ships in two bandwidth bins (M3 Max 300/400, M4 Max 410/546) the lower is used,
# so speed estimates err on the slow side.
APPLE_CHIPS: dict[str, tuple[float, float]] = {
    "M1": (68.25, 11.0), "M1 Pro": (200.0, 11.0), "M1 Max": (400.0, 11.0), "M1 Ultra": (800.0, 22.0),
    "M2": (100.0, 15.8), "M2 Pro": (200.0, 15.8), "M2 Max": (400.0, 15.8), "M2 Ultra": (800.0, 31.6),
    "M3": (100.0, 18.0), "M3 Pro": (150.0, 18.0), "M3 Max": (300.0, 18.0), "M3 Ultra": (819.0, 36.0),
    "M4": (120.0, 38.0), "M4 Pro": (273.0, 38.0), "M4 Max": (410.0, 38.0),
}


@dataclass
class SysctlFacts:
    chip: str | None  # 'Apple M2 Pro'; None when the brand string is the generic 'Apple processor'
    memory_bytes: int | None
    logical_cpus: int | None
    performance_cores: int | None
    efficiency_cores: int | None
    translated: bool  # read from an x86_64 process under Rosetta 2
    features: list[str] = field(default_factory=list)


def parse_sysctl(text: str) -> SysctlFacts:
    """Parse ``sysctl -a`` (or a subset) output, 'key: value' per line."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            values[key.strip()] = value.strip()
    brand = values.get("machdep.cpu.brand_string")
    chip = brand if brand and re.match(r"Apple M\d", brand) else None

    def num(key: str) -> int | None:
        v = values.get(key)
        return int(v) if v is not None and v.lstrip("-").isdigit() else None

    features = sorted(
        k.removeprefix("hw.optional.arm.FEAT_").lower()
        for k, v in values.items()
        if k.startswith("hw.optional.arm.FEAT_") and v == "1"
        and k.removeprefix("hw.optional.arm.FEAT_") in ("DotProd", "I8MM", "BF16", "FP16", "SME", "SME2")
    )
    if values.get("hw.optional.neon") == "1" or values.get("hw.optional.AdvSIMD") == "1":
        features = sorted({*features, "neon"})
    # An x86_64 process under Rosetta sees hw.cputype 7 (x86) beside hw.optional.arm64: 1.
    translated = values.get("sysctl.proc_translated") == "1" or (
        values.get("hw.optional.arm64") == "1" and values.get("hw.cputype") == "7"
    )
    return SysctlFacts(
        chip=chip,
        memory_bytes=num("hw.memsize"),
        logical_cpus=num("hw.ncpu") or num("hw.logicalcpu"),
        performance_cores=num("hw.perflevel0.physicalcpu"),
        efficiency_cores=num("hw.perflevel1.physicalcpu"),
        translated=translated,
        features=features,
    )


def chip_family(chip: str | None) -> str | None:
    """'Apple M2 Pro' -> 'M2 Pro'."""
    if not chip:
        return None
    match = re.match(r"Apple (M\d+(?: Pro| Max| Ultra)?)", chip)
    return match.group(1) if match else None


def apple_accelerators(facts: SysctlFacts) -> list[Accelerator]:
    family = chip_family(facts.chip)
    bandwidth, ane_tops = APPLE_CHIPS.get(family or "", (None, None))
    chip = facts.chip or "Apple silicon"
    bw = int(bandwidth * 1e9) if bandwidth else None
    return [
        Accelerator(kind="metal", name=f"{chip} GPU", unified=True, bandwidth_bytes_per_s=bw),
        Accelerator(kind="ane", name=f"{chip} Neural Engine", unified=True, tops=ane_tops),
    ]


def apple_bandwidth(facts: SysctlFacts) -> int | None:
    bandwidth = APPLE_CHIPS.get(chip_family(facts.chip) or "", (None, None))[0]
    return int(bandwidth * 1e9) if bandwidth else None


def read_sysctl() -> SysctlFacts | None:
    exe = shutil.which("sysctl")
    if exe is None:
        return None
    keys = ["machdep.cpu.brand_string", "hw.memsize", "hw.ncpu", "hw.perflevel0.physicalcpu",
            "hw.perflevel1.physicalcpu", "hw.optional.arm64", "hw.cputype", "sysctl.proc_translated",
            "hw.optional.AdvSIMD", "hw.optional.arm.FEAT_DotProd", "hw.optional.arm.FEAT_I8MM",
            "hw.optional.arm.FEAT_BF16", "hw.optional.arm.FEAT_FP16"]
    try:
        # -i: ignore keys this macOS version does not know.
        out = subprocess.run([exe, "-i", *keys], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_sysctl(out.stdout)
