"""NPU detection from ONNX Runtime provider lists, on real captures."""

from __future__ import annotations

from pathlib import Path

from assistant.hardware import npu


def providers(data: Path, name: str) -> list[str]:
    return npu.parse_provider_names((data / name).read_text())


def test_qnn_from_onnxruntime_warning(data: Path):
    found = providers(data, "npu/onnxruntime-warning.available-providers-incl-QNN.olive-issue2085.txt")
    # The warning names the requested CUDA provider first; only the available list counts.
    assert found == ["QNNExecutionProvider", "AzureExecutionProvider", "CPUExecutionProvider"]
    accs = npu.npu_accelerators(found)
    assert [(a.kind, a.provider) for a in accs] == [("npu", "QNNExecutionProvider")]


def test_ryzen_ai_vitis_and_directml(data: Path):
    found = providers(data, "npu/ryzen-ai.available-execution-providers.vitis-ai-issue1512.txt")
    assert found == ["VitisAIExecutionProvider", "DmlExecutionProvider", "CPUExecutionProvider"]
    assert [a.provider for a in npu.npu_accelerators(found)] == ["VitisAIExecutionProvider", "DmlExecutionProvider"]


def test_ryzen_ai_without_vitis_has_no_npu(data: Path):
    found = providers(data, "npu/ryzen-ai.quicktest-vitisai-missing.ryzenai-sw-issue304.txt")
    assert found == ["AzureExecutionProvider", "CPUExecutionProvider"]
    assert npu.npu_accelerators(found) == []


def test_directml_provider_list(data: Path):
    found = providers(data, "npu/directml.valueerror-available-providers.onnxruntime-issue5617.txt")
    assert set(found) == {"DmlExecutionProvider", "CPUExecutionProvider"}


def test_openvino_counts_only_with_an_npu_device():
    assert npu.npu_accelerators(["OpenVINOExecutionProvider", "CPUExecutionProvider"], ["CPU", "GPU"]) == []
    [acc] = npu.npu_accelerators(["OpenVINOExecutionProvider"], ["CPU", "GPU", "NPU"])
    assert acc.provider == "OpenVINOExecutionProvider"
