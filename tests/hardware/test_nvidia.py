"""NVIDIA discrete GPU and Jetson parsers on real captures."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.hardware import nvidia


def query_gpu_section(text: str) -> str:
    """The `nvidia-smi --query-gpu=... --format=csv` block of an nvidia_gpu_exporter capture."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# idle :: query-gpu"))
    body = [line for line in lines[start:] if not line.startswith("#")]
    return "\n".join(line for line in body if line.strip())


def test_h100_from_query_gpu_csv(data: Path):
    gpus = nvidia.parse_nvidia_smi_csv(query_gpu_section(
        (data / "nvidia/nvidia-smi.linux-x86_64.nvidia-h100-80gb-hbm3.590.48.01.excerpt.txt").read_text()))
    assert len(gpus) == 1
    gpu = gpus[0]
    assert gpu.name == "NVIDIA H100 80GB HBM3"
    assert gpu.compute_capability == "9.0"
    assert gpu.memory_bytes == 81559 * 2**20
    assert gpu.unified is None


def test_rtx_4080_super_and_windows_rtx_2080_super(data: Path):
    linux = nvidia.parse_nvidia_smi_csv(query_gpu_section(
        (data / "nvidia/nvidia-smi.linux-x86_64.nvidia-geforce-rtx-4080-super.595.71.05.excerpt.txt").read_text()))
    assert [(g.name, g.compute_capability) for g in linux] == [("NVIDIA GeForce RTX 4080 SUPER", "8.9")]
    assert 15 * 2**30 < linux[0].memory_bytes <= 16 * 2**30
    windows = nvidia.parse_nvidia_smi_csv(query_gpu_section(
        (data / "nvidia/nvidia-smi.windows-x86_64.nvidia-geforce-rtx-2080-super.591.86.excerpt.txt").read_text()))
    assert [(g.name, g.compute_capability) for g in windows] == [("NVIDIA GeForce RTX 2080 SUPER", "7.5")]


def test_dgx_spark_gb10_memory_na_is_unified(data: Path):
    gpus = nvidia.parse_nvidia_smi_csv((data / "nvidia/nvidia-smi-query-gpu.gb10-dgx-spark.memory-NA.txt").read_text())
    assert len(gpus) == 1
    assert gpus[0].name == "NVIDIA GB10"
    assert gpus[0].memory_bytes is None and gpus[0].unified is True


def test_no_header_no_gpus():
    assert nvidia.parse_nvidia_smi_csv("") == []
    assert nvidia.parse_nvidia_smi_csv("No devices were found\n") == []


@pytest.mark.parametrize("name, model", [
    ("jetson/proc-device-tree-model.orin-nano-super.txt", "NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super"),
    ("jetson/proc-device-tree-model.orin-nx-devkit.txt", "NVIDIA Orin NX Developer Kit"),
    ("jetson/proc-device-tree-model.nano-devkit.txt", "NVIDIA Jetson Nano Developer Kit"),
])
def test_device_tree_model_with_and_without_trailing_nul(data: Path, name: str, model: str):
    printed = (data / name).read_bytes()
    assert nvidia.parse_device_tree_string(printed) == model
    assert nvidia.parse_device_tree_string(printed + b"\0") == model  # as the kernel stores it


def test_compatible_from_nul_separated_bytes(data: Path):
    # The capture is as printed (NULs invisible); the real file separates the same strings by NULs.
    printed = (data / "jetson/proc-device-tree-compatible.orin-nano-super.as-printed.txt").read_text()
    parts = ["nvidia,p3768-0000+p3767-0005-super", "nvidia,p3767-0005", "nvidia,tegra234"]
    assert "".join(parts) == printed
    raw = b"\0".join(p.encode() for p in parts) + b"\0"
    assert nvidia.parse_device_tree_compatible(raw) == parts
    assert nvidia.is_jetson("NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super", parts)


def test_raspberry_pi_is_not_a_jetson(data: Path):
    lines = (data / "raspberry-pi/proc-device-tree-compatible.pi5.raspberrypi-docs.txt").read_text().splitlines()[1:]
    raw = b"\0".join(line.encode() for line in lines if line)
    assert not nvidia.is_jetson("Raspberry Pi 5 Model B Rev 1.0", nvidia.parse_device_tree_compatible(raw))


def test_nv_tegra_release_versions(data: Path):
    assert nvidia.parse_nv_tegra_release((data / "jetson/nv_tegra_release.R36.3.0.agx-orin.txt").read_text()) == "R36.3.0"
    assert nvidia.parse_nv_tegra_release((data / "jetson/nv_tegra_release.R36.4.3.orin-nano-super.head1.txt").read_text()) == "R36.4.3"
    firsts = (data / "jetson/nv_tegra_release.first-lines.R32-R34-R35.jetson-containers.txt").read_text().splitlines()
    assert [nvidia.parse_nv_tegra_release(line) for line in firsts] == ["R32.7.1", "R34.1.1", "R35.2.1", "R35.3.1"]


def test_jtop_error_log_orin_nano(data: Path):
    text = (data / "jetson/jtop-error-log.orin-nano-devkit.R35.3.1.issue400.excerpt.txt").read_text()
    assert nvidia.parse_nv_tegra_release(text) == "R35.3.1"
    model = text.split("/sys/firmware/devicetree/base/model:\n", 1)[1].splitlines()[0]
    acc = nvidia.jetson_accelerator(model, "R35.3.1")
    assert acc.kind == "cuda" and acc.unified is True and acc.compute_capability == "8.7"
    assert acc.bandwidth_bytes_per_s == 68_000_000_000


def test_nvpmodel_power_mode(data: Path):
    assert nvidia.parse_nvpmodel_query((data / "jetson/nvpmodel-q.orin-nano-super.MAXN_SUPER.txt").read_text()) == "MAXN_SUPER"


@pytest.mark.parametrize("model, cc, tops", [
    ("NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super", "8.7", 67.0),
    ("NVIDIA Orin NX Developer Kit", "8.7", 100.0),
    ("NVIDIA Jetson AGX Orin Developer Kit", "8.7", 275.0),
    ("NVIDIA Jetson Xavier NX Developer Kit", "7.2", 21.0),
    ("NVIDIA Jetson Nano Developer Kit", "5.3", None),
    ("NVIDIA Jetson AGX Thor Developer Kit", "11.0", None),
])
def test_jetson_modules(model: str, cc: str, tops: float | None):
    module = nvidia.jetson_module(model)
    assert module is not None and module.compute_capability == cc and module.tops == tops
