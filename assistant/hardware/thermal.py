"""Live limits: temperatures, thermal throttling and Jetson's tegrastats, so a throttled device is
reported (and the picker lowers its speed estimate) instead of silently running slow.

Throttling is read from the kernel's own thresholds: a thermal zone at or above its first
"passive" trip point is being cooled by slowing the clocks (drivers/thermal, step_wise governor).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ThermalZone:
    name: str
    temp_c: float
    passive_trip_c: float | None = None

    @property
    def throttling(self) -> bool:
        return self.passive_trip_c is not None and self.temp_c >= self.passive_trip_c


@dataclass(frozen=True)
class ThermalState:
    max_temp_c: float | None
    throttled: bool
    hot_zones: tuple[str, ...] = ()


def thermal_state(zones: list[ThermalZone]) -> ThermalState:
    if not zones:
        return ThermalState(None, False)
    hot = tuple(z.name for z in zones if z.throttling)
    return ThermalState(max(z.temp_c for z in zones), bool(hot), hot)


def read_thermal_zones(root: Path = Path("/sys/class/thermal")) -> list[ThermalZone]:
    """Each /sys/class/thermal/thermal_zone*: type, temp (millidegrees C), and the lowest passive trip."""
    zones = []
    for zone in sorted(root.glob("thermal_zone*")):
        try:
            name = (zone / "type").read_text().strip()
            temp = int((zone / "temp").read_text().strip()) / 1000
        except (OSError, ValueError):
            continue  # unreadable or a sensor that is off
        passive = []
        for trip_type in zone.glob("trip_point_*_type"):
            try:
                if trip_type.read_text().strip() == "passive":
                    trip_temp = trip_type.with_name(trip_type.name.replace("_type", "_temp"))
                    passive.append(int(trip_temp.read_text().strip()) / 1000)
            except (OSError, ValueError):
                continue
        zones.append(ThermalZone(name, temp, min(passive) if passive else None))
    return zones


@dataclass
class TegraStats:
    """One line of NVIDIA's `tegrastats` (JetPack 4 to 7 formats)."""

    ram_used_mb: int | None = None
    ram_total_mb: int | None = None
    cpu: list[tuple[int, int] | None] = field(default_factory=list)  # (load %, MHz) per core; None = off
    gpu_load_pct: int | None = None
    temps_c: dict[str, float] = field(default_factory=dict)
    power_mw: dict[str, int] = field(default_factory=dict)  # rail -> current draw

    @property
    def cores_online(self) -> int:
        return sum(1 for c in self.cpu if c is not None)


_RAM = re.compile(r"\bRAM (\d+)/(\d+)MB")
_CPU = re.compile(r"\bCPU \[([^\]]*)\]")
_GPU = re.compile(r"\bGR3D_FREQ (\d+)%")
_TEMP = re.compile(r"\b([A-Za-z][A-Za-z0-9_]*)@(-?\d+(?:\.\d+)?)C\b")
_RAIL = re.compile(r"\b((?:VDD|POM|VIN)_[A-Z0-9_]+) (\d+)(?:mW)?/(\d+)(?:mW)?")


def parse_tegrastats(line: str) -> TegraStats:
    stats = TegraStats()
    if m := _RAM.search(line):
        stats.ram_used_mb, stats.ram_total_mb = int(m.group(1)), int(m.group(2))
    if m := _CPU.search(line):
        for entry in m.group(1).split(","):
            load = re.match(r"(\d+)%@(\d+)", entry.strip())
            stats.cpu.append((int(load.group(1)), int(load.group(2))) if load else None)
    if m := _GPU.search(line):
        stats.gpu_load_pct = int(m.group(1))
    stats.temps_c = {name: float(value) for name, value in _TEMP.findall(line)}
    stats.power_mw = {rail: int(now) for rail, now, _avg in _RAIL.findall(line)}
    return stats
