"""Live limits: tegrastats lines (real captures) and thermal zones (sysfs built from their readings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.hardware import load_spec, thermal
from assistant.hardware.spec import Power
from tests.conftest import SPECS


def first_line(data: Path, name: str) -> str:
    return (data / "jetson" / name).read_text().splitlines()[0]


@pytest.mark.parametrize("name, ram, cores, online, gpu, temps", [
    ("tegrastats.orin-nano-super-jp6.2-r36.4.3.txt", (2147, 7620), 6, 6, 0, {"tj": 48.625, "gpu": 48.625}),
    ("tegrastats.orin-nano-8gb.beszel-test-2024-11-15.txt", (6185, 7620), 6, 6, 63, {"tj": 53.968}),
    ("tegrastats.agx-orin-64gb.LLM_PIPELINE.excerpt.txt", (17953, 62841), 12, 8, 39, {"tj": 43.906}),
    ("tegrastats.agx-orin-jp7.2-r39.2.jetson_stats-test.txt", (20642, 62817), 12, 12, 12, {"cpu": 52.968}),
    ("tegrastats.nano-4gb-jp4.CSC2231.excerpt.txt", (936, 3964), 4, 4, 0, {"CPU": 27.5, "PMIC": 50.0}),
    ("tegrastats.xavier-nx-jp5.tegra_burn.excerpt.txt", (2274, 6834), 6, 4, 22, {"CPU": 40.0, "thermal": 37.85}),
    ("tegrastats.orin-nano.beszel-test-2025-06-18.txt", (3452, 7620), 6, 6, 0, {"tj": 50.25}),
])
def test_tegrastats_formats(data, name, ram, cores, online, gpu, temps):
    stats = thermal.parse_tegrastats(first_line(data, name))
    assert (stats.ram_used_mb, stats.ram_total_mb) == ram
    assert len(stats.cpu) == cores and stats.cores_online == online
    assert stats.gpu_load_pct == gpu
    for sensor, value in temps.items():
        assert stats.temps_c[sensor] == value
    assert all(not k.endswith("FREQ") for k in stats.temps_c)


def test_tegrastats_power_rails(data):
    orin = thermal.parse_tegrastats(first_line(data, "tegrastats.orin-nano-super-jp6.2-r36.4.3.txt"))
    assert orin.power_mw == {"VDD_IN": 4556, "VDD_CPU_GPU_CV": 483, "VDD_SOC": 1451}
    nano = thermal.parse_tegrastats(first_line(data, "tegrastats.nano-4gb-jp4.CSC2231.excerpt.txt"))
    assert nano.power_mw["POM_5V_IN"] == 920


def _zone(root: Path, i: int, name: str, temp_c: float, trips: list[tuple[str, float]]) -> None:
    zone = root / f"thermal_zone{i}"
    zone.mkdir(parents=True)
    (zone / "type").write_text(name + "\n")
    (zone / "temp").write_text(f"{int(temp_c * 1000)}\n")
    for j, (kind, t) in enumerate(trips):
        (zone / f"trip_point_{j}_type").write_text(kind + "\n")
        (zone / f"trip_point_{j}_temp").write_text(f"{int(t * 1000)}\n")


def test_thermal_zones_cool_and_throttling(tmp_path, data):
    # Readings from the Orin Nano Super capture; trip points as Orin's device tree sets them
    # (passive 99 C for sw throttling, critical 104.5 C).
    stats = thermal.parse_tegrastats(first_line(data, "tegrastats.orin-nano-super-jp6.2-r36.4.3.txt"))
    cool = tmp_path / "cool"
    for i, sensor in enumerate(("cpu", "gpu", "tj")):
        _zone(cool, i, f"{sensor}-thermal", stats.temps_c[sensor], [("passive", 99.0), ("critical", 104.5)])
    state = thermal.thermal_state(thermal.read_thermal_zones(cool))
    assert state.max_temp_c == pytest.approx(48.625) and not state.throttled
    hot = tmp_path / "hot"
    _zone(hot, 0, "cpu-thermal", 99.5, [("passive", 99.0), ("critical", 104.5)])
    _zone(hot, 1, "gpu-thermal", 90.0, [("passive", 99.0)])
    _zone(hot, 2, "board", 120.0, [("critical", 125.0)])  # no passive trip: never "throttling"
    state = thermal.thermal_state(thermal.read_thermal_zones(hot))
    assert state.throttled and state.hot_zones == ("cpu-thermal",) and state.max_temp_c == 120.0


def test_no_zones_means_unknown(tmp_path):
    assert thermal.thermal_state(thermal.read_thermal_zones(tmp_path)) == thermal.ThermalState(None, False)


def test_throttled_device_gets_lower_speed_estimates(catalog, tmp_path):
    from assistant.picker import Requirements, pick_model

    doc = json.loads((SPECS / "jetson-orin-nano-super-8gb.json").read_text())
    cool = pick_model(load_spec(SPECS / "jetson-orin-nano-super-8gb.json"), catalog, Requirements())
    doc["power"] = {"mode": "MAXN_SUPER", "throttled": True, "temperature_c": 99.5}
    (tmp_path / "hot.json").write_text(json.dumps(doc))
    hot_spec = load_spec(tmp_path / "hot.json")
    assert hot_spec.power == Power(mode="MAXN_SUPER", throttled=True, temperature_c=99.5)
    hot = pick_model(hot_spec, catalog, Requirements())
    assert hot.pick.tokens_per_s < cool.pick.tokens_per_s
    assert "throttled" in hot.pick.reason
