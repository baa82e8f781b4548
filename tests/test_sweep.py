import csv
import itertools
import json
import math
import re
import shutil
from pathlib import Path

import pytest
import torch

import supernet_train
import sweep
from fbnet_pfld import pareto
from fbnet_pfld.checkpoints import load_checkpoint
from fbnet_pfld.errors import SearchError
from fbnet_pfld.lookup_table import LookupTable
from fbnet_pfld.models import Supernet
from fbnet_pfld.search import SearchObjective, most_probable_within
from fbnet_pfld.sweep_plan import training_order
from fbnet_pfld.sweep_record import network_of
from fbnet_pfld.synthetic import make_synthetic_dataset
from fbnet_pfld.table_builders import build_flops_table
from supernet_train import DEFAULT_ALPHA, DEFAULT_BUDGET_USE
from supernet_train import main as search_main


@pytest.fixture(scope="module")
def table():
    return LookupTable(build_flops_table(68))


def theta_gradient(objective, supernet, x):
    supernet.zero_grad()
    landmarks, _, weights = supernet(x, "soft", 1.0)
    loss, _ = objective(landmarks.pow(2).mean(), weights)
    loss.backward(inputs=supernet.arch_parameters())
    return torch.cat([t.grad.flatten() for t in supernet.arch_parameters()])


def test_a_budget_at_the_costliest_architecture_leaves_theta_alone(table):
    torch.manual_seed(0)
    supernet, x = Supernet(68), torch.rand(2, 3, 112, 112)
    free = SearchObjective(table, "add", 0.0, 0.6)
    roomy = SearchObjective(table, "target", 20.0, target=table.max_latency())
    torch.manual_seed(1)
    expected = theta_gradient(free, supernet, x)
    torch.manual_seed(1)
    got = theta_gradient(roomy, supernet, x)
    assert torch.allclose(got, expected, atol=1e-9)
    tight = SearchObjective(table, "target", 20.0, target=table.min_latency())
    torch.manual_seed(1)
    assert not torch.allclose(theta_gradient(tight, supernet, x), expected, atol=1e-6)
    with pytest.raises(SearchError, match="above the costliest"):  # no pressure at all: refused, not run
        SearchObjective(table, "target", 20.0, target=table.max_latency() * 1.01)


def latency_descent(objective, table, steps=60, lr=0.5):
    """Expected cost before and after gradient steps on theta of the latency term alone (a constant task
    loss), from uniform op weights."""
    thetas = [torch.zeros(len(layer.ops), requires_grad=True) for layer in table.search_space]
    optimizer = torch.optim.SGD(thetas, lr=lr)
    costs = []
    for _ in range(steps):
        loss, cost = objective(torch.tensor(1.0), [torch.softmax(t, 0) for t in thetas])
        costs.append(float(cost.detach()))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return costs[0], costs[-1]


def test_the_absolute_mode_spends_the_budget_from_either_side(table):
    low, high = table.min_latency(), table.max_latency()
    start, _ = latency_descent(SearchObjective(table, "add", 0.0, 0.6), table)
    roomy = low + 0.9 * (high - low)  # above the uniform mix's cost: target mode is indifferent there
    assert roomy > start
    assert latency_descent(SearchObjective(table, "target", 20.0, target=roomy), table)[1] == pytest.approx(start)
    _, spent = latency_descent(SearchObjective(table, "absolute", 1.0, target=roomy), table)
    assert start < spent <= roomy * 1.02  # pushed up to the budget, not past it
    tight = low + 0.1 * (high - low)
    _, saved = latency_descent(SearchObjective(table, "absolute", 1.0, target=tight), table)
    assert tight * 0.98 <= saved < start
    assert "|L/T - 1|" in SearchObjective(table, "absolute", 1.0, target=roomy).describe()
    with pytest.raises(ValueError, match="latency target goes with"):
        SearchObjective(table, "absolute", 1.0)
    from supernet_train import parse_args

    assert parse_args(["--mode", "absolute", "--target_latency", "0.3"]).alpha == 1.0
    with pytest.raises(SystemExit):
        parse_args(["--mode", "absolute"])


