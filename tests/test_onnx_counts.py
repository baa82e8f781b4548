"""Multiply-adds counted from an ONNX file's graph agree with PyTorch's count of the network it came from."""

import pytest
import torch

from export import export_landmark_model, parity_images
from fbnet_pfld.errors import DeployError
from fbnet_pfld.models import Baseline, Subnet, build_landmark_network, count_macs
from fbnet_pfld.onnx_counts import onnx_macs, onnx_parameters


@pytest.mark.parametrize("make", [lambda: Subnet(["gh_k3", "sep_k3", "mb_k5_res", "gh_k5", "mb_k3_e2_res"], 68),
                                  lambda: build_landmark_network("pfld_lite@0.25", 68), lambda: Baseline(98)],
                         ids=["subnet", "pfld_lite@0.25", "baseline_98_points"])
def test_onnx_macs_equal_pytorchs_count(tmp_path, make):
    torch.manual_seed(0)
    model = make().eval()
    export_landmark_model(model, tmp_path / "m.onnx", parity_images(count=2))
    assert onnx_macs(tmp_path / "m.onnx") == count_macs(model) > 0
    assert 0 < onnx_parameters(tmp_path / "m.onnx") <= sum(p.numel() for p in model.parameters())


def test_open_input_sizes_are_counted_at_the_models_input_and_unknown_shapes_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(torch.zeros(4, 3, 3, 3).numpy(), "w")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="the_conv")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weight])
    onnx.save(helper.make_model(graph), tmp_path / "dynamic.onnx")
    # an open height and width are counted at the input size the models take: 4 x 110 x 110 outputs of 27 MACs
    assert onnx_macs(tmp_path / "dynamic.onnx") == 4 * 110 * 110 * 27
    assert onnx_macs(tmp_path / "dynamic.onnx", (1, 3, 10, 10)) == 4 * 8 * 8 * 27
    reshaped = helper.make_node("Reshape", ["x", "s"], ["r"], name="reshape")  # a shape only a run would know
    graph = helper.make_graph([helper.make_node("Shape", ["x"], ["s0"]), helper.make_node("Abs", ["s0"], ["s"]),
                               reshaped, helper.make_node("Conv", ["r", "w"], ["y"], name="the_conv")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weight])
    onnx.save(helper.make_model(graph), tmp_path / "unknown.onnx")
    with pytest.raises(DeployError, match="the_conv: its shapes are not static"):
        onnx_macs(tmp_path / "unknown.onnx")
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    with pytest.raises(DeployError, match="broken.onnx: not a readable ONNX file"):
        onnx_macs(tmp_path / "broken.onnx")
