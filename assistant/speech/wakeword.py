"""Wake word: microWakeWord models streamed in 10 ms steps, on the CPU or a Coral Edge TPU.

Audio → micro-frontend features (40 bins every 10 ms, the same frontend the models were trained
on) → the TFLite model every few steps → a sliding mean of its probabilities → a detection, then
a refractory period so one utterance gives one event.

Engines: LiteRT (``ai-edge-litert``) on the CPU, or with the Edge TPU delegate for a model built
by ``edgetpu_compiler``; pymicro-wakeword's own TFLite runtime when LiteRT is not installed. The
streaming models that pymicro-wakeword ships keep their state in resource variables
(VAR_HANDLE / READ_VARIABLE / ASSIGN_VARIABLE), which the Edge TPU compiler does not map, so on a
Coral they still run on the CPU and the reason says so.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import logging
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MissingDependencyError, ModelFileError
from . import SAMPLE_RATE

log = logging.getLogger(__name__)

BUILTIN_WAKE_WORDS = ("okay_nabu", "hey_jarvis", "alexa", "hey_mycroft")
VARIABLE_OPS = frozenset({"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE"})
EDGETPU_OP = b"edgetpu-custom-op"
# Where libedgetpu is called on each platform (Coral's runtime packages install these).
EDGETPU_LIBRARY = {"linux": "libedgetpu.so.1", "darwin": "libedgetpu.1.dylib", "win32": "edgetpu.dll"}


@dataclass(frozen=True)
class WakeWordModel:
    name: str  # "okay_nabu", or the file's stem for a custom model
    phrase: str
    path: Path
    cutoff: float  # mean probability above which it fires
    window: int  # probabilities averaged


@dataclass(frozen=True)
class EngineChoice:
    engine: str  # "edgetpu", "litert-cpu" or "pymicro-cpu"
    reason: str


@dataclass(frozen=True)
class Detection:
    word: str
    t: float  # seconds into the audio, at the end of the frame that fired
    probability: float


def builtin_models_dir() -> Path:
    found = importlib.util.find_spec("pymicro_wakeword")
    if found is None or not found.submodule_search_locations:
        raise MissingDependencyError("the wake word needs the Python package 'pymicro-wakeword'; install it with "
                                     "pip install 'assistant[speech]'")
    return Path(next(iter(found.submodule_search_locations))) / "models"


def load_model(name_or_path: str, cutoff: float | None = None, window: int | None = None) -> WakeWordModel:
    """A built-in wake word by name (okay_nabu, hey_jarvis, alexa, hey_mycroft) or a ``.tflite``
    path, with its microWakeWord JSON beside it when there is one (``model.json`` or ``model.tflite.json``)."""
    key = name_or_path.lower().replace(" ", "_").replace("-", "_")
    if key in BUILTIN_WAKE_WORDS:
        config_path = builtin_models_dir() / f"{key}.json"
        path = config_path.with_suffix(".tflite")
    else:
        path = Path(name_or_path).expanduser()
        if path.suffix != ".tflite":
            raise ModelFileError(f"unknown wake word {name_or_path!r}; use one of {', '.join(BUILTIN_WAKE_WORDS)} "
                                 "or a .tflite file")
        if not path.is_file():
            raise ModelFileError(f"wake-word model {path} does not exist")
        config_path = next((p for p in (path.with_suffix(".json"), path.with_name(path.name + ".json"))
                            if p.is_file()), None)
    config = json.loads(config_path.read_text()) if config_path is not None else {}
    micro = config.get("micro", {})
    return WakeWordModel(name=path.stem if key not in BUILTIN_WAKE_WORDS else key,
                         phrase=config.get("wake_word", path.stem.replace("_", " ")), path=path,
                         cutoff=cutoff if cutoff is not None else float(micro.get("probability_cutoff", 0.9)),
                         window=window if window is not None else int(micro.get("sliding_window_size", 5)))


def model_ops(path: Path) -> tuple[frozenset[str], bool]:
    """The builtin op names a TFLite model uses (through LiteRT when installed) and whether it was
    compiled for the Edge TPU (its graph then holds the ``edgetpu-custom-op``)."""
    data = path.read_bytes()
    compiled = EDGETPU_OP in data
    ops: frozenset[str] = frozenset()
    if importlib.util.find_spec("ai_edge_litert") is not None and not compiled:
        interpreter = _interpreter(path)
        ops = frozenset(op["op_name"] for op in interpreter._get_ops_details())
    else:
        # LiteRT absent (or it cannot open a compiled model without the delegate): the op names
        # are strings in the flatbuffer only for custom ops, so look for the variable ops' names.
        ops = frozenset(op for op in VARIABLE_OPS if op.encode() in data)
    return ops, compiled


def choose_engine(requested: str, ops: frozenset[str], compiled_for_tpu: bool, coral_found: bool,
                  delegate_error: str | None, litert_installed: bool) -> EngineChoice:
    """Where the wake word runs, and why. Pure: the caller probes the facts.

    ``requested`` is "auto", "cpu" or "edgetpu"; a TPU that cannot be used falls back to the CPU
    with the reason (the caller prints it), unless the model only runs on the TPU."""
    cpu = "litert-cpu" if litert_installed else "pymicro-cpu"
    if requested == "cpu":
        if compiled_for_tpu:
            raise ModelFileError("this wake-word model was compiled for the Edge TPU and cannot run on the CPU; "
                                 "use the model it was compiled from, or --wake-engine edgetpu")
        return EngineChoice(cpu, "the CPU was asked for")
    why_not: str | None = None
    if ops & VARIABLE_OPS:
        why_not = ("this streaming microWakeWord model keeps its state in variable ops "
                   f"({', '.join(sorted(ops & VARIABLE_OPS))}) that the Edge TPU compiler does not map; "
                   "give a model built with edgetpu_compiler (*_edgetpu.tflite) to use the Coral")
    elif not compiled_for_tpu:
        why_not = "the model is not compiled for the Edge TPU (run edgetpu_compiler on it)"
    elif not coral_found:
        why_not = "no Coral Edge TPU was found (USB 1a6e:089a / 18d1:9302, or /dev/apex_N)"
    elif not litert_installed:
        why_not = "the Edge TPU is reached through ai-edge-litert, which is not installed (pip install ai-edge-litert)"
    elif delegate_error:
        why_not = f"the Edge TPU runtime could not be loaded ({delegate_error}); install libedgetpu"
    if why_not is None:
        return EngineChoice("edgetpu", "a Coral Edge TPU is present and the model is compiled for it")
    if compiled_for_tpu:
        raise ModelFileError(f"this wake-word model only runs on an Edge TPU, and {why_not}")
    if requested == "edgetpu":
        return EngineChoice(cpu, f"running on the CPU instead of the Edge TPU: {why_not}")
    return EngineChoice(cpu, f"CPU: {why_not}" if coral_found else "CPU (no Coral Edge TPU found)")


def edgetpu_delegate_error() -> str | None:
    """None when libedgetpu loads as a LiteRT delegate; else the loader's message."""
    import sys

    if importlib.util.find_spec("ai_edge_litert") is None:
        return "ai-edge-litert is not installed"
    library = EDGETPU_LIBRARY.get(sys.platform, "libedgetpu.so.1")
    try:
        ctypes.CDLL(library)  # first, so a missing library is not reported by LiteRT's half-made Delegate
        from ai_edge_litert.interpreter import load_delegate

        load_delegate(library)
    except (OSError, ValueError, RuntimeError) as exc:
        return str(exc)
    return None


