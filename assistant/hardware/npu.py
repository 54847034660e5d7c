"""NPUs reached through ONNX Runtime execution providers (Windows AI PCs, Ryzen AI on Linux).

An NPU is only reported when a provider that reaches it is really available in the installed
onnxruntime build; a name in a device list alone is not enough to run a model on it.
"""

from __future__ import annotations

import importlib.util
import re

from .spec import Accelerator

# provider -> the silicon it drives
NPU_PROVIDERS: dict[str, str] = {
    "QNNExecutionProvider": "Qualcomm Hexagon NPU (QNN)",
    "VitisAIExecutionProvider": "AMD Ryzen AI NPU (Vitis AI)",
    "OpenVINOExecutionProvider": "Intel NPU (OpenVINO)",
    "DmlExecutionProvider": "DirectML device (GPU or NPU)",
}


def parse_provider_names(text: str) -> list[str]:
    """The '...ExecutionProvider' names of a provider list, in order. onnxruntime's warning
    ("Specified provider 'X' is not in available provider names.Available providers: 'A, B'")
    names the requested provider first; only what follows "Available providers:" counts there."""
    marker = "Available providers:"
    if marker in text:
        text = text.rsplit(marker, 1)[1].splitlines()[0]
    seen: list[str] = []
    for name in re.findall(r"\b([A-Za-z]+ExecutionProvider)\b", text):
        if name not in seen:
            seen.append(name)
    return seen


def npu_accelerators(providers: list[str], openvino_devices: list[str] | None = None) -> list[Accelerator]:
    """Accelerators for the NPU-capable providers. OpenVINO also runs on CPU and GPU, so it counts
    as an NPU only when OpenVINO itself lists an 'NPU' device."""
    out = []
    for provider in providers:
        if provider not in NPU_PROVIDERS:
            continue
        if provider == "OpenVINOExecutionProvider" and "NPU" not in (openvino_devices or []):
            continue
        out.append(Accelerator(kind="npu", name=NPU_PROVIDERS[provider], unified=True, provider=provider))
    return out


def read_npus() -> list[Accelerator]:
    if importlib.util.find_spec("onnxruntime") is None:
        return []
    try:
        import onnxruntime

        providers = list(onnxruntime.get_available_providers())
    except Exception:
        return []
    devices: list[str] | None = None
    if "OpenVINOExecutionProvider" in providers and importlib.util.find_spec("openvino") is not None:
        try:
            import openvino

            devices = list(openvino.Core().available_devices)
        except Exception:
            devices = None
    return npu_accelerators(providers, devices)
