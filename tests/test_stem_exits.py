"""A search space may start inside the stem and may skip layers: the stem then runs only as far as the space
starts, the auxiliary net and the head read the right features, and tables, exports and checkpoints follow."""

import json
from pathlib import Path

import pytest
import torch

from fbnet_pfld.blocks import SEARCH_SPACE, LayerSpec
from fbnet_pfld.models import Subnet, Supernet, auxiliary_net_for, count_macs, macs_by_part
from fbnet_pfld.table_builders import build_flops_table

FROM_CONV1 = [  # starts after the stem's first conv: 16 x 56 x 56
    LayerSpec(16, 16, 2, 56, ("sep_k3", "mb_k3_res")),
    LayerSpec(16, 16, 1, 28, ("skip", "gh_k3")),
    LayerSpec(16, 24, 2, 28, ("sep_k3", "mb_k3_e2_res")),
    LayerSpec(24, 24, 1, 14, ("skip", "sep_k5")),
    LayerSpec(24, 40, 2, 14, ("sep_k3", "gh_k5")),
]
FROM_BRANCHES = [LayerSpec(16, 32, 2, 28, ("sep_k3", "mb_k3_e2_res")), LayerSpec(32, 64, 2, 14, ("gh_k5",))]


def test_the_stem_runs_only_as_far_as_the_space_starts():
    short = Subnet(["sep_k3", "gh_k3", "sep_k3", "sep_k5", "gh_k5"], 68, FROM_CONV1)
    middle = Subnet(["mb_k3_e2_res", "gh_k5"], 68, FROM_BRANCHES)
    full = Subnet(["sep_k5", "sep_k3", "mb_k5_res_se", "gh_k5", "mb_k5_res_se"], 68)
    names = {net: {key.split(".")[1] for key in net.state_dict() if key.startswith("stem.")}
             for net in (short, middle, full)}
    assert names[short] == {"conv1"}
    assert names[middle] == {"conv1", "branch_a", "fuse"}
    assert names[full] == {"conv1", "branch_a", "fuse", "block"}  # the default: the released checkpoints' keys
    assert macs_by_part(short)["stem"] < macs_by_part(middle)["stem"] < macs_by_part(full)["stem"]


def test_the_auxiliary_feature_is_the_last_28x28_output_and_skip_is_the_identity():
    torch.manual_seed(0)
    net = Subnet(["mb_k3_res", "skip", "sep_k3", "skip", "gh_k5"], 68, FROM_CONV1).eval()
    x = torch.rand(2, 3, 112, 112)
    landmarks, feature = net(x)
    with torch.no_grad():
        expected = net.layers[0](net.stem.conv1(x))  # layer 1 is a skip: the 28 x 28 feature is layer 0's
    assert torch.allclose(feature, expected)
    assert landmarks.shape == (2, 136) and auxiliary_net_for(net)(feature).shape == (2, 3)
    with_gh = Subnet(["mb_k3_res", "gh_k3", "sep_k3", "skip", "gh_k5"], 68, FROM_CONV1).eval()
    with_gh.load_state_dict(net.state_dict(), strict=False)
    assert not torch.allclose(with_gh(x)[1], expected)  # ... and when layer 1 computes, it is layer 1's
    assert count_macs(net) < count_macs(with_gh)


def test_a_flops_table_of_such_a_space_predicts_every_subnet_exactly():
    table = build_flops_table(68, FROM_CONV1)
    fixed = table["fixed"]["median"]
    for arch in (["sep_k3", "skip", "sep_k3", "skip", "sep_k3"],
                 ["mb_k3_res", "gh_k3", "mb_k3_e2_res", "sep_k5", "gh_k5"]):
        predicted = fixed + sum(table["layers"][i]["ops"][name]["median"] for i, name in enumerate(arch))
        assert predicted == pytest.approx(count_macs(Subnet(arch, 68, FROM_CONV1)) / 1e6, rel=1e-6)
    assert table["layers"][1]["ops"]["skip"]["median"] == 0


def test_a_supernet_over_such_a_space_trains_and_hands_its_weights_to_the_subnet():
    torch.manual_seed(0)
    supernet = Supernet(68, FROM_CONV1)
    x = torch.rand(2, 3, 112, 112)
    landmarks, feature, weights = supernet(x, mode="soft")
    (landmarks.square().mean() + auxiliary_net_for(supernet)(feature).square().mean()).backward()
    assert all(layer.theta.grad is not None and layer.theta.grad.abs().sum() > 0 for layer in supernet.layers)
    arch = ["sep_k3", "skip", "mb_k3_e2_res", "sep_k5", "gh_k5"]
    subnet = Subnet.from_supernet(supernet.eval(), arch).eval()
    with torch.no_grad():
        assert torch.allclose(subnet(x)[0], supernet(x, arch=arch)[0], atol=1e-5)


def test_the_shipped_wide_space_reaches_below_and_above_the_released_subnet():
    from fbnet_pfld.space import read_search_space

    space = read_search_space("data/spaces/wide.json")
    released = count_macs(Subnet(json.loads(Path("released/arch.json").read_text())["arch"], 68, SEARCH_SPACE))
    cheapest = count_macs(Subnet(["skip" if "skip" in layer.ops else "sep_k3" for layer in space], 68, space))
    assert cheapest < released < count_macs(Subnet([layer.ops[-1] for layer in space], 68, space))


def test_such_a_subnet_exports_and_runs_the_same_in_onnxruntime_and_mnn(tmp_path):
    from fbnet_pfld.deploy import LandmarksOnly, export_onnx, open_session

    torch.manual_seed(0)
    net = Subnet(["mb_k3_res", "skip", "sep_k3", "skip", "gh_k5"], 68, FROM_CONV1).eval()
    x = torch.rand(2, 3, 112, 112)
    with torch.no_grad():
        expected = net(x)[0].numpy()
    onnx_path = tmp_path / "net.onnx"
    export_onnx(LandmarksOnly(net), (x[:1],), onnx_path, ["input"], ["landmarks"], dynamic_batch=True)
    for runtime in ("onnxruntime", "mnn"):  # MNN converts the ONNX file itself
        got = open_session(onnx_path, runtime).run({"input": x.numpy()})[0]
        assert got.shape == expected.shape and abs(got - expected).max() < 1e-4, runtime
