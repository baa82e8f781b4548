"""Run records: the training summary the release and the loss A/B report (flatness, last epoch, wall time)."""

import math

import pytest

from fbnet_pfld.utils import CSVLog, flatness, training_summary

FIELDS = ["epoch", "nme_io", "fr_io", "nme_box", "seconds"]


def write_log(path, nmes):
    log = CSVLog(path, FIELDS)
    for epoch, nme in enumerate(nmes):
        log.append({"epoch": epoch, "nme_io": nme, "fr_io": nme / 2, "nme_box": nme / 3, "seconds": 30})
    return log


def test_flatness_is_the_relative_drop_over_the_last_tenth_of_epochs():
    rows = [{"nme_io": v} for v in [0.2] * 15 + [0.10, 0.099, 0.098, 0.097, 0.096]]  # 20 epochs: span 2
    assert math.isclose(flatness(rows), (0.098 - 0.096) / 0.098)
    assert math.isclose(flatness([{"nme_io": v} for v in (0.3, 0.2, 0.1)]), 2 / 3)  # at least 2 epochs
    assert math.isnan(flatness([{"nme_io": 0.1}, {"nme_io": 0.1}]))  # too short to say


def test_training_summary_reports_the_last_epoch_not_the_best(tmp_path):
    write_log(tmp_path / "log.csv", [0.3, 0.1, 0.2])
    summary = training_summary(tmp_path / "log.csv")
    assert summary["epochs"] == 3 and summary["seconds"] == 90
    assert math.isclose(summary["nme_io"], 0.2) and math.isclose(summary["best_nme_io"], 0.1)
    assert math.isclose(summary["fr_io"], 0.1) and math.isclose(summary["last_10pct_drop"], 1 / 3)


def test_release_counts_a_sweeps_shared_warm_up_only_for_the_sweeps_own_searches(tmp_path):
    from fbnet_pfld.sweep_plan import warmup_folder
    from tools.release import search_logs

    sweep = tmp_path / "sweep"
    warmup_folder(sweep).mkdir(parents=True)
    write_log(warmup_folder(sweep) / "log.csv", [0.3, 0.2])
    inside, alone = sweep / "search_0.3" / "supernet", tmp_path / "long" / "supernet"
    search = "search (NME on the held-out architecture split of TRAIN)"
    assert search_logs(inside, sweep) == [
        ("search warm-up, shared by the sweep's budgets (NME on the held-out architecture split of TRAIN)",
         warmup_folder(sweep) / "log.csv"), (search, inside / "log.csv")]
    assert search_logs(alone, sweep) == [(search, alone / "log.csv")]  # its warm-up is in its own log
    assert search_logs(inside, None) == [(search, inside / "log.csv")]


def test_release_of_a_sweep_alone_touches_nothing_else(tmp_path):
    """A Pareto front released beside an earlier release leaves its models, logs and training table alone."""
    from tools.release import main

    sweep, out = tmp_path / "sweep", tmp_path / "released"
    sweep.mkdir()
    out.mkdir()
    for name in ("pareto.csv", "pareto.png", "summary.txt"):
        (sweep / name).write_text(name)
    (out / "training.md").write_text("the release's own table")
    main(["--no_search", "--sweep", str(sweep), "--models", "--out", str(out)])
    assert sorted(p.name for p in out.iterdir()) == ["pareto.csv", "pareto.png", "pareto_summary.txt", "training.md"]
    assert (out / "training.md").read_text() == "the release's own table"
    assert (out / "pareto_summary.txt").read_text() == "summary.txt"


def test_release_puts_fine_tunes_of_different_lengths_on_one_epoch_axis(tmp_path):
    from tools.release import nme_by_epoch

    write_log(tmp_path / "a.csv", [0.3, 0.2, 0.1])
    write_log(tmp_path / "b.csv", [0.4, 0.25])
    rows = nme_by_epoch([("subnet", tmp_path / "a.csv"), ("pfld_lite", tmp_path / "b.csv")])
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    assert math.isclose(rows[1]["subnet"], 20) and math.isclose(rows[1]["pfld_lite"], 25)  # in percent
    assert "pfld_lite" not in rows[2]  # the shorter run simply ends


def test_a_full_disk_during_a_save_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    import errno

    import torch

    from fbnet_pfld import checkpoints
    from fbnet_pfld.errors import WriteError
    from fbnet_pfld.writes import stale_temps

    path = tmp_path / "checkpoint_last.pth"
    checkpoints.save_checkpoint({"epoch": 1, "w": torch.ones(2)}, path)
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())

    def no_space(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints.torch, "save", no_space)
    with pytest.raises(WriteError, match="checkpoint_last.pth: cannot write \\(No space"):
        checkpoints.save_checkpoint({"epoch": 2}, path)
    monkeypatch.undo()
    assert checkpoints.load_checkpoint(path)["epoch"] == 1 and not stale_temps(tmp_path)


def _umask():
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_nan_prediction_is_a_failure_never_a_pass():
    import numpy as np

    from fbnet_pfld.metrics import landmark_metrics

    rng = np.random.default_rng(0)
    truth = rng.random((4, 136))
    metrics = landmark_metrics(np.full_like(truth, np.nan), truth)
    assert metrics["fr_io"] == 1.0 and metrics["auc_io"] == 0.0 and not np.isfinite(metrics["nme_io"])


def test_a_sweep_record_keeps_a_log_run_again_beside_the_first(tmp_path):
    from fbnet_pfld.sweep_record import SweepRecord

    record, logs = SweepRecord(tmp_path / "record"), tmp_path / "record" / "logs"
    run = write_log(tmp_path / "run" / "log.csv", [])
    record.keep_log("warmup", run.path)  # no epoch yet: nothing kept
    assert not (logs / "warmup.csv").exists()
    (logs / "warmup.csv").parent.mkdir(parents=True)
    (logs / "warmup.csv").write_bytes(run.path.read_bytes())  # a header alone, as kept before: replaced by its run
    run.append({"epoch": 0, "nme_io": 0.3, "fr_io": 0.15, "nme_box": 0.1, "seconds": 30})
    record.keep_log("warmup", run.path)
    assert (logs / "warmup.csv").read_bytes() == run.path.read_bytes() and not (logs / "warmup_2.csv").exists()
    run.append({"epoch": 1, "nme_io": 0.2, "fr_io": 0.1, "nme_box": 0.1, "seconds": 30})  # the run resumed
    record.keep_log("warmup", run.path)
    assert (logs / "warmup.csv").read_bytes() == run.path.read_bytes()
    other = CSVLog(tmp_path / "again" / "log.csv", FIELDS)  # the warm-up run again: its first epoch differs
    other.append({"epoch": 0, "nme_io": 0.31, "fr_io": 0.15, "nme_box": 0.1, "seconds": 45})
    record.keep_log("warmup", other.path)
    record.keep_log("warmup", other.path)
    record.keep_log("warmup", CSVLog(tmp_path / "third" / "log.csv", FIELDS).path)  # started, no epoch yet
    assert (logs / "warmup.csv").read_bytes() == run.path.read_bytes()
    assert (logs / "warmup_2.csv").read_bytes() == other.path.read_bytes() and not (logs / "warmup_3.csv").exists()
    assert record.minutes()["warm-up"] == pytest.approx((30 + 30 + 45) / 60)
