"""Where each stage lands on real device specs (tests/data/specs), and why."""

from __future__ import annotations

import pytest

from assistant.catalog import load_catalog
from assistant.doctor import diagnose, recommended, stage_models
from assistant.hardware.spec import load_spec
from assistant.runtimes.registry import RUNTIMES, Installed, decide, has_build

SPEC = "tests/data/specs/{}.json"


def plan(name: str):
    hw = load_spec(SPEC.format(name))
    catalog = load_catalog()
    installed, install = recommended(hw)
    return diagnose(hw, catalog, installed, stage_models(hw, catalog, None), planned=True, install=install)


def where(report, stage):
    d = report.stages[stage]
    return d.runtime, d.device


@pytest.mark.parametrize("device, expected", [
    ("jetson-orin-nano-8gb-coral", {"llm": ("llama.cpp", "cuda"), "stt": ("faster-whisper", "cpu"),
                                    "wake_word": ("litert", "cpu"), "vad": ("onnxruntime", "cpu")}),
    ("jetson-agx-orin-64gb", {"llm": ("llama.cpp", "cuda"), "vision": ("onnxruntime", "cpu"),
                              "stt": ("faster-whisper", "cpu")}),
    ("raspberry-pi-5-8gb-coral", {"llm": ("llama.cpp", "cpu"), "wake_word": ("litert", "cpu")}),
    ("mac-m2-16gb", {"llm": ("llama.cpp", "metal"), "stt": ("faster-whisper", "cpu"), "tts": ("onnxruntime", "cpu")}),
    ("snapdragon-x-elite-16gb", {"llm": ("llama.cpp", "cpu"), "tts": ("onnxruntime", "cpu")}),
    ("core-ultra-7-155u-32gb", {"llm": ("llama.cpp", "cpu"), "stt": ("faster-whisper", "cpu")}),
    ("rtx-4090-desktop-64gb", {"llm": ("llama.cpp", "cuda"), "stt": ("faster-whisper", "cuda"), "vision": ("onnxruntime", "cuda"),
                               "tts": ("onnxruntime", "cuda"), "vad": ("onnxruntime", "cpu")}),
    ("plain-cpu-2core-24gb", {"llm": ("llama.cpp", "cpu"), "stt": ("faster-whisper", "cpu"),
                              "wake_word": ("litert", "cpu"), "tts": ("onnxruntime", "cpu")}),
])
def test_each_stage_lands_on_the_right_device(device, expected):
    report = plan(device)
    for stage, want in expected.items():
        assert where(report, stage) == want, (stage, report.stages[stage].reason)
    assert all(d.reason for d in report.stages.values())


def test_the_coral_is_passed_over_for_the_streaming_wake_word_with_the_reason():
    for device in ("raspberry-pi-5-8gb-coral", "jetson-orin-nano-8gb-coral"):
        d = plan(device).stages["wake_word"]
        tpu = [c for c in d.alternatives if c.device == "edgetpu"]
        assert tpu and "variable ops" in tpu[0].why_not
        assert "would rank higher" in d.reason
    assert not [c for c in plan("mac-m2-16gb").stages["wake_word"].alternatives if c.device == "edgetpu"]


def test_npus_need_a_build_made_for_them():
    d = plan("snapdragon-x-elite-16gb").stages["llm"]
    npu = [c for c in d.alternatives if c.device == "npu:QNNExecutionProvider"]
    assert npu and "no NPU (format@npu) build" in npu[0].why_not
    tts = [c for c in plan("snapdragon-x-elite-16gb").stages["tts"].alternatives
           if c.device == "npu:QNNExecutionProvider"]
    assert "no NPU (format@npu) build" in tts[0].why_not
    onnxruntime = next(r for r in RUNTIMES if r.name == "onnxruntime")
    assert has_build(onnxruntime, "npu:QNNExecutionProvider", frozenset({"onnx", "onnx@npu"}))
    assert has_build(onnxruntime, "npu:QNNExecutionProvider", frozenset({"onnx@npu:QNNExecutionProvider"}))
    assert not has_build(onnxruntime, "npu:QNNExecutionProvider", frozenset({"onnx@npu:OpenVINOExecutionProvider"}))
    assert has_build(onnxruntime, "cpu", frozenset({"onnx"})) and not has_build(onnxruntime, "cpu", frozenset({"onnx@npu"}))


