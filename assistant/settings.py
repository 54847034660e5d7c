"""Server settings: flags, then ``ASSISTANT_*`` environment variables, then an optional TOML file."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class ServeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    model: str | None = None  # catalog id or a .gguf path; None: the best installed chat model that fits
    mmproj: Path | None = None  # a vision projector GGUF for a .gguf model (catalog models find their own)
    context: int = 4096  # per request
    slots: int = 4  # requests decoded together
    threads: int | None = None
    api_key: str | None = None
    api_key_file: Path | None = None
    cors_origin: list[str] = []
    max_queue: int = 64
    max_body_bytes: int = 8 * 1024 * 1024
    max_tokens_limit: int = 4096
    memory_limit: str | None = None
    max_upload_bytes: int = 25 * 1024 * 1024  # audio files, as OpenAI's limit
    stt_model: str | None = None  # Whisper: catalog id or CTranslate2 folder; default: the catalog's
    stt_device: str = "auto"
    voice: str | None = None  # Piper catalog id or .onnx path, or espeak-ng[:voice]
    max_images: int = 8  # per chat request
    allow_remote_images: bool = False  # fetch http(s) image URLs named by clients (off: data URLs only)
    runtime: str | None = None  # the LLM's runtime; None: the registry's choice (`assistant doctor`)
    device: str | None = None  # cpu, gpu, cuda, metal, npu...; None: the registry's choice
    listen: bool = False  # also run the voice loop on the microphone, on the same loaded models

    def resolved_api_key(self) -> str | None:
        if self.api_key:
            return self.api_key
        if self.api_key_file is not None:
            return self.api_key_file.read_text().strip() or None
        return None
