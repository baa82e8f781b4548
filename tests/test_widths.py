"""Spaces whose layers choose their widths: building, weight sharing, export, the width-keyed table, the
expected latency and the budgeted choice against brute force, and the refusals of incompatible widths."""

import itertools
import math
import random

import numpy as np
import pytest
import torch

from fbnet_pfld.blocks import LayerSpec, check_search_space, width_choices
from fbnet_pfld.deploy import LandmarksOnly, export_onnx
from fbnet_pfld.errors import LookupTableError, SearchSpaceError
from fbnet_pfld.lookup_table import LookupTable
from fbnet_pfld.models import Subnet, Supernet, count_macs
from fbnet_pfld.search import most_probable_within, path_batchnorm
from fbnet_pfld.space import search_space_from_list, search_space_to_list
from fbnet_pfld.table_builders import build_flops_table

# The whole network, image to head: the first conv, a stage whose second layer follows the first's width,
# and a last layer of fixed c_in == c_out that follows too; 64 architectures in all.
TINY = [LayerSpec(3, 16, 2, 112, ("conv_k3",), (8, 16)),
        LayerSpec(16, 24, 2, 56, ("sep_k3", "mb_k3_e3_res"), (12, 24)),
        LayerSpec(24, 24, 1, 28, ("skip", "mb_k3_e3_res_se")),
        LayerSpec(24, 32, 2, 28, ("sep_k3",), (16, 32)),
        LayerSpec(32, 32, 2, 14, ("sep_k3", "gh_k3"))]


def all_archs(space):
    return [list(arch) for arch in itertools.product(*(layer.candidates for layer in space))]


def test_a_whole_network_space_with_widths_is_valid_and_survives_json():
    check_search_space(TINY)
    assert search_space_from_list(search_space_to_list(TINY)) == TINY
    assert width_choices(TINY) == [[3], [8, 16], [12, 24], [12, 24], [16, 32], [16, 32]]
    assert len(all_archs(TINY)) == 64


@pytest.mark.parametrize("layers, message", [
    ([(16, 16, 1, 56, ("skip", "sep_k3"), (8, 16))], "layer 1: 'skip' is a residual op"),
    ([(16, 25, 2, 56, ("gh_k3",), (15, 25))], "layer 1: gh_k3 splits its output in two groups"),
    ([(16, 24, 2, 56, ("sep_k3",), (12, 16))], "layer 1: widths must be distinct positive channel counts"),
])
def test_incompatible_widths_are_refused_naming_the_layer(layers, message):
    space = [TINY[0], *(LayerSpec(*layer) for layer in layers)]
    with pytest.raises(SearchSpaceError, match=message):
        check_search_space(space)


def test_a_follow_layer_given_an_odd_width_is_refused_for_a_grouped_op():
    space = [LayerSpec(3, 16, 2, 112, ("conv_k3",), (9, 16)), LayerSpec(16, 16, 2, 56, ("gh_k3",))]
    with pytest.raises(SearchSpaceError, match="layer 1: gh_k3 .* can give 9"):
        check_search_space(space)


def test_every_width_choice_takes_its_weights_from_the_supernet_exactly():
    torch.manual_seed(0)
    supernet = Supernet(68, TINY)
    supernet.train()
    for _ in range(2):  # a few sampled steps move BatchNorm statistics of narrower choices too
        supernet(torch.rand(2, 3, 112, 112), mode="hard")[0].sum().backward()
    supernet.eval()
    x = torch.rand(2, 3, 112, 112)
    for arch in all_archs(TINY)[::5]:
        subnet = Subnet.from_supernet(supernet, arch).eval()
        with torch.no_grad():
            assert torch.equal(supernet(x, arch=arch)[0], subnet(x)[0]), arch


def test_a_narrow_choice_trains_the_first_channels_of_the_widest_weights():
    torch.manual_seed(0)
    supernet = Supernet(68, TINY).train()
    arch = ["conv_k3@8", "sep_k3@12", "skip", "sep_k3@16", "sep_k3"]
    bn = supernet.layers[0].ops[0][1]
    before = bn.running_mean.clone()
    supernet(torch.rand(2, 3, 112, 112), arch=arch)[0].sum().backward()
    moved = (bn.running_mean != before).nonzero().flatten().tolist()
    assert moved and max(moved) < 8
    conv = supernet.layers[0].ops[0][0].weight
    assert conv.grad[:8].abs().sum() > 0 and conv.grad[8:].abs().sum() == 0


@pytest.mark.parametrize("arch", [["conv_k3@8", "sep_k3@12", "skip", "sep_k3@16", "sep_k3"],
                                  ["conv_k3@16", "mb_k3_e3_res@24", "mb_k3_e3_res_se", "sep_k3@32", "gh_k3"]])
