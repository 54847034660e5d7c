"""Text in images: PP-OCRv4 (detection, angle, recognition) as ONNX through rapidocr-onnxruntime,
whose wheel ships the models. Loaded once, on first use."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from ..errors import MissingDependencyError


@dataclass(frozen=True)
class TextLine:
    text: str
    confidence: float
    box: tuple[tuple[float, float], ...]  # four corners, pixels


# One or two characters read at middling confidence are usually texture (fur, foliage, JPEG
# blocks), not text: skimage's cat, saved as JPEG, reads as "O" at 0.60.
DETECTION_SIDE = 960
SHORT_TEXT = 2
SHORT_TEXT_CONFIDENCE = 0.9


def keep_line(text: str, confidence: float, min_confidence: float) -> bool:
    if not text or confidence < min_confidence:
        return False
    return len(text) > SHORT_TEXT or confidence >= SHORT_TEXT_CONFIDENCE


class Ocr:
    def __init__(self, min_confidence: float = 0.5) -> None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError:
            raise MissingDependencyError("reading text in images needs 'rapidocr-onnxruntime'; install it with "
                                         "pip install 'assistant[vision]'") from None
        from .detect import session_providers

        # on CUDA where onnxruntime has it (rapidocr's flag; it has no TensorRT switch), else the CPU
        cuda = session_providers()[1] in ("cuda", "tensorrt")
        self.device = "cuda" if cuda else "cpu"
        # Detection at most 960 px on the long side (PaddleOCR's own default), not rapidocr's "at
        # least 736 on the short side", which upscales photos: measured on scripts/bench_vision.py's
        # images, peak RSS 686 -> 358 MiB and 3-10x faster, with the same text read.
        self._engine = RapidOCR(det_use_cuda=cuda, cls_use_cuda=cuda, rec_use_cuda=cuda,
                                det_limit_type="max", det_limit_side_len=DETECTION_SIDE)
        self._lock = threading.Lock()
        self.min_confidence = min_confidence

    def read(self, image) -> list[TextLine]:
        """Lines of text, top to bottom."""
        with self._lock:
            result, _ = self._engine(np.asarray(image))
        lines = [TextLine(text.strip(), float(score), tuple((float(x), float(y)) for x, y in box))
                 for box, text, score in result or [] if keep_line(text.strip(), float(score), self.min_confidence)]
        return sorted(lines, key=lambda line: (line.box[0][1], line.box[0][0]))