def test_the_budgeted_choice_is_the_most_probable_architecture_within_budget(table):
    rng = torch.Generator().manual_seed(0)
    everything = list(itertools.product(*(layer.ops for layer in table.search_space)))
    costs = [table.predict(a) for a in everything]
    for trial in range(4):
        log_p = [torch.log_softmax(torch.randn(len(layer.ops), generator=rng), 0).tolist()
                 for layer in table.search_space]
        budget = sorted(costs)[len(costs) * (trial + 1) // 5]
        chosen = most_probable_within(log_p, table, budget)
        assert table.predict(chosen) <= budget
        score = {a: sum(lp[layer.ops.index(op)] for lp, layer, op in zip(log_p, table.search_space, a))
                 for a, c in zip(everything, costs) if c <= budget}
        assert math.isclose(score[tuple(chosen)], max(score.values()), rel_tol=1e-12)
    with pytest.raises(ValueError, match="no architecture fits"):
        most_probable_within(log_p, table, table.min_latency() * 0.9)


def test_a_floor_makes_flat_probabilities_spend_the_budget(table):
    """With flat op probabilities the most probable architecture within budget can be far under it; with a
    floor the choice spends at least that share, and is the most probable one that does (brute force)."""
    everything = list(itertools.product(*(layer.ops for layer in table.search_space)))
    costs = {a: table.predict(a) for a in everything}
    log_p = [torch.log_softmax(-torch.tensor([table.op_cost(i, op) for op in layer.ops]), 0).tolist()
             for i, layer in enumerate(table.search_space)]  # the cheaper, the likelier
    budget = sorted(costs.values())[len(costs) * 3 // 4]
    free = most_probable_within(log_p, table, budget)
    spent = most_probable_within(log_p, table, budget, floor=0.9)
    assert table.predict(free) < 0.9 * budget <= table.predict(spent) <= budget
    score = {a: sum(lp[layer.ops.index(op)] for lp, layer, op in zip(log_p, table.search_space, a))
             for a, c in costs.items() if 0.9 * budget <= c <= budget}
    assert math.isclose(score[tuple(spent)], max(score.values()), rel_tol=1e-12)
    # Where nothing spends the floor's share, the costliest architecture within budget is taken.
    assert table.predict(most_probable_within(log_p, table, budget, floor=1.0)) == max(
        c for c in costs.values() if c <= budget)
    assert "spends >= 80% of it" in SearchObjective(table, "absolute", 1.0, target=budget, floor=0.8).describe()
    with pytest.raises(SearchError, match="share of the budget"):
        SearchObjective(table, "absolute", 1.0, target=budget, floor=1.5)


def test_a_budget_at_the_cheapest_forces_the_cheapest(tmp_path, table):
    root = make_synthetic_dataset(tmp_path / "data", num_points=68, train=48, test=8, seed=3)
    table.save(tmp_path / "flops.json")
    search_main(["--data_root", str(root), "--lut", str(tmp_path / "flops.json"), "--snapshot", str(tmp_path),
                 "--epochs", "2", "--warmup_epochs", "1", "--batch_size", "8", "--workers", "0", "--dev_id", "cpu",
                 "--target_latency", str(table.min_latency())])
    arch = json.loads((tmp_path / "supernet/arch.json").read_text())
    assert arch["arch"] == table.cheapest_arch() and arch["predicted_cost"] <= table.min_latency() + 1e-9
    rows = list(csv.DictReader(open(tmp_path / "supernet/log.csv")))
    assert all(float(r["arch_cost"]) <= float(r["target"]) + 1e-9 for r in rows)


def test_the_sweep_runs_end_to_end_on_generated_data(tmp_path, table):
    root = make_synthetic_dataset(tmp_path / "data", num_points=68, train=48, test=8, seed=4)
    table.save(tmp_path / "flops.json")
    args = ["--data_root", str(root), "--lut", str(tmp_path / "flops.json"), "--out", str(tmp_path / "sweep"),
            "--budgets", "2", "--randoms", "1", "--warmup", "1", "--search_epochs", "1", "--finetune_epochs", "1",
            "--batch_size", "8", "--workers", "0", "--runs", "20", "--baselines", "baseline", "--epoch_size", "16"]
    points = sweep.run_sweep(sweep.parse_args(args))
    rows = list(csv.DictReader(open(tmp_path / "sweep/pareto.csv")))
    assert list(rows[0]) == pareto.FIELDS
    assert [r["kind"] for r in rows].count("searched") == 2 and {r["kind"] for r in rows} == {"searched", "random",
                                                                                            "baseline"}
    for point in points:
        if point["kind"] == "searched":
            assert point["predicted_ms"] <= point["target_ms"] + 1e-9
        if point["kind"] == "random":
            searched = next(p for p in points if p["kind"] == "searched" and p["target_ms"] == point["target_ms"])
            assert abs(point["predicted_ms"] - searched["predicted_ms"]) <= 0.05 * searched["predicted_ms"]
        assert point["measured_ms"] > 0 and point["nme_io"] > 0
    assert (tmp_path / "sweep/pareto.png").stat().st_size > 10_000
    assert "Kendall tau" in (tmp_path / "sweep/summary.txt").read_text()
    searches = sorted((tmp_path / "sweep").glob("search_*/supernet/checkpoint_last.pth"))
    assert len(searches) == 2 and all(load_checkpoint(s)["args"]["mode"] == "absolute" for s in searches)
    # The draw flags reach every training the sweep runs: the searches and each fine-tune.
    trainings = searches + sorted((tmp_path / "sweep").glob("finetune/*/*/checkpoint_last.pth"))
    assert len(trainings) == len(points) + 2 and {load_checkpoint(c)["args"]["epoch_size"] for c in trainings} == {16}
    # Resumable: a second call reads everything back instead of training again.
    again = sweep.run_sweep(sweep.parse_args(args))
    assert [p["nme_io"] for p in again] == [p["nme_io"] for p in points]
    # Stopped part way: --report_only trains nothing more, reports what is finished and names the rest.
    partial = sweep.run_sweep(sweep.parse_args(args + ["--randoms", "2", "--random_budgets", "1", "--report_only"]))
    assert len(partial) == len(points) - 1  # the second budget's control is no longer asked for
    assert (tmp_path / "sweep/summary.txt").read_text().count("not trained yet (left out): random ") == 1
    assert [p["kind"] for p in partial].count("random") == 1  # the second budget has none now
    # A rerun with a flag that changes what its points are is refused: no report mixing two sweeps.
    before = (tmp_path / "sweep/pareto.csv").read_text()
    with pytest.raises(SystemExit, match="sweep.json: this sweep ran with --loss wing, this run asks for pfld"):
        sweep.main(args + ["--loss", "pfld"])
    assert (tmp_path / "sweep/pareto.csv").read_text() == before and {r["epochs"] for r in rows} == {"1"}


def test_a_sweep_trains_what_its_comparisons_need_first():
    """Searched models, then the hand-designed ones, then random controls; second seeds last."""
    points = [{"kind": "searched", "seed": 0, "n": 0}, {"kind": "searched", "seed": 1, "n": 1},
              {"kind": "random", "seed": 0, "n": 2}, {"kind": "searched", "seed": 0, "n": 3},
              {"kind": "width", "seed": 0, "n": 4}, {"kind": "baseline", "seed": 0, "n": 5}]
    assert [p["n"] for p in training_order(points, first_seed=0)] == [0, 3, 4, 5, 2, 1]


def test_run_to_end_stops_a_resumed_run_at_the_requested_epoch(tmp_path):
    """A shared warm-up resumed after 2 of 5 epochs runs 3 more, not 5 more; a finished one is not rerun."""
    from fbnet_pfld.checkpoints import save_checkpoint
    from fbnet_pfld.cli import run_to_end
    from fbnet_pfld.engine import LAST

    calls = []
    run_to_end(calls.append, ["--epochs", "20"], tmp_path, 5)
    assert calls == [["--epochs", "20", "--stop_after", "5"]]
    save_checkpoint({"epoch": 1}, tmp_path / LAST)
    run_to_end(calls.append, ["--epochs", "20"], tmp_path, 5)
    assert calls[-1] == ["--epochs", "20", "--stop_after", "3", "--resume", str(tmp_path / LAST)]
    save_checkpoint({"epoch": 4}, tmp_path / LAST)
    run_to_end(calls.append, ["--epochs", "20"], tmp_path, 5)
    assert len(calls) == 2


def test_the_summary_judges_each_budget_against_its_controls_the_width_family_and_its_use():
    def point(kind, nme, ms, **extra):
        return {"kind": kind, "nme_io": nme, "measured_ms": ms, "seed": 0, **extra}

    searched = dict(arch=["a"], target_ms=1.0, supernet_nme_io=0.2, theta_log_prob=-1.0)
    points = [point("searched", 0.060, 0.50, predicted_ms=0.95, **searched),
              point("random", 0.070, 0.50, predicted_ms=0.95, **dict(searched, arch=["b"], theta_log_prob=-3.0)),
              point("random", 0.050, 0.60, predicted_ms=0.96, **dict(searched, arch=["c"], theta_log_prob=-4.0)),
              point("searched", 0.080, 0.30, predicted_ms=0.30, **dict(searched, target_ms=0.5, arch=["d"])),
              point("width", 0.064, 0.40, model="pfld_lite@0.5"), point("width", 0.070, 2.00, model="pfld_lite@1")]
    lines = pareto.summary(points).splitlines()
    assert lines[0].startswith("budget 1: searched a NME 6.00%") and "beats the median of 2 random controls (6.00%)" \
        in lines[0] and "uses 95% of its budget" in lines[0] and "under 80%" not in lines[0]
    family_at = 0.064 + (0.070 - 0.064) * math.log(0.5 / 0.4) / math.log(2.0 / 0.4)
    assert f"{0.060 / family_at:.3f}x the width family's" in lines[0] and "(meets <= 0.95x)" in lines[0]
    # Each control is set against the family at its own measured latency (the controls match the predicted one).
    control_at = 0.064 + (0.070 - 0.064) * math.log(0.6 / 0.4) / math.log(2.0 / 0.4)
    assert lines[1].startswith("budget 1: random control b NME 7.00% at 0.500 ms (1.00x the search's latency); "
                               f"{0.070 / family_at:.3f}x the width family's")
    assert lines[2].startswith("budget 1: random control c NME 5.00% at 0.600 ms (1.20x the search's latency); "
                               f"{0.050 / control_at:.3f}x the width family's")
    assert "(no random controls at this budget)" in lines[3] and "uses 60% of its budget (under 80%)" in lines[3]
    assert "width family's measured 0.400-2.000 ms (faster than every width): 1.250x the NME of pfld_lite@0.5 " \
        "(6.40% at 0.400 ms)" in lines[3]  # 0.30 ms lies outside the family: its cheapest end
    assert "best searched NME 8.00% = 1.143x pfld_lite's at 0.150x its latency" in lines[4]
    # A second seed measures the noise: a gap to the controls within it is a tie, not a win.
    lines = pareto.summary(points + [point("searched", 0.066, 0.31, predicted_ms=0.95, **dict(searched, seed=1))])
    assert "ties the median of 2 random controls (6.00%; seed spread 0.60 points)" in lines.splitlines()[0]
    verdicts = [pareto.against_controls({"nme_io": nme}, [0.062, 0.066], spread).split(" the median")[0]
                for nme, spread in ((0.060, 0.003), (0.060, 0.0049), (0.068, 0.003), (0.068, None))]
    assert verdicts == ["beats", "ties", "does NOT beat", "does NOT beat"]  # the median is 6.40%


@pytest.mark.parametrize("theta_only", [True, False])
def test_theta_only_search_epochs_leave_the_warmed_up_weights_exactly(tmp_path, table, theta_only):
    root = make_synthetic_dataset(tmp_path / "data", num_points=68, train=24, test=8, seed=5)
    table.save(tmp_path / "flops.json")
    flags = ["--data_root", str(root), "--lut", str(tmp_path / "flops.json"), "--snapshot", str(tmp_path),
             "--epochs", "3", "--warmup_epochs", "1", "--batch_size", "8", "--workers", "0", "--dev_id", "cpu",
             "--target_latency", str(0.5 * (table.min_latency() + table.max_latency())),
             *(["--theta_only"] if theta_only else [])]
    search_main(flags + ["--stop_after", "1"])
    warm = load_checkpoint(tmp_path / "supernet/checkpoint_last.pth")["supernet"]
    search_main(flags + ["--resume", str(tmp_path / "supernet/checkpoint_last.pth")])
    searched = load_checkpoint(tmp_path / "supernet/checkpoint_last.pth")["supernet"]
    # The parameters; BatchNorm's running statistics follow the theta pass's batches either way.
    weights = [k for k, _ in Supernet(68).named_parameters() if ".theta" not in k]
    thetas = [k for k in warm if ".theta" in k]
    assert thetas and not all(torch.equal(warm[k], searched[k]) for k in thetas)  # theta was searched
    assert all(torch.equal(warm[k], searched[k]) for k in weights) == theta_only
    rows = list(csv.DictReader(open(tmp_path / "supernet/log.csv")))
    assert [r["phase"] for r in rows] == ["warmup", "search", "search"]
    assert all(math.isnan(float(r["weight_loss"])) == (theta_only and r["phase"] == "search") for r in rows)


def test_theta_only_without_a_warmup_is_refused(capsys):
    from supernet_train import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--theta_only", "--warmup_epochs", "0"])
    assert "--theta_only keeps the warm-up's weights: it needs --warmup_epochs > 0" in capsys.readouterr().err
    assert parse_args(["--theta_only", "--warmup_epochs", "2"]).theta_only


def test_a_warm_up_resumed_into_a_search_takes_the_searchs_theta_settings(tmp_path, table):
    """Theta has not moved during a warm-up, so its learning rate and the budget's floor may be set at resume,
    and they act (not the warm-up's)."""
    root = make_synthetic_dataset(tmp_path / "data", num_points=68, train=24, test=8, seed=6)
    table.save(tmp_path / "flops.json")
    flags = ["--data_root", str(root), "--lut", str(tmp_path / "flops.json"), "--snapshot", str(tmp_path),
             "--epochs", "2", "--warmup_epochs", "1", "--batch_size", "8", "--workers", "0", "--dev_id", "cpu"]
    search_main(flags + ["--stop_after", "1"])
    last = tmp_path / "supernet/checkpoint_last.pth"
    search_main(flags + ["--resume", str(last), "--theta_lr", "0.05", "--mode", "absolute", "--target_latency",
                         str(table.max_latency()), "--min_budget_use", "0.9"])
    state = load_checkpoint(last)
    assert [g["lr"] for g in state["theta_optimizer"]["param_groups"]] == [0.05]
    assert state["args"]["min_budget_use"] == 0.9
    arch = json.loads((tmp_path / "supernet/arch.json").read_text())
    assert arch["predicted_cost"] >= 0.9 * table.max_latency()


def test_a_warm_up_resumed_into_a_search_takes_the_search_modes_defaults(tmp_path, table):
    """A warm-up runs in the default mode (mul: alpha 0.25, no budget floor); the budget's search resumed from it
    with --mode absolute and nothing else gets absolute's latency weight and floor, as a search run alone would
    (not the warm-up's), unless they are given."""
    root = make_synthetic_dataset(tmp_path / "data", num_points=68, train=24, test=8, seed=6)
    table.save(tmp_path / "flops.json")
    flags = ["--data_root", str(root), "--lut", str(tmp_path / "flops.json"), "--epochs", "2", "--warmup_epochs", "1",
             "--batch_size", "8", "--workers", "0", "--dev_id", "cpu"]
    search_main(flags + ["--snapshot", str(tmp_path / "warm"), "--stop_after", "1"])
    budget = ["--mode", "absolute", "--target_latency", str(table.max_latency() / 2)]
    for name, extra, alpha, floor in (("a", [], DEFAULT_ALPHA["absolute"], DEFAULT_BUDGET_USE["absolute"]),
                                      ("b", ["--alpha", "0.5", "--min_budget_use", "0"], 0.5, 0.0)):
        last = tmp_path / name / "supernet" / "checkpoint_last.pth"
        last.parent.mkdir(parents=True)
        shutil.copy(tmp_path / "warm/supernet/checkpoint_last.pth", last)
        search_main(flags + ["--snapshot", str(tmp_path / name), "--resume", str(last), *budget, *extra])
        saved = load_checkpoint(last)["args"]
        assert (saved["mode"], saved["alpha"], saved["min_budget_use"]) == ("absolute", alpha, floor)
    assert "the choice spends >= 80% of it" in (tmp_path / "a/supernet/train.log").read_text()
    # A search resumed in its own mode keeps its flags.
    resumed = supernet_train.parse_args(flags + ["--snapshot", str(tmp_path / "b"), "--resume", str(last)])
    assert (resumed.mode, resumed.alpha, resumed.min_budget_use) == ("absolute", 0.5, 0.0)


def test_a_sweep_continues_from_its_record_alone_on_a_machine_without_its_runs(tmp_path, table):
    root = make_synthetic_dataset(tmp_path / "data", num_points=68, train=24, test=8, seed=8)
    table.save(tmp_path / "flops.json")
    args = ["--data_root", str(root), "--lut", str(tmp_path / "flops.json"), "--budgets", "1", "--randoms", "0",
            "--warmup", "1", "--search_epochs", "1", "--finetune_epochs", "1", "--batch_size", "8", "--workers", "0",
            "--runs", "5", "--baselines", "baseline", "--record", str(tmp_path / "record")]
    first = sweep.run_sweep(sweep.parse_args(args + ["--out", str(tmp_path / "runs1")]))
    record = tmp_path / "record"
    rows = list(csv.DictReader(open(record / "points.csv")))
    assert sorted(r["network"] for r in rows) == sorted(network_of(p) for p in first)
    assert all((record / "onnx" / r["onnx"]).is_file() and r["epochs"] == "1" and float(r["minutes"]) > 0 for r in rows)
    [search] = (record / "searches").glob("budget_*.json")  # an arch.json with its space: retrain --arch takes it
    assert json.loads(search.read_text())["arch"] == first[0]["arch"] and "search_space" in search.read_text()
    for row in rows:  # each training's per-epoch log, as its run folder had it
        assert (record / "logs" / row["onnx"].replace(".onnx", ".csv")).read_text().count("\n") == 2
    assert (record / "logs" / "warmup.csv").read_bytes() == (tmp_path / "runs1/warmup/supernet/log.csv").read_bytes()
    [search_log] = (record / "logs").glob("search_*.csv")
    assert search_log.read_text().count("\n") == 2  # the search's epoch, after the warm-up's
    kept = re.search(r"wall time kept in the record \(min\): warm-up ([\d.]+), searches ([\d.]+), trainings "
                     r"([\d.]+), in all ([\d.]+)", (tmp_path / "runs1/summary.txt").read_text())
    for part, log in ((1, record / "logs" / "warmup.csv"), (2, search_log)):  # as the logs timed them
        seconds = sum(float(r["seconds"]) for r in csv.DictReader(open(log)))
        assert seconds > 0 and float(kept[part]) == pytest.approx(seconds / 60, abs=0.005)
    assert float(kept[3]) == pytest.approx(sum(float(r["minutes"]) for r in rows), abs=0.01)
    assert float(kept[4]) == pytest.approx(sum(float(m) for m in kept.groups()[:3]), abs=0.015)
    # Another machine: the record alone, the data rebuilt in another place. Nothing is searched or trained
    # again, and the report is the same.
    shutil.copytree(root, tmp_path / "machine2" / root.name)
    args[1] = str(tmp_path / "machine2" / root.name)
    again = sweep.run_sweep(sweep.parse_args(args + ["--out", str(tmp_path / "runs2")]))
    assert not (tmp_path / "runs2" / "warmup").exists() and not (tmp_path / "runs2" / "finetune").exists()
    assert [(p["kind"], p["epochs"]) for p in again] == [(p["kind"], p["epochs"]) for p in first]
    assert [p["nme_io"] for p in again] == pytest.approx([p["nme_io"] for p in first], rel=1e-4)  # 5 digits kept
    summary = (tmp_path / "runs2" / "summary.txt").read_text()
    assert "one-shot ranking by the supernet's inherited NME: not measured" in summary
    released_from_record(record, search, args[1], rows, tmp_path / "family")
    # A record made with other flags is refused, not mixed.
    with pytest.raises(SystemExit, match="record/sweep.json: this sweep ran with --finetune_epochs 1"):
        sweep.main(args + ["--out", str(tmp_path / "runs3"), "--finetune_epochs", "2"])
    # A training run elsewhere with exactly the sweep's flags is adopted, not trained again ...
    import retrain
    shutil.copytree(record / "searches", tmp_path / "record2" / "searches")
    other = args[:-1] + [str(tmp_path / "record2")]
    baseline = tmp_path / "runs1/finetune/baseline/baseline/checkpoint_last.pth"
    sweep.run_sweep(sweep.parse_args(other + ["--out", str(tmp_path / "runs4"), "--adopt", f"baseline={baseline}"]))
    assert (tmp_path / "runs4/finetune").is_dir() and not (tmp_path / "runs4/finetune/baseline").exists()
    assert "baseline" in (tmp_path / "record2/points.csv").read_text()
    # ... and one trained another way is refused.
    retrain.main(["--data_root", str(root), "--model", "baseline", "--epochs", "1", "--batch_size", "8", "--workers",
                  "0", "--lr", "0.002", "--snapshot", str(tmp_path / "elsewhere"), "--fastpath", "eager"])
    with pytest.raises(SystemExit, match="trained with --lr 0.002, the sweep trains baseline with 0.004"):
        sweep.main(args[:-1] + [str(tmp_path / "record3"), "--out", str(tmp_path / "runs5"), "--adopt",
                                f"baseline={tmp_path / 'elsewhere/baseline/checkpoint_last.pth'}"])


def released_from_record(record, search, data_root, rows, out):
    """tools.release --record: a recorded searched model and a hand-designed one released from the record alone,
    the ONNX file as recorded, the MNN file proved against it, architecture, log, curves and training table."""
    from fbnet_pfld.deploy import MnnSession, OrtSession
    from fbnet_pfld.exporting import parity_images
    from tools import release

    release.main(["--no_search", "--record", str(record), "--data_root", data_root, "--models", f"small={search}",
                  "base=baseline", "--out", str(out)])
    recorded = {r["network"]: r["onnx"] for r in rows}
    assert (out / "small.onnx").read_bytes() == (record / "onnx" / recorded[",".join(
        json.loads(search.read_text())["arch"])]).read_bytes()
    assert json.loads((out / "small_arch.json").read_text()) == json.loads(search.read_text())
    assert not (out / "base_arch.json").exists()
    images = parity_images(data_root).numpy()
    got = MnnSession(None, threads=1, mnn_path=out / "small.mnn").run({"input": images})[0]
    assert abs(got - OrtSession(out / "small.onnx").run({"input": images})[0]).max() < 1e-4
    table = (out / "training.md").read_text()
    assert f"| train small from scratch on {Path(data_root).name}, fp32 |" in table  # the record's fast path
    assert f"| train base from scratch on {Path(data_root).name}, fp32 |" in table
    assert (out / "small_curves.png").stat().st_size > 0 and (out / "fine_tunes.png").is_file()
    with pytest.raises(SystemExit, match="no training of pfld_lite@0.5 with seed 0 for 1 epochs is recorded"):
        release.main(["--no_search", "--record", str(record), "--models", "x=pfld_lite@0.5", "--out", str(out)])


def test_every_training_of_a_sweep_runs_the_one_fast_path_its_record_fixes(tmp_path, table):
    from fbnet_pfld.checkpoints import save_checkpoint
    from fbnet_pfld.jsonfile import write_json

    root = make_synthetic_dataset(tmp_path / "data", num_points=68, train=16, test=4, seed=3)
    table.save(tmp_path / "flops.json")
    base = ["--data_root", str(root), "--lut", str(tmp_path / "flops.json"), "--budgets", "1", "--randoms", "0",
            "--warmup", "1", "--search_epochs", "1", "--finetune_epochs", "1", "--batch_size", "8", "--workers", "0",
            "--runs", "5", "--baselines", "baseline", "--fastpath", "channels_last"]  # the tests' default: eager
    args = base + ["--record", str(tmp_path / "record")]
    points = sweep.run_sweep(sweep.parse_args(args + ["--out", str(tmp_path / "runs1")]))
    trained = sorted((tmp_path / "runs1" / "finetune").glob("*/*/checkpoint_last.pth"))
    assert len(trained) == len(points) == 2 and {load_checkpoint(p)["fastpath"] for p in trained} == {"channels_last"}
    # A record begun before the fast path was fixed gains it, and keeps it from then on.
    saved = json.loads((tmp_path / "record" / "sweep.json").read_text())
    write_json({k: v for k, v in saved.items() if k != "fastpath"}, tmp_path / "record" / "sweep.json")
    sweep.run_sweep(sweep.parse_args(args + ["--out", str(tmp_path / "runs2")]))
    assert json.loads((tmp_path / "record" / "sweep.json").read_text()) == saved
    with pytest.raises(SystemExit, match="record/sweep.json: this sweep ran with --fastpath channels_last, this run "
                                         "asks for eager"):
        sweep.main(args + ["--fastpath", "eager", "--out", str(tmp_path / "runs3")])
    # An adopted training must have run in the sweep's precision, and say so.
    state = load_checkpoint(trained[0] if "baseline" in str(trained[0]) else trained[1])
    for fastpath, said in (("bf16", "trained in bf16, the sweep trains in fp32 \\(--fastpath channels_last\\)"),
                           (None, "trained in a precision it does not name")):
        other = {k: v for k, v in state.items() if k != "fastpath"} | ({"fastpath": fastpath} if fastpath else {})
        save_checkpoint(other, tmp_path / f"adopted_{fastpath}.pth")
        with pytest.raises(SystemExit, match=said):
            sweep.main(base + ["--record", str(tmp_path / f"record_{fastpath}"), "--out",
                               str(tmp_path / f"runs_{fastpath}"), "--adopt",
                               f"baseline={tmp_path / f'adopted_{fastpath}.pth'}"])