def test_re_estimated_batchnorm_statistics_of_a_path_are_its_own_at_every_width(arch):
    torch.manual_seed(0)
    supernet = Supernet(68, TINY).train()
    for _ in range(3):  # other paths leave their statistics in the shared layers
        supernet(torch.rand(4, 3, 112, 112) * 3, mode="hard")
    batch = torch.rand(16, 3, 112, 112)
    with torch.no_grad():
        trained_mode = supernet(batch, arch=arch)[0]  # normalised by the batch's own statistics
        with path_batchnorm(supernet, arch, [(batch,)], 1):
            own = supernet(batch, arch=arch)[0]
        restored = supernet(batch, arch=arch)[0]
    assert (own - trained_mode).abs().max() < 1e-2  # running variance is unbiased, the batch's biased
    assert (restored - trained_mode).abs().max() > 0.1


def test_sampling_soft_is_refused_where_layers_choose_widths():
    with pytest.raises(SearchSpaceError, match="sample 'hard'"):
        Supernet(68, TINY)(torch.rand(1, 3, 112, 112), mode="soft")


@pytest.mark.parametrize("arch", [["conv_k3@8", "sep_k3@12", "skip", "sep_k3@16", "gh_k3"],
                                  ["conv_k3@16", "mb_k3_e3_res@24", "mb_k3_e3_res_se", "sep_k3@32", "sep_k3"]])
def test_each_width_choice_exports_to_onnx_at_parity(tmp_path, arch):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(1)
    model = LandmarksOnly(Subnet(arch, 68, TINY)).eval()
    x = torch.rand(1, 3, 112, 112)
    path = export_onnx(model, (x,), tmp_path / "net.onnx", ["input"], ["landmarks"])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        assert np.abs(got - model(x).numpy()).max() <= 1e-4


@pytest.fixture(scope="module")
def tiny_table():
    return LookupTable(build_flops_table(68, TINY))


def test_the_table_keys_costs_by_input_width(tiny_table):
    layer = tiny_table.data["layers"][1]
    assert set(layer["ops"]["sep_k3@12"]["by_input"]) == {"8", "16"}
    assert "median" in tiny_table.data["layers"][0]["ops"]["conv_k3@8"]  # a fixed input needs no key


def test_a_flops_table_predicts_every_architecture_exactly(tiny_table):
    for arch in all_archs(TINY)[::3]:
        assert tiny_table.predict(arch) == pytest.approx(count_macs(Subnet(arch, 68, TINY)) / 1e6, rel=1e-9)


def test_expected_latency_equals_brute_force_over_every_architecture(tiny_table):
    torch.manual_seed(2)
    weights = [torch.softmax(torch.randn(len(layer.candidates), dtype=torch.float64), 0) for layer in TINY]
    brute = 0.0
    for arch in all_archs(TINY):
        p = math.prod(float(w[layer.candidates.index(name)]) for w, layer, name in zip(weights, TINY, arch))
        brute += p * tiny_table.predict(arch)
    assert float(tiny_table.expected_latency(weights)) == pytest.approx(brute, rel=1e-9)


def test_expected_latency_passes_gradients_to_the_width_before(tiny_table):
    thetas = [torch.zeros(len(layer.candidates), dtype=torch.float64, requires_grad=True) for layer in TINY]
    tiny_table.expected_latency([torch.softmax(t, 0) for t in thetas]).backward()
    assert thetas[0].grad.abs().sum() > 0  # the first conv's width changes the next layer's cost


def test_extremes_and_the_budgeted_choice_match_brute_force(tiny_table):
    costs = {tuple(arch): tiny_table.predict(arch) for arch in all_archs(TINY)}
    assert tiny_table.min_latency() == pytest.approx(min(costs.values()))
    assert tiny_table.max_latency() == pytest.approx(max(costs.values()))
    rng = random.Random(3)
    log_p = [[math.log(rng.random()) for _ in layer.candidates] for layer in TINY]
    for budget, floor in itertools.product(np.linspace(tiny_table.min_latency(), tiny_table.max_latency(), 7),
                                           (0.0, 0.8, 0.95)):
        score = {arch: sum(lp[layer.candidates.index(n)] for lp, layer, n in zip(log_p, TINY, arch))
                 for arch, cost in costs.items() if floor * budget <= cost <= budget + 1e-12}
        if not score:
            continue
        chosen = most_probable_within(log_p, tiny_table, budget, floor)
        assert floor * budget <= tiny_table.predict(chosen) <= budget + 1e-12
        assert score[tuple(chosen)] == pytest.approx(max(score.values()))


def test_a_table_lacking_a_width_pair_is_refused_naming_it(tiny_table):
    data = build_flops_table(68, TINY)
    del data["layers"][2]["ops"]["skip"]["by_input"]["24"]
    with pytest.raises(LookupTableError, match="layer 2: op skip has no cost from 24 input channels"):
        LookupTable(data)


