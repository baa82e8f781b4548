"""The training recipe's levers: schedule, weight average, sampling by collection, occlusion, distillation,
and the time-to-accuracy report that compares recipes."""

import math

import numpy as np
import pytest
import torch

import retrain
from fbnet_pfld.checkpoints import load_checkpoint, save_checkpoint
from fbnet_pfld.dataset import LandmarkDataset, ShardedSampler, data_paths
from fbnet_pfld.errors import DataError
from fbnet_pfld.recipe import WarmupCosine, WeightAverage
from fbnet_pfld.sources import parse_source_weights, sample_weights
from fbnet_pfld.synthetic import make_synthetic_dataset
from tools import time_to_accuracy

FAST = ["--batch_size", "16", "--workers", "0", "--dev_id", "cpu", "--model", "pfld_lite"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("syn"), num_points=68, train=48, test=16, seed=3)


def test_warmup_then_cosine_to_zero():
    factor = WarmupCosine(10, warmup=2)
    assert [round(factor(e), 3) for e in range(3)] == [0.333, 0.667, 1.0]
    assert factor(9) == pytest.approx(0.5 * (1 + math.cos(math.pi * 7 / 8)))
    plain = WarmupCosine(10)
    assert plain(0) == 1.0 and plain(5) == pytest.approx(0.5)


def test_the_weight_average_follows_the_weights():
    net = torch.nn.Linear(2, 1)
    average = WeightAverage(net, decay=0.5)
    with torch.no_grad():
        net.weight.add_(1.0)
    before = average.module.weight.clone()
    average.update(net)  # decay ramps up: min(0.5, 2 / 11)
    expected = before + (1 - 2 / 11) * (net.weight - before)
    assert torch.allclose(average.module.weight, expected)
    assert not average.module.weight.requires_grad


def test_source_weights_parse_and_refuse():
    assert parse_source_weights("helen=3, ytf=1") == {"helen": 3.0, "ytf": 1.0}
    for bad in ("helen", "helen=x", "helen=-1", "helen=nan", "a=0", "a=1,a=2"):
        with pytest.raises(ValueError):
            parse_source_weights(bad)


def test_sampling_by_collection_follows_the_weights():
    sampler = ShardedSampler(range(4), seed=1, weights=[9.0, 1.0, 0.0, 0.0])
    draws = []
    for epoch in range(50):
        sampler.set_epoch(epoch)
        draws += list(sampler)
    counts = np.bincount(draws, minlength=4)
    assert counts[2] == counts[3] == 0 and 0.8 < counts[0] / len(draws) < 0.97
    sampler.set_epoch(3)
    assert list(sampler) == list(sampler)  # repeatable per (seed, epoch): exact resume


def test_a_collection_without_a_weight_is_refused(root):
    samples = LandmarkDataset(data_paths(root)[0], root).samples
    with pytest.raises(DataError, match="no weight to the collection face"):
        sample_weights(samples, {"helen": 1.0}, "list.txt")
    assert sample_weights(samples, {"*": 2.0}, "list.txt") == [2.0] * len(samples)


def test_label_sources_are_written_read_and_weighted(tmp_path):
    root = tmp_path / "d"
    make_synthetic_dataset(root, num_points=68, train=6, test=2)
    lines = (root / "train_data" / "list.txt").read_text().splitlines()
    labels = ["human", "machine", "teacher:dlib", "human", "machine", "teacher:dlib"]
    text = "".join(f"{line} label={label}\n" for line, label in zip(lines, labels))
    (root / "train_data" / "list.txt").write_text(text)
    samples = LandmarkDataset(data_paths(root)[0], root).samples
    assert [s.label for s in samples] == labels
    weights = sample_weights(samples, parse_source_weights("*=2,label:machine=0.5,label:*=1"), "list.txt")
    assert weights == [2.0, 1.0, 2.0, 2.0, 1.0, 2.0]
    with pytest.raises(DataError, match="no weight to the label source teacher:dlib"):
        sample_weights(samples, {"label:human": 1.0, "label:machine": 1.0}, "list.txt")
    (root / "train_data" / "list.txt").write_text(f"{lines[0]} label=robot\n")
    with pytest.raises(DataError, match="list.txt:1: label source 'robot'"):
        LandmarkDataset(data_paths(root)[0], root)


def test_occlusion_hides_part_of_some_faces_only_when_asked(root):
    plain = LandmarkDataset(data_paths(root)[0], root, augment=True, seed=0)
    occluded = LandmarkDataset(data_paths(root)[0], root, augment=True, seed=0, occlusion=1.0)
    a, b = plain[0][0], occluded[0][0]
    changed = (a != b).any(dim=0).float().mean().item()
    assert 0.01 < changed < 0.2  # one rectangle of 15-40% of each side
    assert torch.equal(plain[0][1], occluded[0][1])  # the points stay: the network learns to see through


