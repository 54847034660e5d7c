"""A small ONNX graph builder for the convolutional networks the vision stage converts at set-up
(YOLOv3-tiny from darknet, EfficientNet-Lite0 from a PyTorch state dict): batch norm is folded
into the convolution before it, so the graphs hold only Conv, activations, pooling and a few
shape operators, which every onnxruntime execution provider (CPU, CUDA, TensorRT) runs."""

from __future__ import annotations

import numpy as np

OPSET = 13
IR_VERSION = 8  # onnxruntime 1.14 and later read it


def fold_batch_norm(weight: np.ndarray, bias: np.ndarray | None, gamma: np.ndarray, beta: np.ndarray,
                    mean: np.ndarray, var: np.ndarray, eps: float, *, darknet: bool = False):
    """Conv weights and bias with the batch norm after it folded in. Darknet divides by
    sqrt(var) + eps, PyTorch by sqrt(var + eps)."""
    std = np.sqrt(var) + eps if darknet else np.sqrt(var + eps)
    scale = gamma / std
    bias = np.zeros_like(beta) if bias is None else bias
    return ((weight * scale[:, None, None, None]).astype(np.float32),
            ((bias - mean) * scale + beta).astype(np.float32))


class GraphBuilder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def _name(self, kind: str) -> str:
        self._count += 1
        return f"{kind}_{self._count}"

    def constant(self, array: np.ndarray, kind: str = "w") -> str:
        from onnx import numpy_helper

        name = self._name(kind)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        from onnx import helper

        out = self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def conv(self, x: str, weight: np.ndarray, bias: np.ndarray, *, stride: int = 1, groups: int = 1,
             pads: tuple[int, int, int, int] | None = None) -> str:
        k = weight.shape[-1]
        if pads is None:
            pads = (k // 2,) * 4  # top, left, bottom, right as ONNX wants begin..end
        return self.op("Conv", [x, self.constant(weight.astype(np.float32)), self.constant(bias.astype(np.float32), "b")],
                       kernel_shape=[k, k], strides=[stride, stride], group=groups,
                       pads=[pads[0], pads[1], pads[2], pads[3]])

    def leaky(self, x: str, alpha: float) -> str:
        return self.op("LeakyRelu", [x], alpha=alpha)

    def relu6(self, x: str) -> str:
        return self.op("Clip", [x, self.constant(np.array(0, np.float32), "lo"),
                                self.constant(np.array(6, np.float32), "hi")])

    def build(self, input_name: str, input_shape: list, outputs: list[tuple[str, list]],
              metadata: dict[str, str] | None = None):
        from onnx import TensorProto, checker, helper

        graph = helper.make_graph(
            self.nodes, self.name,
            [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, input_shape)],
            [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name, shape in outputs],
            self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="assistant", producer_version="1")
        model.ir_version = IR_VERSION
        helper.set_model_props(model, metadata or {})
        checker.check_model(model)
        return model

    def output(self, x: str, name: str) -> str:
        """Name a tensor as a graph output (looked up by name at run time)."""
        from onnx import helper

        self.nodes.append(helper.make_node("Identity", [x], [name], name=name))
        return name
