"""`assistant doctor`: for each stage, the runtime and device it lands on, why, what was passed
over and why, and what to install to do better. For this machine (what really imports) or, with
a hardware spec, for another device as if its recommended extras were installed."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .catalog import FACE_DETECTOR, IMAGE_CLASSIFIER, OBJECT_DETECTOR, OCR, Catalog
from .hardware.spec import HardwareSpec
from .runtimes.registry import STAGES, Installed, StageDecision, decide, device_kinds

SCHEMA_ID = "assistant.doctor/1"
# The catalog kind of each stage's model; the LLM stage takes the picker's choice.
STAGE_KINDS = {"wake_word": "wake_word", "vad": "vad", "stt": "stt", "tts": "tts"}
# The vision stage: a chat model with a projector sees images itself (llama.cpp); for a text-only
# one the detectors do, and the object detector stands for them in the table (the others are named
# in its reason: the classifier and OCR share its runtime, the face model runs on LiteRT).


@dataclass
class Report:
    hardware: HardwareSpec
    stages: dict[str, StageDecision]
    install: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    planned: bool = False  # True: for a spec file, assuming the recommended extras

    def to_document(self) -> dict:
        return {"schema": SCHEMA_ID, "hardware": self.hardware.to_document(), "planned": self.planned,
                "stages": {name: {"runtime": d.runtime, "device": d.device, "model": d.model, "reason": d.reason,
                                  "alternatives": [{"runtime": c.runtime, "device": c.device, "why_not": c.why_not}
                                                   for c in d.alternatives]}
                           for name, d in self.stages.items()},
                "install": self.install, "warnings": self.warnings}


@dataclass(frozen=True)
class Step:
    command: str
    provides: frozenset[str]  # runtimes and "runtime:device" capabilities it installs


def recommended_steps(hw: HardwareSpec) -> list[Step]:
    """What a user of this device should install, and what each step makes runnable. Pure."""
    kinds = device_kinds(hw)
    steps = [Step("scripts/setup.sh   # llama.cpp (CPU), Whisper, Piper, the wake word and VAD",
                  frozenset({"llama.cpp", "faster-whisper", "onnxruntime", "litert", "pymicro-wakeword"}))]
    if "cuda" in kinds:
        steps.append(Step('CMAKE_ARGS="-DGGML_CUDA=on" scripts/setup.sh   # llama.cpp with CUDA',
                          frozenset({"llama.cpp:cuda"})))
        if hw.arch in ("x86_64", "amd64"):
            steps.append(Step("pip install onnxruntime-gpu   # Piper on the GPU (CTranslate2's x86 wheel has CUDA)",
                              frozenset({"onnxruntime:cuda", "faster-whisper:cuda"})))
        else:
            steps.append(Step("# Jetson: CTranslate2 and onnxruntime-gpu with CUDA come from NVIDIA's Jetson builds, "
                              "not PyPI; until then Whisper and Piper run on the CPU", frozenset()))
    if "metal" in kinds:
        steps.append(Step('CMAKE_ARGS="-DGGML_METAL=on" scripts/setup.sh   # llama.cpp with Metal',
                          frozenset({"llama.cpp:metal"})))
    if "ane" in kinds:
        steps.append(Step("pip install coremltools   # Core ML conversion for the Neural Engine",
                          frozenset({"coreml", "coreml:ane", "coreml:metal"})))
    packages = {"QNNExecutionProvider": "pip install onnxruntime-qnn onnxruntime-genai   # the Hexagon NPU (QNN)",
                "OpenVINOExecutionProvider": "pip install onnxruntime-openvino onnxruntime-genai   # the Intel NPU",
                "VitisAIExecutionProvider": "# the Ryzen AI NPU: AMD's Ryzen AI Software (VitisAI EP, not on PyPI), "
                                            "then pip install onnxruntime-genai"}
    for kind in (k for k in kinds if k.startswith("npu:")):
        provider = kind.split(":", 1)[1]
        steps.append(Step(packages.get(provider, f"# an ONNX Runtime build with {provider}"),
                          frozenset({"onnxruntime-genai", f"onnxruntime:{kind}", f"onnxruntime-genai:{kind}"})))
    if "edgetpu" in kinds:
        steps.append(Step("apt install libedgetpu1-std   # Coral's Edge TPU runtime (Coral's apt repository)",
                          frozenset({"litert:edgetpu"})))
    return steps


def recommended(hw: HardwareSpec) -> tuple[Installed, list[str]]:
    """What would run on this device once its recommended steps are done, and the steps."""
    steps = recommended_steps(hw)
    provided = frozenset().union(*(s.provides for s in steps))
    runtimes = frozenset(p for p in provided if ":" not in p)
    return Installed(runtimes, provided - runtimes), [s.command for s in steps]


def stage_formats(catalog: Catalog, model_id: str | None) -> frozenset[str]:
    if model_id is None:
        return frozenset()
    return catalog.get(model_id).formats


def diagnose(hw: HardwareSpec, catalog: Catalog, installed: Installed, models: dict[str, str | None],
             *, planned: bool = False, install: list[str] | None = None,
             overrides: dict[str, tuple[str | None, str | None]] | None = None) -> Report:
    """``models``: the model id of each stage (None when none fits, or none is installed on this
    machine). ``overrides``: stage -> (runtime, device) the user asked for. Pure."""
    stages = {}
    for stage in STAGES:
        model = models.get(stage)
        runtime, device = (overrides or {}).get(stage, (None, None))
        decision = decide(stage, hw, installed, stage_formats(catalog, model), model, runtime=runtime, device=device)
        if model is None and not planned:
            decision = replace(decision, reason=f"no installed {stage} model fits here; "
                                                "`assistant pick-model` names one to pull")
        if stage == "vision" and model is not None and catalog.get(model).kind == OBJECT_DETECTOR:
            extra = detectors_note(catalog, decision)
            decision = replace(decision, reason=f"{decision.reason}; {extra}" if extra else decision.reason)
        stages[stage] = decision
    warnings = []
    if hw.power is not None and hw.power.throttled:
        temp = f" at {hw.power.temperature_c:.0f} °C" if hw.power.temperature_c is not None else ""
        warnings.append(f"the device is thermally throttled{temp}: expect lower speeds until it cools")
    if hw.power is not None and hw.power.mode and "MAXN" not in hw.power.mode.upper():
        warnings.append(f"power mode {hw.power.mode} caps the clocks; `sudo nvpmodel -m 0` selects the fastest")
    return Report(hw, stages, install or [], warnings, planned)


def stage_models(hw: HardwareSpec, catalog: Catalog, installed_files: dict | None) -> dict[str, str | None]:
    """The model of each stage: the catalog defaults of the speech stages, the picker's choice for
    chat (installed models only when ``installed_files`` is given), and the OCR of the vision stage."""
    from .picker import Requirements, pick_model

    models: dict[str, str | None] = {}
    for stage, kind in STAGE_KINDS.items():
        spec = catalog.default_of(kind)
        models[stage] = spec.id if spec else None
    plan = pick_model(hw, catalog, Requirements(installed_only=installed_files is not None), installed_files or {})
    models["llm"] = plan.pick.model.id if plan.pick else None
    if plan.pick is not None and plan.pick.model.has_vision:
        models["vision"] = plan.pick.model.id
    else:
        detector = catalog.default_of(OBJECT_DETECTOR)
        models["vision"] = detector.id if detector else None
    return models


def detectors_note(catalog: Catalog, decision: StageDecision) -> str:
    """Where the vision stage's other detectors run, beside the object detector's decision."""
    same = [m.id for m in (catalog.default_of(IMAGE_CLASSIFIER), catalog.default_of(OCR)) if m is not None]
    faces = catalog.default_of(FACE_DETECTOR)
    note = []
    if same and decision.runtime:
        note.append(f"{' and '.join(same)} run there too")
    if faces is not None:
        note.append(f"{faces.id} (faces) runs on litert, cpu")
    return "; ".join(note)


def run_doctor(hardware_file=None) -> Report:
    """This machine (what really imports here), or the device of a spec file (planned)."""
    from .catalog import load_catalog
    from .hardware import load_spec, probe

    catalog = load_catalog()
    if hardware_file is not None:
        hw = load_spec(hardware_file)
        installed, install = recommended(hw)
        return diagnose(hw, catalog, installed, stage_models(hw, catalog, None), planned=True, install=install)
    from .runtimes.discover import installed_runtimes
    from .store import installed_files

    hw = probe()
    installed = installed_runtimes()
    have = installed.runtimes | installed.capabilities
    report = diagnose(hw, catalog, installed, stage_models(hw, catalog, installed_files(catalog)))
    report.install = [s.command for s in recommended_steps(hw) if not s.provides <= have]
    return report
