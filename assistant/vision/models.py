"""The vision stage's models: which catalog entry each detector uses, where its file is, and what
runs it. Installed by ``assistant models pull`` (scripts/setup.sh does it), never at request time."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from ..catalog import FACE_DETECTOR, IMAGE_CLASSIFIER, OBJECT_DETECTOR, OCR, Catalog, load_catalog

KIND_OF = {"objects": OBJECT_DETECTOR, "faces": FACE_DETECTOR, "labels": IMAGE_CLASSIFIER}
ENGINE_OF = {"objects": "onnxruntime", "faces": "litert", "labels": "onnxruntime", "ocr": "onnxruntime"}
MODULE_OF = {"onnxruntime": "onnxruntime", "litert": "ai_edge_litert"}


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


def onnx_device() -> str:
    """Where onnxruntime runs the vision models here: TensorRT or CUDA when its build has them."""
    if importlib.util.find_spec("onnxruntime") is None:
        return "cpu"
    from .detect import session_providers

    return session_providers()[1]


def stage_infos():
    from .bridge import StageInfo

    infos = []
    for name in ("labels", "objects", "faces"):
        spec = catalog().default_of(KIND_OF[name])
        engine = ENGINE_OF[name]
        device = onnx_device() if engine == "onnxruntime" else "cpu"
        usable = importlib.util.find_spec(MODULE_OF[engine]) is not None
        infos.append(StageInfo(name, spec.id if spec else "-", engine, device,
                               installed_path(KIND_OF[name]) is not None and usable))
    ocr = catalog().default_of(OCR)
    infos.append(StageInfo("ocr", ocr.id if ocr else "-", "onnxruntime", onnx_device(),
                           importlib.util.find_spec("rapidocr_onnxruntime") is not None))
    return infos