def test_an_npu_build_in_the_catalog_moves_the_stage_to_the_npu():
    hw = load_spec(SPEC.format("snapdragon-x-elite-16gb"))
    installed, _ = recommended(hw)
    d = decide("tts", hw, installed, frozenset({"onnx", "onnx@npu"}), "some-voice")
    assert (d.runtime, d.device) == ("onnxruntime", "npu:QNNExecutionProvider")
    assert "Qualcomm Hexagon NPU" in d.reason
    d = decide("llm", hw, installed, frozenset({"gguf", "onnx-genai@npu"}), "some-llm")
    assert (d.runtime, d.device) == ("onnxruntime-genai", "npu:QNNExecutionProvider")
    d = decide("llm", load_spec(SPEC.format("plain-cpu-2core-24gb")), Installed(frozenset({"onnxruntime-genai"})),
               frozenset({"onnx-genai"}), "converted-folder")
    assert (d.runtime, d.device) == ("onnxruntime-genai", "cpu")


def test_install_steps_follow_the_hardware():
    assert any("GGML_CUDA" in s for s in plan("rtx-4090-desktop-64gb").install)
    assert any("GGML_METAL" in s for s in plan("mac-m2-16gb").install)
    assert any("onnxruntime-qnn" in s for s in plan("snapdragon-x-elite-16gb").install)
    assert any("onnxruntime-openvino" in s for s in plan("core-ultra-7-155u-32gb").install)
    assert any("libedgetpu" in s for s in plan("raspberry-pi-5-8gb-coral").install)
    assert any("Jetson" in s for s in plan("jetson-agx-orin-64gb").install)
    assert len(plan("plain-cpu-2core-24gb").install) == 1


def test_without_a_cuda_build_the_llm_stays_on_the_cpu_and_says_how_to_fix_it():
    hw = load_spec(SPEC.format("rtx-4090-desktop-64gb"))
    d = decide("llm", hw, Installed(frozenset({"llama.cpp"})), frozenset({"gguf"}), "m")
    assert (d.runtime, d.device) == ("llama.cpp", "cpu")
    assert "GGML_CUDA=on" in d.reason


@pytest.mark.parametrize("device_file, runtime, device, result, reason", [
    ("rtx-4090-desktop-64gb", None, "cpu", ("llama.cpp", "cpu"), "was asked for"),
    ("rtx-4090-desktop-64gb", "llama.cpp", "gpu", ("llama.cpp", "cuda"), "was asked for"),
    ("plain-cpu-2core-24gb", "llama.cpp", "cuda", (None, None), "this device has no cuda"),
    ("snapdragon-x-elite-16gb", "onnxruntime-genai", "npu", (None, None), "no NPU (format@npu) build"),
    ("mac-m2-16gb", "llama.cpp", "npu", (None, None), "llama.cpp runs on cuda, metal, cpu, not npu"),
    ("mac-m2-16gb", "faster-whisper", None, (None, None), "faster-whisper cannot run the llm stage"),
])
def test_overrides(device_file, runtime, device, result, reason):
    hw = load_spec(SPEC.format(device_file))
    installed, _ = recommended(hw)
    d = decide("llm", hw, installed, frozenset({"gguf"}), "m", runtime=runtime, device=device)
    assert (d.runtime, d.device) == result and reason in d.reason, d.reason


def test_unknown_runtime():
    hw = load_spec(SPEC.format("plain-cpu-2core-24gb"))
    with pytest.raises(ValueError, match="unknown runtime 'vllm'"):
        decide("llm", hw, Installed(frozenset()), frozenset({"gguf"}), "m", runtime="vllm")


def test_throttling_and_power_mode_are_warned_about():
    import dataclasses

    from assistant.hardware.spec import Power

    hw = load_spec(SPEC.format("jetson-orin-nano-super-8gb"))
    hw = dataclasses.replace(hw, power=Power(mode="15W", throttled=True, temperature_c=96.5))
    installed, _ = recommended(hw)
    report = diagnose(hw, load_catalog(), installed, stage_models(hw, load_catalog(), None), planned=True)
    assert any("throttled at 96 °C" in w or "throttled at 97 °C" in w for w in report.warnings)
    assert any("power mode 15W" in w for w in report.warnings)
