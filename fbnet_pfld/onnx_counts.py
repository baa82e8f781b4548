"""What an ONNX file costs, counted from its graph alone (a released model without its checkpoint):
parameters and multiply-adds, the latter the way ``models.count_macs`` counts a PyTorch network
(convolutions and matrix products; BatchNorm is folded into the convolutions of an exported file)."""

import numpy as np

from fbnet_pfld.blocks import INPUT_SIZE
from fbnet_pfld.deploy import graph_inputs, load_onnx, tensor_shape
from fbnet_pfld.errors import DeployError


def onnx_parameters(path):
    """The number of weights the file stores (its initializers)."""
    return int(sum(np.prod(t.dims) for t in load_onnx(path).graph.initializer))


def _shapes(graph):
    """Every named tensor's shape, None for a dimension that is not a fixed number (the batch, typically)."""
    shapes = {value.name: tensor_shape(value) for value in [*graph.input, *graph.value_info, *graph.output]}
    shapes.update({t.name: list(t.dims) for t in graph.initializer})
    return shapes


def _node_macs(node, shapes):
    """Multiply-adds of one Conv, Gemm or MatMul node at batch 1 (0 for any other op)."""
    if node.op_type not in ("Conv", "Gemm", "MatMul"):
        return 0
    out, weight = shapes.get(node.output[0]), shapes.get(node.input[1])
    if not out or not weight or None in out[1:] or None in weight:
        raise DeployError(f"{node.name or node.op_type}: its shapes are not static; multiply-adds not countable")
    if node.op_type == "Conv":  # weight [out, in / groups, kh, kw]
        per_output = int(np.prod(weight[1:]))
    elif node.op_type == "Gemm":  # B [K, N], or [N, K] with transB
        per_output = weight[1] if next((a.i for a in node.attribute if a.name == "transB"), 0) else weight[0]
    else:  # MatMul: B [..., K, N]
        per_output = weight[-2]
    return int(np.prod(out[1:])) * per_output  # batch 1: the output's elements past the batch dimension


def onnx_macs(path, input_shape=(1, 3, INPUT_SIZE, INPUT_SIZE)):
    """Multiply-adds of one forward pass at ``input_shape`` (the first input's dimensions that the file leaves
    open are set to it), from the graph's shapes (ONNX shape inference)."""
    import onnx

    model = load_onnx(path)
    dims = graph_inputs(model.graph)[0].type.tensor_type.shape.dim
    for dim, size in zip(dims, input_shape) if len(dims) == len(input_shape) else ():
        if not dim.HasField("dim_value"):
            dim.dim_value = size
    try:
        model = onnx.shape_inference.infer_shapes(model)
    except Exception as error:  # onnx raises its own inference errors
        raise DeployError(f"{path}: its shapes cannot be inferred ({' '.join(str(error).split())})") from None
    shapes = _shapes(model.graph)
    return sum(_node_macs(node, shapes) for node in model.graph.node)
