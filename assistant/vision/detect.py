"""Objects in an image: YOLOv3-tiny (COCO's 80 classes) as ONNX on onnxruntime, on CUDA where
onnxruntime has it (Jetson, NVIDIA), else the CPU. The network is converted from the darknet files
at set-up (``assistant.convert.darknet``); decoding and non-maximum suppression are here, in NumPy."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MissingDependencyError, ModelFileError

SCORE_THRESHOLD = 0.3
IOU_THRESHOLD = 0.45


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the image

    def to_document(self) -> dict:
        return {"label": self.label, "score": round(self.score, 3), "box": [round(v, 1) for v in self.box]}


@dataclass(frozen=True)
class Letterbox:
    """How an image was scaled and padded into the network's square input."""
    scale: float
    pad_x: int
    pad_y: int

    def to_image(self, boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        out = boxes.copy()
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.scale
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.scale
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, size[0])
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, size[1])
        return out


def letterbox(image, side: int, fill: int = 127) -> tuple[np.ndarray, Letterbox]:
    """An RGB PIL image -> HxWx3 uint8 of side x side, aspect kept, padded with grey."""
    from PIL import Image

    scale = min(side / image.width, side / image.height)
    w, h = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    canvas = Image.new("RGB", (side, side), (fill, fill, fill))
    pad_x, pad_y = (side - w) // 2, (side - h) // 2
    canvas.paste(image.resize((w, h), Image.BILINEAR), (pad_x, pad_y))
    return np.asarray(canvas), Letterbox(scale, pad_x, pad_y)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80, 80)))


def decode_yolo(raw: np.ndarray, anchors, side: int) -> tuple[np.ndarray, np.ndarray]:
    """One YOLO head's output (1, A*(5+C), H, W) -> boxes (N, 4) x0y0x1y1 in network pixels and
    class scores (N, C) = objectness x class probability (YOLOv3: independent sigmoids)."""
    _, channels, height, width = raw.shape
    count = len(anchors)
    raw = raw.reshape(count, channels // count, height, width).transpose(0, 2, 3, 1)  # A, H, W, 5+C
    grid_y, grid_x = np.mgrid[0:height, 0:width]
    anchors = np.asarray(anchors, np.float32).reshape(count, 1, 1, 2)
    cx = (_sigmoid(raw[..., 0]) + grid_x) / width * side
    cy = (_sigmoid(raw[..., 1]) + grid_y) / height * side
    w = np.exp(np.clip(raw[..., 2], -10, 10)) * anchors[..., 0]
    h = np.exp(np.clip(raw[..., 3], -10, 10)) * anchors[..., 1]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1).reshape(-1, 4)
    scores = (_sigmoid(raw[..., 4:5]) * _sigmoid(raw[..., 5:])).reshape(-1, raw.shape[-1] - 5)
    return boxes, scores


def iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], others[:, 0])
    y0 = np.maximum(box[1], others[:, 1])
    x1 = np.minimum(box[2], others[:, 2])
    y1 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / np.maximum(area(box) + area(others) - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """Indices kept by greedy non-maximum suppression, best first."""
    order = list(np.argsort(-scores))
    keep = []
    while order:
        best = order.pop(0)
        keep.append(int(best))
        if order:
            overlaps = iou(boxes[best], boxes[order])
            order = [i for i, o in zip(order, overlaps) if o <= threshold]
    return keep


def select(boxes: np.ndarray, scores: np.ndarray, labels: list[str], *, score_threshold: float,
           iou_threshold: float) -> list[tuple[str, float, np.ndarray]]:
    """Per-class NMS over the candidates above the threshold, best first."""
    rows, classes = np.nonzero(scores > score_threshold)
    found = []
    for cls in np.unique(classes):
        picked = rows[classes == cls]
        cls_scores = scores[picked, cls]
        for k in nms(boxes[picked], cls_scores, iou_threshold):
            found.append((labels[cls], float(cls_scores[k]), boxes[picked[k]]))
    return sorted(found, key=lambda f: -f[1])


def providers_for(available: list[str], cache_dir: Path) -> tuple[list, str]:
    """onnxruntime providers for the vision models, best first, and the device they mean. Pure.
    TensorRT (Jetson's onnxruntime-gpu builds have it) caches the engines it builds, since the
    first build of a model takes minutes there; then CUDA; then the CPU."""
    if "TensorrtExecutionProvider" in available:
        options = {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache_dir), "trt_fp16_enable": True}
        return [("TensorrtExecutionProvider", options), "CUDAExecutionProvider", "CPUExecutionProvider"], "tensorrt"
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"], "cuda"
    return ["CPUExecutionProvider"], "cpu"


def session_providers() -> tuple[list, str]:
    import onnxruntime

    from ..store import models_dir

    return providers_for(onnxruntime.get_available_providers(), models_dir() / "tensorrt-cache")


def open_converted(path: Path, model_id: str, what: str, threads: int | None = None):
    """An onnxruntime session on a model this assistant converted at set-up, with the metadata the
    converter wrote; a clear error (and the command that repairs it) when the file is unusable."""
    try:
        import onnxruntime
    except ImportError:
        raise MissingDependencyError(f"the {what} needs onnxruntime; install it with "
                                     "pip install 'assistant[vision]'") from None
    providers, device = session_providers()
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    repair = f"run: assistant models pull {model_id} --force"
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own types for unreadable files
        raise ModelFileError(f"{path} cannot be loaded by onnxruntime ({exc}); {repair}") from None
    meta = session.get_modelmeta().custom_metadata_map
    if "labels" not in meta or "input_side" not in meta:
        raise ModelFileError(f"{path} is not a {what} this assistant converted (no labels in it); {repair}")
    return session, meta, device


class ObjectDetector:
    def __init__(self, path: Path, *, score_threshold: float = SCORE_THRESHOLD, iou_threshold: float = IOU_THRESHOLD,
                 threads: int | None = None) -> None:
        self._session, meta, self.device = open_converted(path, "yolov3-tiny-coco", "object detector", threads)
        self.side = int(meta["input_side"])
        self.heads = [(h["output"], h["anchors"]) for h in json.loads(meta.get("yolo_heads", "[]"))]
        self.labels = json.loads(meta["labels"])
        self.input_name = self._session.get_inputs()[0].name
        self.score_threshold, self.iou_threshold = score_threshold, iou_threshold
        self._lock = threading.Lock()

    def detect(self, image) -> list[Detection]:
        pixels, box = letterbox(image, self.side)
        tensor = (pixels.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        with self._lock:
            outputs = self._session.run([name for name, _ in self.heads], {self.input_name: tensor})
        decoded = [decode_yolo(raw, anchors, self.side) for raw, (_, anchors) in zip(outputs, self.heads)]
        boxes = np.concatenate([b for b, _ in decoded])
        scores = np.concatenate([s for _, s in decoded])
        found = select(boxes, scores, self.labels, score_threshold=self.score_threshold,
                       iou_threshold=self.iou_threshold)
        if not found:
            return []
        placed = box.to_image(np.stack([b for _, _, b in found]), image.size)
        return [Detection(label, score, tuple(float(v) for v in b)) for (label, score, _), b in zip(found, placed)]
