"""Apple silicon sysctl parser on real captures."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.hardware import apple


@pytest.mark.parametrize("name, chip, memory, bandwidth", [
    ("apple/sysctl.m2-monterey.archspec.txt", "Apple M2", 16 * 2**30, 100e9),
    ("apple/sysctl.m1-pro-monterey.archspec.txt", "Apple M1 Pro", 16 * 2**30, 200e9),
    ("apple/sysctl.m3-max-sequoia.archspec.txt", "Apple M3 Max", 36 * 2**30, 300e9),
    ("apple/sysctl.m4-max-sequoia.archspec.txt", "Apple M4 Max", 64 * 2**30, 410e9),
])
def test_chip_memory_and_bandwidth(data: Path, name: str, chip: str, memory: int, bandwidth: float):
    facts = apple.parse_sysctl((data / name).read_text())
    assert facts.chip == chip
    assert facts.memory_bytes == memory
    assert not facts.translated
    assert "neon" in facts.features and "dotprod" in facts.features
    assert apple.apple_bandwidth(facts) == int(bandwidth)
    metal, ane = apple.apple_accelerators(facts)
    assert (metal.kind, metal.unified, ane.kind) == ("metal", True, "ane")


def test_m2_core_split(data: Path):
    facts = apple.parse_sysctl((data / "apple/sysctl.m2-monterey.archspec.txt").read_text())
    assert (facts.logical_cpus, facts.performance_cores, facts.efficiency_cores) == (8, 4, 4)


def test_early_big_sur_generic_brand_is_not_guessed(data: Path):
    facts = apple.parse_sysctl((data / "apple/sysctl.m1-bigsur.brand-Apple-processor.archspec.txt").read_text())
    assert facts.chip is None
    assert apple.apple_bandwidth(facts) is None
    assert apple.apple_accelerators(facts)[0].name == "Apple silicon GPU"


def test_rosetta_process_is_detected(data: Path):
    facts = apple.parse_sysctl((data / "apple/sysctl.m1-rosetta2-x86_64-process.monterey.archspec.txt").read_text())
    assert facts.translated
    assert facts.chip == "Apple M1"
