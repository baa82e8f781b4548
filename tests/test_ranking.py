"""The one-shot ranking tool: a supernet's inherited NME against a sweep's fine-tuned NME, and its refusals."""

import csv

import pytest
import torch

import supernet_train
from fbnet_pfld.checkpoints import load_supernet
from fbnet_pfld.dataset import held_out_loader, load_datasets, load_test_set, make_loader
from fbnet_pfld.errors import DataError
from fbnet_pfld.lookup_table import LookupTable
from fbnet_pfld.one_shot import supernet_nme
from fbnet_pfld.sampling import random_archs
from fbnet_pfld.search import path_batchnorm
from fbnet_pfld.slicing import batch_norms
from fbnet_pfld.synthetic import make_synthetic_dataset
from fbnet_pfld.table_builders import build_flops_table
from fbnet_pfld.utils import read_csv_rows
from tools import ranking

FIELDS = ["kind", "arch", "nme_io", "seed"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(data root, warm-up supernet checkpoint, a few architectures of its space)."""
    tmp = tmp_path_factory.mktemp("ranking")
    root = make_synthetic_dataset(tmp / "data", num_points=68, train=24, test=8, seed=3)
    table = LookupTable(build_flops_table(68))
    table.save(tmp / "flops.json")
    supernet_train.main(["--data_root", str(root), "--lut", str(tmp / "flops.json"), "--snapshot", str(tmp / "run"),
                         "--epochs", "1", "--warmup_epochs", "1", "--batch_size", "8", "--workers", "0",
                         "--dev_id", "cpu"])
    return root, tmp / "run" / "supernet" / "checkpoint_last.pth", random_archs(table, 5, seed=1)


def write_pareto(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_the_tau_follows_how_the_fine_tuned_nme_orders_the_architectures(trained, tmp_path):
    root, checkpoint, archs = trained
    supernet, _, _ = load_supernet(checkpoint)
    loader = make_loader(load_test_set(root), batch_size=64, workers=0)
    inherited = [supernet_nme(supernet, arch, loader) for arch in archs]
    assert len(set(inherited)) == len(archs)  # distinct paths score differently
    agree = write_pareto(tmp_path / "agree.csv", [
        {"kind": "searched", "arch": ",".join(a), "nme_io": nme, "seed": 0} for a, nme in zip(archs, inherited)])
    disagree = write_pareto(tmp_path / "disagree.csv", [
        {"kind": "random", "arch": ",".join(a), "nme_io": -nme, "seed": 0} for a, nme in zip(archs, inherited)])
    for csv_path, tau in ((agree, 1.0), (disagree, -1.0)):
        result = ranking.run(ranking.parse_args(["--pareto", str(csv_path), "--data_root", str(root),
                                                 "--bn_batches", "0", f"plain={checkpoint}"]))
        assert result["plain"]["test"][0] == pytest.approx(tau)
        assert result["plain"]["test"][1] == pytest.approx(inherited)


def test_out_writes_every_architectures_nmes_beside_the_taus_and_a_plot(trained, tmp_path):
    root, checkpoint, archs = trained
    pareto = write_pareto(tmp_path / "p.csv", [
        {"kind": "searched", "arch": ",".join(a), "nme_io": 0.1 + k / 100, "seed": 0} for k, a in enumerate(archs)])
    out = tmp_path / "out"
    result = ranking.run(ranking.parse_args(["--pareto", str(pareto), "--data_root", str(root), "--out", str(out),
                                             f"plain={checkpoint}", f"again={checkpoint}"]))
    rows = read_csv_rows(out / "ranking.csv")
    assert [row["arch"].split(",") for row in rows] == archs
    assert [float(row["finetuned_nme_io"]) for row in rows] == pytest.approx([0.1 + k / 100 for k in range(len(archs))])
    for name in ("plain", "again"):
        for split in ranking.SPLITS:
            assert [float(row[f"{name}: {split}"]) for row in rows] == pytest.approx(result[name][split][1], rel=1e-5)
    assert f"{result['plain']['test'][0]:.3f}" in (out / "ranking.md").read_text()
    assert (out / "ranking.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    own = ranking.run(ranking.parse_args(["--pareto", str(pareto), "--data_root", str(root), "--bn_batches", "0",
                                          f"plain={checkpoint}"]))  # the default re-estimates them
    assert own["plain"]["test"][1] != pytest.approx(result["plain"]["test"][1])


def test_batchnorm_recalibration_repairs_statistics_from_another_path_and_restores_the_supernets(trained):
    root, checkpoint, archs = trained
    supernet, _, _ = load_supernet(checkpoint)
    test = make_loader(load_test_set(root), batch_size=64, workers=0)
    train, _ = load_datasets(root, 68)
    calibration = held_out_loader(train, range(len(train)), batch_size=8, workers=0, shuffle=True)
    norms = batch_norms(supernet)
    for m in norms:  # statistics no path produces: what a supernet's shared layers can hold for one path
        m.running_mean.fill_(3.0)
        m.running_var.fill_(0.01)
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    corrupted = supernet_nme(supernet, archs[0], test)
    with path_batchnorm(supernet, archs[0], calibration, 3):
        repaired = supernet_nme(supernet, archs[0], test)
    assert repaired < 0.5 * corrupted
    assert supernet_nme(supernet, archs[0], test) == pytest.approx(corrupted)
    after = supernet.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert [m.momentum for m in norms] == [0.1] * len(norms)


def test_only_the_first_seed_of_each_architecture_and_no_hand_designed_rows_count(trained, tmp_path):
    _, _, archs = trained
    rows = [{"kind": "searched", "arch": ",".join(a), "nme_io": 0.1 + k / 100, "seed": 0} for k, a in enumerate(archs)]
    rows += [{"kind": "searched", "arch": ",".join(archs[0]), "nme_io": 0.9, "seed": 1},
             {"kind": "width", "arch": "pfld_lite@0.5", "nme_io": 0.2, "seed": 0}]
    got = ranking.finetuned_archs(write_pareto(tmp_path / "p.csv", rows))
    assert [(arch, nme) for arch, nme, _ in got] == [(a, 0.1 + k / 100) for k, a in enumerate(archs)]


def test_an_architecture_outside_the_supernets_space_is_refused_naming_the_line(trained, tmp_path, capsys):
    root, checkpoint, archs = trained
    bad = [list(a) for a in archs]
    bad[2][1] = "conv_k9"
    path = write_pareto(tmp_path / "bad.csv", [
        {"kind": "searched", "arch": ",".join(a), "nme_io": 0.1, "seed": 0} for a in bad])
    with pytest.raises(SystemExit) as exit_info:
        ranking.main(["--pareto", str(path), "--data_root", str(root), f"plain={checkpoint}"])
    assert exit_info.value.code != 0
    assert f"{path}:4: layer 1 op 'conv_k9' is not a candidate" in str(exit_info.value.code)


@pytest.mark.parametrize("rows, message", [
    ([{"kind": "searched", "arch": "a", "nme_io": "x", "seed": 0}], r"p.csv:2: seed '0' or nme_io 'x' is not a number"),
    ([{"kind": "searched", "arch": "a", "nme_io": 0.1, "seed": 0}], "1 fine-tuned architectures; a ranking needs"),
])
def test_a_pareto_file_that_cannot_rank_is_refused(tmp_path, rows, message):
    with pytest.raises(DataError, match=message):
        ranking.finetuned_archs(write_pareto(tmp_path / "p.csv", rows))


def test_a_file_that_is_not_a_pareto_csv_is_refused(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,nme_io\n1,0.1\n")
    with pytest.raises(DataError, match="not a sweep's pareto.csv"):
        ranking.finetuned_archs(path)


def test_supernet_names_must_be_unique(capsys):
    with pytest.raises(SystemExit):
        ranking.parse_args(["--pareto", "p.csv", "a=x.pth", "a=y.pth"])
    assert "unique names" in capsys.readouterr().err
