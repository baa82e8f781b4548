import random

import pytest
import torch

from fbnet_pfld.blocks import CANDIDATE_OPS, SEARCH_SPACE, build_op
from fbnet_pfld.models import (
    AuxiliaryNet,
    Baseline,
    PFLDLite,
    Subnet,
    Supernet,
    check_arch,
    count_macs,
    count_parameters,
    macs_by_part,
)

FIRST = [layer.ops[0] for layer in SEARCH_SPACE]
LAST = [layer.ops[-1] for layer in SEARCH_SPACE]


def random_arch(seed):
    rng = random.Random(seed)
    return [rng.choice(layer.ops) for layer in SEARCH_SPACE]


def randomise_batchnorm(model, seed=0):
    """Give BN layers non-trivial running statistics so eval-mode comparisons mean something."""
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=gen) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=gen) + 0.5)
            module.weight.data.copy_(torch.rand(module.num_features, generator=gen) + 0.5)


@pytest.mark.parametrize("num_points", [106, 98, 68])
def test_output_shapes(num_points):
    x = torch.randn(2, 3, 112, 112)
    landmarks, feature, weights = Supernet(num_points)(x, "soft", 5.0)
    assert landmarks.shape == (2, 2 * num_points)
    assert feature.shape == (2, 16, 28, 28)
    assert [w.shape[0] for w in weights] == [len(layer.ops) for layer in SEARCH_SPACE]
    assert Subnet(FIRST, num_points)(x)[0].shape == (2, 2 * num_points)
    assert Baseline(num_points)(x)[0].shape == (2, 2 * num_points)
    assert AuxiliaryNet()(feature).shape == (2, 3)


@pytest.mark.parametrize("index", range(len(SEARCH_SPACE)))
def test_every_candidate_shape(index):
    layer = SEARCH_SPACE[index]
    x = torch.randn(2, layer.c_in, layer.in_size, layer.in_size)
    for name in layer.ops:
        out = build_op(name, layer)(x)
        assert out.shape == (2, layer.c_out, layer.out_size, layer.out_size), name


def test_unknown_op_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown candidate op 'mb_k9_res'"):
        build_op("mb_k9_res", SEARCH_SPACE[0])
    with pytest.raises(ValueError, match="layer 2: op 'sep_k3' is not a candidate"):
        check_arch(FIRST[:2] + ["sep_k3"] + FIRST[3:])


@pytest.mark.parametrize("arch", [FIRST, LAST, random_arch(1), random_arch(2)])
def test_subnet_equals_supernet_argmax(arch):
    torch.manual_seed(0)
    supernet = Supernet(68)
    randomise_batchnorm(supernet)
    with torch.no_grad():  # make ``arch`` the argmax of theta
        for layer, name in zip(supernet.layers, arch):
            layer.theta.copy_(torch.randn(len(layer.op_names)) * 0.1)
            layer.theta[layer.op_names.index(name)] = 5.0
    assert supernet.chosen_arch() == arch
    subnet = Subnet.from_supernet(supernet)
    supernet.eval()
    subnet.eval()
    x = torch.rand(3, 3, 112, 112)
    with torch.no_grad():
        expected = supernet(x, "argmax")[0]
        got = subnet(x)[0]
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()


@pytest.mark.parametrize("mode", ["soft", "hard"])
def test_theta_gets_gradient(mode):
    torch.manual_seed(0)
    supernet = Supernet(68)
    landmarks, _, _ = supernet(torch.rand(2, 3, 112, 112), mode, 1.0)
    landmarks.square().sum().backward()
    for theta in supernet.arch_parameters():
        assert theta.grad is not None and theta.grad.abs().sum() > 0


def test_weight_pass_leaves_theta_untouched():
    supernet = Supernet(68)
    supernet(torch.rand(2, 3, 112, 112), "soft", 1.0, arch_grad=False)[0].sum().backward()
    assert all(theta.grad is None for theta in supernet.arch_parameters())


def test_hard_mode_runs_one_candidate_per_layer():
    torch.manual_seed(0)
    supernet = Supernet(68)
    calls = []
    for i, layer in enumerate(supernet.layers):
        for j, op in enumerate(layer.ops):
            op.register_forward_hook(lambda *_, i=i, j=j: calls.append((i, j)))
    for _ in range(3):
        calls.clear()
        supernet(torch.rand(1, 3, 112, 112), "hard", 1.0)
        assert sorted(i for i, _ in calls) == list(range(len(SEARCH_SPACE)))
    calls.clear()
    supernet(torch.rand(1, 3, 112, 112), "soft", 1.0)
    assert len(calls) == sum(len(layer.ops) for layer in SEARCH_SPACE)


def test_parameter_split_is_complete_and_disjoint():
    supernet = Supernet(68)
    arch = supernet.arch_parameters()
    weights = supernet.weight_parameters()
    assert len(arch) == len(SEARCH_SPACE)
    assert len(arch) + len(weights) == len(list(supernet.parameters()))


@pytest.mark.parametrize("arch", [FIRST, LAST, random_arch(3)])
def test_subnet_size_fits_a_small_model(arch):
    params = count_parameters(Subnet(arch, 106))
    assert 100_000 <= params <= 250_000, params


def test_mac_counter_counts_depthwise_convs_per_group():
    conv = torch.nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
    dense = torch.nn.Conv2d(8, 8, 3, padding=1, bias=False)
    assert count_macs(conv, (1, 8, 16, 16)) == 8 * 9 * 16 * 16
    assert count_macs(dense, (1, 8, 16, 16)) == 8 * 8 * 9 * 16 * 16


def test_macs_by_part_add_up_and_only_the_searched_layers_change_with_the_arch():
    for model in (Subnet(FIRST, 68), Subnet(LAST, 68), PFLDLite(68), Baseline(68)):
        parts = macs_by_part(model)
        assert list(parts) == [name for name, _ in model.named_children()]
        assert sum(parts.values()) == count_macs(model) and min(parts.values()) > 0
    first, last = macs_by_part(Subnet(FIRST, 68)), macs_by_part(Subnet(LAST, 68))
    assert (first["stem"], first["head"]) == (last["stem"], last["head"])
    assert first["layers"] != last["layers"]  # a ModuleList is never called itself: its layers are counted


def test_model_stats_adds_a_searched_arch_and_names_a_bad_one(tmp_path, capsys):
    from tools import model_stats

    good, bad = tmp_path / "arch.json", tmp_path / "bad.json"
    good.write_text('{"arch": ["gh_k3", "sep_k3", "mb_k5_res", "gh_k5", "mb_k3_e2_res"]}')
    bad.write_text('["gh_k3", "nope", "gh_k5", "gh_k5", "gh_k5"]')
    model_stats.main(["--num_points", "68", "--arch", str(good)])
    row = capsys.readouterr().out.splitlines()[-1]
    assert row.startswith(f"| searched ({good}) gh_k3,sep_k3,mb_k5_res,gh_k5,mb_k3_e2_res |")
    assert "searched layers" in row
    with pytest.raises(SystemExit) as exit_info:
        model_stats.main(["--arch", str(bad)])
    assert exit_info.value.code == f"error: {bad}: layer 1: op 'nope' is not a candidate there; choose from " + \
        ", ".join(SEARCH_SPACE[1].ops)


def test_every_registered_op_builds_somewhere():
    used = {name for layer in SEARCH_SPACE for name in layer.ops}
    assert used <= set(CANDIDATE_OPS)