def test_ema_run_resumes_exactly_and_saves_the_average(root, tmp_path):
    common = ["--data_root", str(root), "--epochs", "2", "--ema", "0.9", *FAST]
    retrain.main([*common, "--snapshot", str(tmp_path / "a")])
    retrain.main([*common, "--snapshot", str(tmp_path / "b"), "--stop_after", "1"])
    retrain.main([*common, "--snapshot", str(tmp_path / "b"),
                  "--resume", str(tmp_path / "b/pfld_lite/checkpoint_last.pth")])
    a = load_checkpoint(tmp_path / "a/pfld_lite/checkpoint_last.pth")
    b = load_checkpoint(tmp_path / "b/pfld_lite/checkpoint_last.pth")
    for key in ("model", "train_model"):
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), (key, name)
    assert any(not torch.equal(a["model"][k], a["train_model"][k]) for k in a["model"])
    with pytest.raises(SystemExit, match="--epochs"):
        retrain.main(["--data_root", str(root), "--epochs", "3", *FAST, "--snapshot", str(tmp_path / "b"),
                      "--resume", str(tmp_path / "b/pfld_lite/checkpoint_last.pth")])


def test_distillation_from_a_teacher(root, tmp_path):
    retrain.main(["--data_root", str(root), "--epochs", "1", *FAST, "--snapshot", str(tmp_path / "teacher")])
    teacher = tmp_path / "teacher/pfld_lite/checkpoint_last.pth"
    retrain.main(["--data_root", str(root), "--epochs", "1", *FAST, "--snapshot", str(tmp_path / "student"),
                  "--teacher", str(teacher), "--distill_weight", "0.5"])
    log = (tmp_path / "student/pfld_lite/train.log").read_text()
    assert f"teacher {teacher} x0.5" in log


def test_a_teacher_of_another_point_count_is_refused(root, tmp_path, capsys):
    other = make_synthetic_dataset(tmp_path / "k98", num_points=98, train=24, test=8, seed=1)
    retrain.main(["--data_root", str(other), "--epochs", "1", *FAST, "--snapshot", str(tmp_path / "t98")])
    with pytest.raises(SystemExit) as exit_info:
        retrain.main(["--data_root", str(root), "--epochs", "1", *FAST, "--snapshot", str(tmp_path / "s"),
                      "--teacher", str(tmp_path / "t98/pfld_lite/checkpoint_last.pth")])
    assert "teacher predicts 98 points" in str(exit_info.value) and "t98" in str(exit_info.value)


def test_a_teacher_that_is_not_a_landmark_checkpoint_is_refused(root, tmp_path):
    bogus = tmp_path / "bogus.pth"
    save_checkpoint({"weights": torch.zeros(2)}, bogus)
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    for path in (bogus, text):
        with pytest.raises(SystemExit) as exit_info:
            retrain.main(["--data_root", str(root), "--epochs", "1", *FAST, "--snapshot", str(tmp_path / "s"),
                          "--teacher", str(path)])
        assert str(path) in str(exit_info.value) and "\n" not in str(exit_info.value)


def test_time_to_accuracy_reports_two_arms(root, tmp_path, capsys):
    common = f"--data_root {root} --batch_size 16 --workers 0 --dev_id cpu --model pfld_lite"
    time_to_accuracy.main(["--out", str(tmp_path / "tta"), "--common", common, "--chunk", "1", "--nme", "500", "1",
                           "--arm", "low=--lr 1e-4 --epochs 2", "--arm", "high=--lr 3e-3 --epochs 2"])
    report = (tmp_path / "tta/report.md").read_text()
    assert "| low | 2 |" in report and "| high | 2 |" in report
    assert (tmp_path / "tta/report.png").stat().st_size > 10_000
    rows = {r["arm"]: r for r in time_to_accuracy.summarise(
        {"a": [(1.0, 9.0), (2.0, 7.0)], "b": [(1.5, 6.0)]}, [8.0, 6.5])}
    assert rows["a"]["min_to_8"] == "2.0" and rows["a"]["min_to_6.5"] == "-" and rows["b"]["min_to_6.5"] == "1.5"
    # Run again: every arm is done, nothing trains, the same report.
    time_to_accuracy.main(["--out", str(tmp_path / "tta"), "--common", common, "--nme", "500", "1",
                           "--arm", "low=--lr 1e-4 --epochs 2", "--arm", "high=--lr 3e-3 --epochs 2"])
    assert (tmp_path / "tta/report.md").read_text() == report


def test_epoch_size_fixes_the_steps_of_an_epoch_whatever_the_list():
    for weights in (None, [1.0, 1.0, 2.0, 0.0]):
        sampler = ShardedSampler(range(4), seed=0, weights=weights, draws=10)
        sampler.set_epoch(2)
        drawn = list(sampler)
        assert len(sampler) == len(drawn) == 10
        assert (weights is None and set(drawn) == {0, 1, 2, 3}) or 3 not in drawn
    few = ShardedSampler(range(100), seed=0, draws=10)
    few.set_epoch(0)
    first = list(few)
    few.set_epoch(1)
    assert len(set(first)) == 10 and list(few) != first, "each epoch draws a fresh subset"


def test_an_epoch_smaller_than_a_batch_is_refused(root, capsys):
    with pytest.raises(SystemExit) as stop:
        retrain.main(["--data_root", str(root), "--model", "pfld_lite@0.25", "--epochs", "1", "--epoch_size", "8",
                      "--batch_size", "16", "--dev_id", "cpu"])
    assert stop.value.code == 2 and "--epoch_size must be at least --batch_size" in capsys.readouterr().err
