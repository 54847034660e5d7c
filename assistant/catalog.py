"""The model catalog: ``models/*.toml``, one file per model, read into :class:`ModelSpec`s."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import CatalogError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (Jetson JetPack 6)
    import tomli as tomllib

LLM, STT, WAKE_WORD, VAD, TTS = "llm", "stt", "wake_word", "vad", "tts"
SPEECH_KINDS = (WAKE_WORD, VAD, STT, TTS)
OBJECT_DETECTOR, FACE_DETECTOR, IMAGE_CLASSIFIER, OCR = "object_detector", "face_detector", "image_classifier", "ocr"
VISION_KINDS = (IMAGE_CLASSIFIER, OBJECT_DETECTOR, FACE_DETECTOR, OCR)


@dataclass(frozen=True)
class Architecture:
    """The numbers a memory estimate needs (llama.cpp's hparams)."""

    arch: str
    layers: int
    embedding: int
    feed_forward: int
    heads: int
    kv_heads: int
    key_length: int
    value_length: int
    vocab: int
    context_length: int
    tied_embeddings: bool = False
    sliding_window: int = 0  # 0: every layer attends to the whole context
    sliding_window_pattern: int = 0  # every Nth layer is global; 0 with a window: all layers windowed

    def is_swa_layer(self, layer: int) -> bool:
        """As llama.cpp's set_swa_pattern(n): layers n-1, 2n-1, ... are global, the rest windowed."""
        if not self.sliding_window:
            return False
        if not self.sliding_window_pattern:
            return True
        return layer % self.sliding_window_pattern < self.sliding_window_pattern - 1


@dataclass(frozen=True)
class Projector:
    file_name: str
    file_size: int
    parameters: int
    quantization: str


@dataclass(frozen=True)
class Source:
    kind: str  # pypi | pypi-parts | pypi-convert | url | huggingface | local
    fields: dict[str, Any]


@dataclass(frozen=True)
class Variant:
    """Another build of the same model for another runtime (e.g. an ONNX GenAI build for an NPU)."""

    format: str
    sources: tuple[Source, ...] = ()
    notes: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    id: str
    name: str
    kind: str
    family: str
    parameters: int
    quantization: str
    format: str
    modalities: tuple[str, ...]
    license: str
    file_size: int
    sources: tuple[Source, ...]
    file_name: str | None = None
    sha256: str | None = None
    chat: bool = False
    default: bool = False
    architecture: Architecture | None = None
    projector: Projector | None = None
    resident_bytes: int | None = None
    notes: str | None = None
    variants: tuple[Variant, ...] = ()
    path: Path | None = field(default=None, compare=False)

    @property
    def formats(self) -> frozenset[str]:
        """Every format this model exists in: its own and its variants'."""
        return frozenset({self.format, *(v.format for v in self.variants)})

    @property
    def has_vision(self) -> bool:
        return "vision" in self.modalities and self.projector is not None

    @property
    def bits_per_weight(self) -> float:
        return self.file_size * 8 / self.parameters if self.parameters else 0.0


def _sources(tables: list[dict[str, Any]]) -> tuple[Source, ...]:
    return tuple(Source(kind=s["kind"], fields={k: v for k, v in s.items() if k != "kind"}) for s in tables)


def parse_model(doc: dict[str, Any], origin: str = "<toml>") -> ModelSpec:
    """One catalog document -> ModelSpec, with a clear error naming the file and the field."""
    try:
        arch = Architecture(**doc["architecture"]) if "architecture" in doc else None
        projector = Projector(**doc["projector"]) if "projector" in doc else None
        sources = _sources(doc.get("sources", []))
        variants = tuple(Variant(v["format"], _sources(v.get("sources", [])), v.get("notes"))
                         for v in doc.get("variants", []))
        spec = ModelSpec(
            id=doc["id"], name=doc["name"], kind=doc["kind"], family=doc["family"],
            parameters=int(doc["parameters"]), quantization=doc["quantization"], format=doc["format"],
            modalities=tuple(doc.get("modalities", ["text"])), license=doc["license"],
            file_size=int(doc["file_size"]), sources=sources, file_name=doc.get("file_name"),
            sha256=doc.get("sha256"), chat=bool(doc.get("chat", False)), default=bool(doc.get("default", False)),
            architecture=arch, projector=projector, resident_bytes=doc.get("resident_bytes"),
            notes=doc.get("notes"), variants=variants,
        )
    except KeyError as exc:
        raise CatalogError(f"catalog entry {origin} lacks the field {exc.args[0]!r}") from None
    except TypeError as exc:
        raise CatalogError(f"catalog entry {origin} has an unknown or malformed field: {exc}") from None
    if spec.kind == LLM and spec.architecture is None:
        raise CatalogError(f"catalog entry {origin}: an llm needs an [architecture] table")
    if spec.kind != LLM and spec.resident_bytes is None:
        raise CatalogError(f"catalog entry {origin}: a {spec.kind} model needs resident_bytes")
    return spec


@dataclass
class Catalog:
    models: list[ModelSpec]

    def get(self, model_id: str) -> ModelSpec:
        for m in self.models:
            if m.id == model_id:
                return m
        known = ", ".join(sorted(m.id for m in self.models if m.kind == LLM))
        raise CatalogError(f"unknown model {model_id!r}; the catalog has: {known}")

    def of_kind(self, kind: str) -> list[ModelSpec]:
        return [m for m in self.models if m.kind == kind]

    def default_of(self, kind: str) -> ModelSpec | None:
        return next((m for m in self.of_kind(kind) if m.default), None)


def catalog_dir() -> Path:
    return Path(str(resources.files("models")))


def load_catalog(directory: str | Path | None = None) -> Catalog:
    """Read every ``*.toml`` in the catalog folder (the ``models`` package unless given)."""
    folder = Path(directory) if directory is not None else catalog_dir()
    models = []
    for path in sorted(folder.glob("*.toml")):
        try:
            doc = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise CatalogError(f"catalog file {path} is not valid TOML: {exc}") from None
        spec = parse_model(doc, origin=str(path))
        models.append(ModelSpec(**{**spec.__dict__, "path": path}))
    ids = [m.id for m in models]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise CatalogError(f"catalog ids appear twice: {', '.join(sorted(dupes))}")
    return Catalog(models)
