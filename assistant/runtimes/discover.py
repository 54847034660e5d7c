"""What runs on this machine: the runtimes that import, and what their builds can drive. The
boundary to the real libraries; each check is small and says where its answer comes from."""

from __future__ import annotations

import importlib
import importlib.util
import logging

from .registry import RUNTIMES, Installed

log = logging.getLogger(__name__)


def installed_runtimes() -> Installed:
    runtimes = frozenset(r.name for r in RUNTIMES if importlib.util.find_spec(r.module) is not None)
    caps: set[str] = set()
    for name, probe in _PROBES.items():
        if name in runtimes:
            try:
                caps |= {f"{name}:{device}" for device in probe()}
            except Exception as exc:  # noqa: BLE001 - a broken build is reported as unable, not fatal
                log.info("%s capability probe failed: %s", name, exc)
    return Installed(runtimes, frozenset(caps))


def _llama_cpp() -> set[str]:
    import platform

    import llama_cpp

    if not llama_cpp.llama_supports_gpu_offload():
        return set()
    # The same call answers for CUDA and Metal builds; the platform tells which one it is.
    return {"metal"} if platform.system() == "Darwin" else {"cuda"}


def _ort_devices(providers: list[str]) -> set[str]:
    out = set()
    for p in providers:
        if p == "CUDAExecutionProvider":
            out.add("cuda")
        elif p == "DmlExecutionProvider":
            out.add("dml")
        elif p == "CoreMLExecutionProvider":
            out.add("ane")
        elif p in ("QNNExecutionProvider", "OpenVINOExecutionProvider", "VitisAIExecutionProvider"):
            out.add(f"npu:{p}")
    return out


def _onnxruntime() -> set[str]:
    import onnxruntime

    return _ort_devices(onnxruntime.get_available_providers())


def _onnxruntime_genai() -> set[str]:
    import onnxruntime_genai as og

    checks = {"cuda": "is_cuda_available", "dml": "is_dml_available", "npu:QNNExecutionProvider": "is_qnn_available",
              "npu:OpenVINOExecutionProvider": "is_openvino_available"}
    return {device for device, fn in checks.items() if getattr(og, fn, lambda: False)()}


def _faster_whisper() -> set[str]:
    import ctranslate2

    return {"cuda"} if ctranslate2.get_cuda_device_count() > 0 else set()


def _openai_whisper() -> set[str]:
    import torch

    return {"cuda"} if torch.cuda.is_available() else set()


def _litert() -> set[str]:
    from ..speech.wakeword import edgetpu_delegate_error

    return {"edgetpu"} if edgetpu_delegate_error() is None else set()


def _coreml() -> set[str]:
    import platform

    return {"ane", "metal"} if platform.system() == "Darwin" else set()


_PROBES = {"llama.cpp": _llama_cpp, "onnxruntime": _onnxruntime, "onnxruntime-genai": _onnxruntime_genai,
           "faster-whisper": _faster_whisper, "openai-whisper": _openai_whisper, "litert": _litert,
           "coreml": _coreml}