def _interpreter(path: Path, delegate: str | None = None):
    """A LiteRT interpreter without its default XNNPACK delegate: these models are tiny, and
    XNNPACK only adds start-up time and a line on stderr."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType, load_delegate

    delegates = [load_delegate(delegate)] if delegate else None
    return Interpreter(model_path=str(path), experimental_delegates=delegates, num_threads=1,
                       experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)


class _LiteRtRunner:
    """One TFLite interpreter (LiteRT), optionally on the Edge TPU delegate."""

    def __init__(self, path: Path, delegate: str | None = None) -> None:
        self.interpreter = _interpreter(path, delegate)
        self.interpreter.allocate_tensors()
        inp, out = self.interpreter.get_input_details()[0], self.interpreter.get_output_details()[0]
        self.input_index, self.output_index = inp["index"], out["index"]
        self.input_shape = tuple(int(d) for d in inp["shape"])
        self.input_dtype, (self.in_scale, self.in_zero) = inp["dtype"], inp["quantization"]
        self.output_dtype, (self.out_scale, self.out_zero) = out["dtype"], out["quantization"]

    def run(self, features: np.ndarray) -> float:
        x = features.reshape(self.input_shape)
        if self.in_scale:
            x = np.round(x / self.in_scale + self.in_zero)
            info = np.iinfo(self.input_dtype)
            x = np.clip(x, info.min, info.max)
        self.interpreter.set_tensor(self.input_index, x.astype(self.input_dtype))
        self.interpreter.invoke()
        y = self.interpreter.get_tensor(self.output_index).astype(np.float32).reshape(-1)[0]
        return float((y - self.out_zero) * self.out_scale) if self.out_scale else float(y)


class _PyMicroRunner:
    """pymicro-wakeword's bundled TFLite C library, when LiteRT is not installed."""

    def __init__(self, path: Path) -> None:
        from pymicro_wakeword.microwakeword import _MODULE_LIB_DIR, MicroWakeWord

        lib = next(iter(_MODULE_LIB_DIR.glob("*tensorflowlite_c.*")), None)
        if lib is None:
            raise MissingDependencyError("pymicro-wakeword has no TFLite library for this platform; "
                                         "pip install ai-edge-litert")
        self._mww = MicroWakeWord(path.stem, wake_word=path.stem, tflite_model=path, probability_cutoff=1.0,
                                  sliding_window_size=1, trained_languages=[], libtensorflowlite_c_path=lib)
        self.input_shape = (1, self._mww.stride, 40)

    def run(self, features: np.ndarray) -> float:
        mww = self._mww
        x = np.round(features.reshape(self.input_shape) / mww.input_scale + mww.input_zero_point)
        x = x.astype(mww.input_dtype)
        mww.lib.TfLiteTensorCopyFromBuffer(mww.input_tensor, x.ctypes.data_as(ctypes.c_void_p), x.nbytes)
        mww.lib.TfLiteInterpreterInvoke(mww.interpreter)
        out = np.empty(1, dtype=mww.output_dtype)
        mww.lib.TfLiteTensorCopyToBuffer(mww.output_tensor, out.ctypes.data_as(ctypes.c_void_p), out.nbytes)
        return float((out.astype(np.float32)[0] - mww.output_zero_point) * mww.output_scale)


