"""The vision stage's models: which catalog entry each detector uses and where its file is.
Installed by ``assistant models pull`` (scripts/setup.sh does it), never at request time."""

from __future__ import annotations

import functools
from pathlib import Path

from ..catalog import FACE_DETECTOR, IMAGE_CLASSIFIER, OBJECT_DETECTOR, OCR, Catalog, load_catalog

KIND_OF = {"objects": OBJECT_DETECTOR, "faces": FACE_DETECTOR, "labels": IMAGE_CLASSIFIER, "ocr": OCR}


@functools.lru_cache(maxsize=1)
def catalog() -> Catalog:
    return load_catalog()


def installed_path(kind: str) -> Path | None:
    from ..store import model_file

    spec = catalog().default_of(kind)
    if spec is None:
        return None
    path = model_file(spec)
    return path if path.is_file() else None


def load(name: str, path: Path):
    if name == "objects":
        from .detect import ObjectDetector

        return ObjectDetector(path)
    if name == "faces":
        from .faces import FaceDetector

        return FaceDetector(path)
    from .label import ImageClassifier

    return ImageClassifier(path)
