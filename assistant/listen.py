"""`assistant listen` and the voice half of `assistant serve --listen`: put the voice loop
together from settings (audio source and sink, wake word, VAD, Whisper, the LLM, the voice)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import InvalidInputError

Emit = Callable[[dict], None]


class ListenSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", extra="ignore")

    wake_word: str = "okay_nabu"  # okay_nabu, hey_jarvis, alexa, hey_mycroft or a .tflite path
    wake_engine: str = "auto"  # auto, cpu or edgetpu
    wake_threshold: float | None = None  # default: the model's own cut-off
    wake_window: int | None = None  # probabilities averaged; default: the model's own
    refractory_s: float = 2.0
    input: str | None = None  # a WAV/FLAC file, or "-" for standard input; None: the microphone
    input_device: str | None = None
    output: Path | None = None  # write the spoken replies to this WAV file instead of the speaker
    output_device: str | None = None
    speak: bool = True
    server: str | None = None  # drive this running server's API instead of loading models here
    api_key: str | None = None
    model: str | None = None  # the LLM (catalog id or .gguf); default: the best installed that fits
    context: int = 2048
    threads: int | None = None
    stt_model: str | None = None
    stt_device: str = "auto"
    language: str | None = None
    beam_size: int = 1
    voice: str | None = None  # Piper catalog id or .onnx path, or espeak-ng[:voice]
    speed: float = 1.0
    vad_threshold: float = 0.5
    silence_s: float = 0.7
    max_utterance_s: float = 15.0
    no_speech_timeout_s: float = 5.0
    barge_in: bool = False
    max_turns: int | None = None
    temperature: float = 0.7
    max_tokens: int = 96
    seed: int | None = None
    system_prompt: str | None = None
    camera: str | None = None  # a camera number, video file or stream URL: "what do you see?" uses its frame
    mmproj: Path | None = None  # a vision projector for a .gguf model: it sees the frames itself


def loop_settings(s: ListenSettings):
    from .speech.loop import LoopSettings
    from .speech.stt import TranscribeOptions
    from .speech.tts import check_speed
    from .speech.vad import EndpointConfig

    if s.silence_s <= 0 or s.max_utterance_s <= 0 or s.no_speech_timeout_s <= 0:
        raise InvalidInputError("--silence, --max-utterance and --no-speech-timeout must be positive")
    if not 0 < s.vad_threshold < 1:
        raise InvalidInputError("--vad-threshold must be between 0 and 1")
    return LoopSettings(
        endpoint=EndpointConfig(threshold=s.vad_threshold, silence_s=s.silence_s, max_utterance_s=s.max_utterance_s,
                                no_speech_timeout_s=s.no_speech_timeout_s),
        transcribe=TranscribeOptions(language=s.language, beam_size=s.beam_size), barge_in=s.barge_in,
        speed=check_speed(s.speed), max_turns=s.max_turns)


def open_front_end(s: ListenSettings, coral_found: bool | None = None):
    """The wake word and the VAD: small enough to run in every process that listens."""
    from .catalog import load_catalog
    from .speech.assets import resolve
    from .speech.vad import SileroVad
    from .speech.wakeword import open_detector

    if s.wake_threshold is not None and not 0 < s.wake_threshold < 1:
        raise InvalidInputError("--wake-threshold must be between 0 and 1")
    detector = open_detector(s.wake_word, requested=s.wake_engine, cutoff=s.wake_threshold, window=s.wake_window,
                             refractory_s=s.refractory_s, coral_found=coral_found)
    _, vad_path = resolve(load_catalog(), "vad", None)
    return detector, SileroVad(vad_path)


def open_sink(s: ListenSettings):
    from .speech.audio import SpeakerSink, WavFileSink

    if not s.speak:
        return None, None
    if s.output is not None:
        return WavFileSink(s.output), str(s.output)
    return SpeakerSink(s.output_device), "speaker"


def open_source(s: ListenSettings):
    from .speech.audio import FileSource, MicrophoneSource

    return FileSource(s.input) if s.input else MicrophoneSource(s.input_device)


def open_camera(s: ListenSettings):
    if not s.camera:
        return None
    from .vision.camera import Camera

    return Camera(s.camera)


def build_loop(s: ListenSettings, emit: Emit, *, engine=None, stack=None, vision=None):
    """The voice loop. ``engine``, ``stack`` and ``vision``: the LLM, the speech models and the
    vision stage already loaded in this process (``serve --listen``); with ``s.server`` the models
    of that server; else loaded here."""
    from .speech.brain import Conversation, EngineBrain, HttpBrain, ReplySettings, VOICE_SYSTEM_PROMPT
    from .speech.loop import VoiceLoop

    settings = loop_settings(s)
    reply = ReplySettings(max_tokens=s.max_tokens, temperature=s.temperature, seed=s.seed)
    source = open_source(s)  # first: no microphone (or camera) is found out before any model loads
    camera = open_camera(s)
    detector, vad = open_front_end(s)
    if s.server:
        from .speech.remote import HttpSynthesizer, HttpTranscriber

        transcriber = HttpTranscriber(s.server, s.api_key)
        brain = HttpBrain(s.server, s.api_key, model=s.model or _served_model(s.server, s.api_key), settings=reply)
        synthesizer = HttpSynthesizer(s.server, s.api_key, s.voice) if s.speak else None
    else:
        from .speech.stack import SpeechStack

        stack = stack or SpeechStack(s.stt_model, s.voice, stt_device=s.stt_device, threads=s.threads or 0)
        transcriber = stack.transcriber()
        synthesizer = stack.synthesizer() if s.speak else None
        brain = EngineBrain(engine if engine is not None else load_engine(s), reply)
    if camera is not None:
        from .vision.bridge import VisionStack
        from .vision.camera import SeeingBrain

        brain = SeeingBrain(brain, camera, vision or VisionStack(), emit)
    sink, spoken_to = open_sink(s)
    conversation = Conversation(system_prompt=s.system_prompt or VOICE_SYSTEM_PROMPT)
    emit({"event": "listening", "wake_word": detector.model.name, "engine": detector.engine.engine,
          "reason": detector.engine.reason, "input": s.input or "microphone", "camera": s.camera})
    return VoiceLoop(source, detector, vad, transcriber, brain, synthesizer, sink, emit, settings, conversation,
                     spoken_to or "speaker")


def _served_model(server: str, api_key: str | None) -> str:
    """The model a running server has loaded (its /v1/models marks it)."""
    import httpx

    from .errors import AssistantError
    from .speech.brain import check_response, http_client

    try:
        response = http_client(server, api_key).get("/models")
    except httpx.HTTPError as exc:
        raise AssistantError(f"cannot reach the server at {server} ({exc}); start it with `assistant serve`") \
            from None
    check_response(response)
    models = response.json().get("data", [])
    loaded = [m["id"] for m in models if m.get("loaded", True)]
    if not loaded:
        raise AssistantError(f"the server at {server} has no model loaded")
    return loaded[0]


def load_engine(s: ListenSettings):
    """The LLM for a stand-alone listener: one slot, checked against the memory budget first."""
    from .serve import load_single_engine

    return load_single_engine(s.model, s.context, s.threads, s.mmproj)


def run_listen(s: ListenSettings, emit: Emit) -> None:
    loop = build_loop(s, emit)
    try:
        loop.run()
    except KeyboardInterrupt:
        loop.stop()
    finally:
        loop.source.close()
        if loop.sink is not None:
            drain(loop.sink)
            loop.sink.close()
        engine = getattr(loop.brain, "engine", None)
        if engine is not None:
            engine.close()
        camera = getattr(loop.brain, "camera", None)
        if camera is not None:
            camera.close()


def drain(sink, timeout_s: float = 60.0) -> None:
    """Let the speaker finish what it was given."""
    import time

    end = time.monotonic() + timeout_s
    while sink.busy() and time.monotonic() < end:
        time.sleep(0.05)