class WakeWordDetector:
    """Feed 10 ms frames of 16 kHz int16; returns a Detection when the wake word fires.

    Streaming models (with variable ops) take the newest ``stride`` feature frames per call;
    window models (an Edge TPU build) take the last N frames every ``hop`` frames."""

    def __init__(self, model: WakeWordModel, engine: EngineChoice, *, refractory_s: float = 2.0, hop: int = 3,
                 streaming: bool = True) -> None:
        from pymicro_features import MicroFrontend

        self.model, self.engine, self.refractory_s = model, engine, refractory_s
        if engine.engine == "pymicro-cpu":
            self._runner = _PyMicroRunner(model.path)
        else:
            import sys

            delegate = EDGETPU_LIBRARY.get(sys.platform) if engine.engine == "edgetpu" else None
            self._runner = _LiteRtRunner(model.path, delegate)
        self._frames_per_call = self._runner.input_shape[1]
        self._streaming, self._hop = streaming, hop if not streaming else self._frames_per_call
        self._frontend = MicroFrontend()
        self._features: deque[np.ndarray] = deque(maxlen=self._frames_per_call)
        self._since_call = 0
        self._probs: deque[float] = deque(maxlen=model.window)
        self._samples = 0
        self._quiet_until = 0.0
        self.suppressed = False  # set while the assistant speaks, unless barge-in is on

    @property
    def t(self) -> float:
        return self._samples / SAMPLE_RATE

    def process(self, frame: np.ndarray) -> Detection | None:
        self._samples += len(frame)
        result = self._frontend.process_samples(frame.astype("<i2").tobytes())
        if not result.features:
            return None
        self._features.append(np.asarray(result.features, np.float32))
        self._since_call += 1
        if len(self._features) < self._frames_per_call or self._since_call < self._hop:
            return None
        self._since_call = 0
        self._probs.append(self._runner.run(np.stack(self._features)))
        if self._streaming:
            self._features.clear()
        if len(self._probs) < self._probs.maxlen:
            return None
        mean = float(np.mean(self._probs))
        if mean <= self.model.cutoff or self.t < self._quiet_until or self.suppressed:
            return None
        self._quiet_until = self.t + self.refractory_s
        self._probs.clear()
        return Detection(self.model.name, round(self.t, 3), round(mean, 3))

    def quiet_for(self, seconds: float) -> None:
        """No detections for ``seconds`` of audio from now (e.g. while a turn records)."""
        self._quiet_until = max(self._quiet_until, self.t + seconds)


def open_detector(name_or_path: str = "okay_nabu", *, requested: str = "auto", cutoff: float | None = None,
                  window: int | None = None, refractory_s: float = 2.0, coral_found: bool | None = None
                  ) -> WakeWordDetector:
    """Load a wake word and put it on the best engine this machine has; the choice and its reason
    are on ``detector.engine``."""
    if requested not in ("auto", "cpu", "edgetpu"):
        raise ModelFileError(f"unknown wake-word engine {requested!r}; use auto, cpu or edgetpu")
    if importlib.util.find_spec("pymicro_features") is None:
        raise MissingDependencyError("the wake word needs 'pymicro-wakeword'; install it with "
                                     "pip install 'assistant[speech]'")
    model = load_model(name_or_path, cutoff, window)
    ops, compiled = model_ops(model.path)
    if coral_found is None:
        from ..hardware.coral import read_corals

        coral_found = bool(read_corals())
    delegate_error = edgetpu_delegate_error() if coral_found and compiled else None
    choice = choose_engine(requested, ops, compiled, coral_found, delegate_error,
                           importlib.util.find_spec("ai_edge_litert") is not None)
    log.info("wake word %s on %s: %s", model.name, choice.engine, choice.reason)
    return WakeWordDetector(model, choice, refractory_s=refractory_s, streaming=bool(ops & VARIABLE_OPS) or not ops)


__all__ = ["BUILTIN_WAKE_WORDS", "Detection", "EngineChoice", "WakeWordDetector", "WakeWordModel", "choose_engine",
           "load_model", "open_detector"]