def test_the_sweep_compares_searched_random_and_the_width_family_end_to_end(tmp_path):
    import csv

    import sweep
    from fbnet_pfld.synthetic import make_synthetic_dataset

    root = make_synthetic_dataset(tmp_path / "data", num_points=68, train=48, test=8, seed=4)
    LookupTable(build_flops_table(68, TINY)).save(tmp_path / "flops.json")
    args = ["--data_root", str(root), "--lut", str(tmp_path / "flops.json"), "--out", str(tmp_path / "sweep"),
            "--ratios", "0.05", "0.09", "--randoms", "1", "--reseed", "1", "--width_family", "0.25", "0.5",
            "--baselines", "--warmup", "1", "--search_epochs", "1", "--finetune_epochs", "1", "--batch_size", "8",
            "--workers", "0", "--runs", "20"]
    points = sweep.run_sweep(sweep.parse_args(args))
    rows = list(csv.DictReader(open(tmp_path / "sweep/pareto.csv")))
    kinds = [r["kind"] for r in rows]
    assert kinds.count("searched") == 3 and kinds.count("width") == 2 and "random" in kinds
    assert {r["arch"] for r in rows if r["kind"] == "width"} == {"pfld_lite@0.25", "pfld_lite@0.5"}
    reference = LookupTable.load(tmp_path / "flops.json").reference_latency()
    for point in (p for p in points if p["kind"] == "searched"):
        assert point["predicted_ms"] <= point["target_ms"] + 1e-9
        assert point["target_ms"] == pytest.approx(round(point["target_ms"] / reference, 2) * reference, rel=1e-3)
        assert any(name.partition("@")[2] for name in point["arch"])  # the widths were searched too
    assert {p["seed"] for p in points if p["kind"] == "searched"} == {0, 1}
    text = (tmp_path / "sweep/summary.txt").read_text()
    assert "theta's probability" in text and "seed 1" in text


def test_the_sandwich_rule_trains_the_costliest_and_the_cheapest_architecture_every_step(tiny_table):
    from fbnet_pfld.distributed import Runtime
    from fbnet_pfld.losses import LOSSES
    from fbnet_pfld.models import AuxiliaryNet
    from fbnet_pfld.search import Sandwich, train_weights_sandwich

    torch.manual_seed(0)
    supernet, aux = Supernet(68, TINY), AuxiliaryNet(24)
    largest, smallest = tiny_table.costliest_arch(), tiny_table.cheapest_arch()
    assert largest[2] == "mb_k3_e3_res_se" and smallest[2] == "skip"
    watched = {"costliest's layer 2": supernet.layers[2].ops[1].expand[0].weight,
               "cheapest's layer 4": next(supernet.layers[4].ops[TINY[4].ops.index(smallest[4])].parameters())}
    before = {name: p.detach().clone() for name, p in watched.items()}
    batch = (torch.rand(4, 3, 112, 112), torch.rand(4, 136), torch.zeros(4, 3))
    optimizer = torch.optim.SGD([*supernet.parameters(), *aux.parameters()], lr=0.1)
    loss, _ = train_weights_sandwich(supernet, aux, [batch], optimizer, Runtime(0, 1, torch.device("cpu"), []),
                                     LOSSES["wing"], Sandwich(largest, smallest, 1.0), "hard", 1.0)
    assert math.isfinite(loss)
    for name, p in watched.items():
        assert not torch.equal(p, before[name]), name


def test_inplace_distillation_without_the_sandwich_rule_is_refused(capsys):
    from supernet_train import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--inplace_distill", "1"])
    assert "--inplace_distill needs --sandwich" in capsys.readouterr().err
    assert parse_args(["--sandwich", "--inplace_distill", "1"]).inplace_distill == 1.0


def test_a_measured_table_of_a_width_space_is_complete_and_checks_whole_networks():
    pytest.importorskip("onnxruntime")
    from fbnet_pfld.table_builders import build_measured_table, check_table

    table = LookupTable(build_measured_table(threads=1, runs=20, search_space=TINY))
    assert table.meta["machine"] and table.meta["references"]["pfld_lite"] > 0
    assert 0 < table.min_latency() < table.max_latency()
    result = check_table(table, archs=6, runs=20)
    assert len(set(map(tuple, result["archs"]))) > 1 and all(ms > 0 for ms in result["measured"])
    assert math.isfinite(result["spearman"]) and math.isfinite(result["mape"])


def test_a_wider_head_timed_cheaper_than_the_narrowest_adds_nothing(monkeypatch, tmp_path):
    """Timing noise must not give a candidate (a skip costs nothing alone) a negative cost."""
    from fbnet_pfld import table_builders

    def stats(ms):
        return {"median": ms, "p10": ms, "p90": ms, "runs": 20}

    monkeypatch.setattr(table_builders, "export_part", lambda module, inputs, path, simplify=False: path)
    monkeypatch.setattr(table_builders, "time_onnx_files",
                        lambda paths, runtime, threads, runs: [stats(0.01), stats(0.31), stats(0.01), stats(0.29),
                                                               stats(0.36)])
    parts = [(None, None, "fixed_head", None, None), (1, 16, "skip", None, None)]
    _, alone, increments = table_builders._time_alone(parts, [(0, 16, None, None), (0, 24, None, None)],
                                                      "onnxruntime", 1, 20, tmp_path)
    assert alone[(1, 16, "skip")]["median"] == 0.0
    assert increments[(0, 16)] == 0.0 and increments[(0, 24)] == pytest.approx(0.05)
