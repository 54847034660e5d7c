"""Which runtime and device each stage runs on: a pure scoring function over the stage, the
hardware spec, what is installed, and the model formats the catalog has for the stage's model.

In the spirit of llama.cpp's backend scores and Foundry Local's variant order: an NPU, then a GPU,
then the CPU, wherever the model has a build for it and the runtime can drive the device; the
tiny stages (wake word, VAD) stay on the CPU, where a transfer to an accelerator costs more than
the model, except the wake word on an Edge TPU, which exists for exactly that job.

Every candidate is either chosen or passed over with the reason; nothing is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..hardware.spec import HardwareSpec

STAGES = ("wake_word", "vad", "stt", "llm", "tts", "vision")


@dataclass(frozen=True)
class Runtime:
    name: str
    module: str  # found with importlib.util.find_spec, imported only by the stage that runs it
    stages: frozenset[str]
    formats: frozenset[str]  # model formats it loads
    devices: tuple[str, ...]  # device kinds it can drive, in its own order of preference
    os: frozenset[str] = frozenset({"linux", "darwin", "windows"})


# Device kinds: "cpu", "cuda", "metal", "ane", "edgetpu", and "npu:<ORT provider>".
RUNTIMES: tuple[Runtime, ...] = (
    Runtime("llama.cpp", "llama_cpp", frozenset({"llm", "vision"}), frozenset({"gguf"}), ("cuda", "metal", "cpu")),
    Runtime("onnxruntime-genai", "onnxruntime_genai", frozenset({"llm"}), frozenset({"onnx-genai"}),
            ("npu:QNNExecutionProvider", "npu:OpenVINOExecutionProvider", "npu:VitisAIExecutionProvider", "cuda",
             "dml", "cpu")),
    Runtime("coreml", "coremltools", frozenset({"llm"}), frozenset({"coreml"}), ("ane", "metal", "cpu"),
            os=frozenset({"darwin"})),
    Runtime("faster-whisper", "faster_whisper", frozenset({"stt"}), frozenset({"ctranslate2"}), ("cuda", "cpu")),
    Runtime("openai-whisper", "whisper", frozenset({"stt"}), frozenset({"pt"}), ("cuda", "cpu")),
    Runtime("onnxruntime", "onnxruntime", frozenset({"vad", "tts", "vision"}), frozenset({"onnx"}),
            ("npu:QNNExecutionProvider", "npu:OpenVINOExecutionProvider", "npu:VitisAIExecutionProvider", "cuda",
             "dml", "cpu")),
    Runtime("litert", "ai_edge_litert", frozenset({"wake_word", "vision"}), frozenset({"tflite", "tflite-edgetpu"}),
            ("edgetpu", "cpu")),
    Runtime("pymicro-wakeword", "pymicro_wakeword", frozenset({"wake_word"}), frozenset({"tflite"}), ("cpu",)),
)
RUNTIME_NAMES = tuple(r.name for r in RUNTIMES)

# Device preference (higher first), per stage. Tiny stages prefer the CPU over anything that
# needs a transfer; the Edge TPU exists for the wake word and detectors.
_DEVICE_SCORE = {"edgetpu": 400, "npu": 300, "cuda": 250, "metal": 240, "ane": 230, "dml": 200, "cpu": 100}
_TINY_STAGES = frozenset({"wake_word", "vad"})


@dataclass(frozen=True)
class Installed:
    """What can run here: importable runtimes, and what their builds can drive.

    ``capabilities`` holds "runtime:device" pairs beyond the CPU, e.g. "llama.cpp:cuda",
    "onnxruntime:npu:QNNExecutionProvider", "litert:edgetpu"."""

    runtimes: frozenset[str]
    capabilities: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Candidate:
    runtime: str
    device: str
    score: int
    why_not: str | None = None  # None: it can run


@dataclass(frozen=True)
class StageDecision:
    stage: str
    model: str | None
    runtime: str | None
    device: str | None
    reason: str
    alternatives: tuple[Candidate, ...] = field(default=())


def device_kinds(hw: HardwareSpec) -> list[str]:
    """The device kinds this hardware has, with a readable name for each."""
    kinds = []
    for acc in hw.accelerators:
        kind = f"npu:{acc.provider}" if acc.kind == "npu" and acc.provider else acc.kind
        if kind not in kinds:
            kinds.append(kind)
    if hw.os == "windows" and any(a.kind in ("cuda", "rocm", "vulkan") for a in hw.accelerators):
        kinds.append("dml")
    return kinds + ["cpu"]


def describe(device: str, hw: HardwareSpec) -> str:
    kind = device.split(":", 1)[0]
    for acc in hw.accelerators:
        if acc.kind == kind and (kind != "npu" or device == f"npu:{acc.provider}"):
            return acc.name
    return {"cpu": f"the CPU ({hw.cpu.cores} cores)", "dml": "the GPU through DirectML"}.get(device, device)


def decide(stage: str, hw: HardwareSpec, installed: Installed, formats: frozenset[str], model: str | None,
           *, runtime: str | None = None, device: str | None = None) -> StageDecision:
    """Rank every (runtime, device) pair for ``stage``; the best one that can run wins.

    ``formats``: the formats the catalog has for the stage's model (its own, plus variants).
    ``runtime`` / ``device``: the user's override; when it cannot run, the decision says why and
    runs nothing rather than something else."""
    if model is None:
        return StageDecision(stage, None, None, None, f"no {stage.replace('_', ' ')} model in the catalog fits")
    present = device_kinds(hw)
    candidates = []
    for rt in RUNTIMES:
        bases = {f.partition("@")[0] for f in formats}
        if stage not in rt.stages or (hw.os not in rt.os and runtime != rt.name and not rt.formats & bases):
            continue  # another OS's runtime is listed only when asked for, or when the model is in its format
        for dev in rt.devices:
            if dev not in present and (device is None or not device_matches(dev, device)):
                continue  # an absent device is listed only when the user asked for it
            why = _why_not(stage, rt, dev, hw, present, installed, formats)
            candidates.append(Candidate(rt.name, dev, _score(stage, dev), why))
    if runtime is not None or device is not None:
        return _override(stage, model, candidates, runtime, device, hw)
    runnable = sorted((c for c in candidates if c.why_not is None), key=lambda c: -c.score)
    if not runnable:
        return StageDecision(stage, model, None, None, "nothing installed here can run it: "
                             + "; ".join(f"{c.runtime} on {c.device}: {c.why_not}" for c in candidates),
                             tuple(candidates))
    best = runnable[0]
    others = tuple(c if c.why_not else Candidate(c.runtime, c.device, c.score,
                                                 f"ranks below {best.runtime} on {best.device}")
                   for c in candidates if c is not best)
    return StageDecision(stage, model, best.runtime, best.device, _reason(stage, best, hw, others), others)


def device_matches(candidate: str, asked: str) -> bool:
    """``--device npu`` matches any NPU provider; ``gpu`` matches CUDA, Metal and DirectML."""
    if asked == "gpu":
        return candidate in ("cuda", "metal", "dml")
    return candidate == asked or candidate.split(":")[0] == asked


def _override(stage: str, model: str, candidates: list[Candidate], runtime: str | None, device: str | None,
              hw: HardwareSpec) -> StageDecision:
    if runtime is not None and runtime not in RUNTIME_NAMES:
        raise ValueError(f"unknown runtime {runtime!r}; use one of {', '.join(RUNTIME_NAMES)}")
    asked = [c for c in candidates if (runtime is None or c.runtime == runtime)
             and (device is None or device_matches(c.device, device))]
    what = " on ".join(x for x in (runtime, device) if x)
    if not asked:
        rt = next((r for r in RUNTIMES if r.name == runtime), None)
        if rt is not None and stage in rt.stages and device is not None:
            why = f"{runtime} runs on {', '.join(d.split(':')[0] for d in dict.fromkeys(rt.devices))}, not {device}"
        else:
            why = f"{what} cannot run the {stage} stage"
        return StageDecision(stage, model, None, None, why, tuple(candidates))
    ok = sorted((c for c in asked if c.why_not is None), key=lambda c: -c.score)
    if not ok:
        first = asked[0]
        return StageDecision(stage, model, None, None, f"{what} was asked for, but {first.why_not}", tuple(candidates))
    best = ok[0]
    return StageDecision(stage, model, best.runtime, best.device,
                         f"{what} was asked for: {best.runtime} on {describe(best.device, hw)}",
                         tuple(c for c in candidates if c is not best))


def _score(stage: str, device: str) -> int:
    kind = device.split(":")[0]
    if stage in _TINY_STAGES and kind not in ("cpu", "edgetpu"):
        return 50  # below the CPU: a transfer costs more than these models
    return _DEVICE_SCORE.get(kind, 0)


def _why_not(stage: str, rt: Runtime, device: str, hw: HardwareSpec, present: list[str], installed: Installed,
             formats: frozenset[str]) -> str | None:
    if hw.os not in rt.os:
        return f"{rt.name} runs only on {', '.join(sorted(rt.os))}"
    if device != "cpu" and device not in present:
        return f"this device has no {device.split(':', 1)[-1] if device.startswith('npu:') else device}"
    if rt.name not in installed.runtimes:
        return f"{rt.name} is not installed"
    if device != "cpu" and f"{rt.name}:{device}" not in installed.capabilities:
        return _missing_build(rt.name, device)
    if not has_build(rt, device, formats):
        if stage == "wake_word" and device == "edgetpu":
            return ("the streaming wake-word models keep state in variable ops the Edge TPU compiler does not map; "
                    "an *_edgetpu.tflite build is needed")
        have = ", ".join(sorted(formats)) or "no file"
        kind = device.split(":")[0]
        wanted = "/".join(sorted(f for f in rt.formats if f != "tflite-edgetpu"))
        if kind in DEVICE_BUILDS:
            wanted = DEVICE_BUILDS[kind]
        return f"the catalog has no {wanted} build of this model (it has {have})"
    return None


# Devices that run only builds made for them: an NPU takes a quantized static-shape ONNX build
# (a catalog variant tagged "@npu", e.g. "onnx-genai@npu"), the Edge TPU a compiled TFLite file.
DEVICE_BUILDS = {"npu": "NPU (format@npu)", "edgetpu": "tflite-edgetpu"}


def has_build(rt: Runtime, device: str, formats: frozenset[str]) -> bool:
    """Whether the model exists in a format ``rt`` loads, built for ``device``. A format may be
    tagged with the device it was built for: "onnx-genai@npu", "onnx@npu:QNNExecutionProvider"."""
    kind = device.split(":")[0]
    for fmt in formats:
        base, _, tag = fmt.partition("@")
        if base not in rt.formats:
            continue
        if kind == "edgetpu":
            if base == "tflite-edgetpu":
                return True
        elif base == "tflite-edgetpu":
            continue
        elif kind == "npu":
            if tag in ("npu", device):
                return True
        elif not tag or tag == kind:
            return True
    return False


def _missing_build(runtime: str, device: str) -> str:
    return {
        ("llama.cpp", "cuda"): "this llama.cpp build has no CUDA (rebuild: CMAKE_ARGS=\"-DGGML_CUDA=on\" scripts/setup.sh)",
        ("llama.cpp", "metal"): "this llama.cpp build has no Metal (rebuild: CMAKE_ARGS=\"-DGGML_METAL=on\" scripts/setup.sh)",
        ("faster-whisper", "cuda"): "CTranslate2 sees no CUDA device (its aarch64 wheels are CPU-only; on Jetson build it with CUDA)",
        ("litert", "edgetpu"): "libedgetpu is not installed (Coral's runtime: libedgetpu1-std)",
    }.get((runtime, device), f"no {runtime} build that drives {device} is installed")


def _reason(stage: str, best: Candidate, hw: HardwareSpec, others: tuple[Candidate, ...]) -> str:
    where = describe(best.device, hw)
    if best.device == "cpu":
        better = [c for c in others if c.score > best.score and c.why_not and "not in this device" not in c.why_not]
        if stage in _TINY_STAGES and not better:
            return f"{best.runtime} on {where}: a model this small runs fastest where the audio already is"
        if better:
            return f"{best.runtime} on {where}: {better[0].runtime} on {better[0].device} would rank higher, but {better[0].why_not}"
        return f"{best.runtime} on {where}: the only device here"
    return f"{best.runtime} on {where}: the fastest device here that has a build of the model"
