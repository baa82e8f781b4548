"""Malformed input, as a hostile new user gives it: every case of tools/hostile_cases.py must end in a
non-zero exit with exactly one line of error text that names the file (or the flag), and no traceback;
valid but unusual input must run. Plus the crash-safety of checkpoints."""

import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from conftest import ROOT

import predict
import retrain
from fbnet_pfld import engine
from fbnet_pfld.checkpoints import load_checkpoint, save_checkpoint
from fbnet_pfld.writes import stale_temps
from tools.hostile_cases import CASES, WORKS
from tools.hostile_fixtures import FAST, make_context
from tools.hostile_input import judge


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return make_context(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gives_one_clear_line(case, ctx):
    verdict, text = judge(case, ctx)
    assert verdict == "ok", text


@pytest.mark.parametrize("case", list(WORKS))
def test_unusual_valid_input_runs(case, ctx):
    verdict, text = judge(case, ctx)
    assert verdict == "ok", text


def test_the_suite_is_long_enough():
    assert len(CASES) + len(WORKS) >= 300


def test_overwrite_moved_the_old_run_aside(ctx):
    judge("overwrite moves a run aside", ctx)
    folder = ctx["base"] / "cases" / "overwrite"
    assert (folder / "subnet" / engine.LAST).is_file() and (folder / "subnet.old-1" / engine.LAST).is_file()


@pytest.mark.parametrize("script, args", [("retrain.py", ["--epochs", "0"]),
                                          ("lookup_table.py", ["show", "--lut", "missing.json"]),
                                          ("predict.py", ["97", "--model", "released/subnet.onnx"])])
def test_a_real_process_exits_non_zero_with_one_line(script, args):
    result = subprocess.run([sys.executable, str(ROOT / script), *args], capture_output=True, text=True, cwd=ROOT,
                            timeout=120)
    assert result.returncode != 0 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_a_kill_between_the_two_saves_keeps_the_best(ctx, tmp_path, monkeypatch):
    flags = ["--data_root", str(ctx["root"]), "--supernet", str(ctx["supernet"]), "--snapshot", str(tmp_path),
             "--epochs", "3", *FAST]
    retrain.main(flags + ["--stop_after", "1"])
    folder = tmp_path / "subnet"
    state = load_checkpoint(folder / engine.LAST)
    save_checkpoint(dict(state, best_nme=float("inf")), folder / engine.LAST)  # so the next epoch is a new best
    real_save = engine.save_checkpoint

    def dies_after_best(state, path):
        real_save(state, path)
        if Path(path).name == engine.BEST:
            raise KeyboardInterrupt  # killed right after the best was written, before the last

    monkeypatch.setattr(engine, "save_checkpoint", dies_after_best)
    with pytest.raises(KeyboardInterrupt):
        retrain.main(flags + ["--resume", str(folder / engine.LAST)])
    monkeypatch.undo()
    best, last = load_checkpoint(folder / engine.BEST), load_checkpoint(folder / engine.LAST)
    assert best["epoch"] == 1 and last["epoch"] == 0  # the new best survived the kill
    retrain.main(flags + ["--resume", str(folder / engine.LAST)])
    final_best, final_last = load_checkpoint(folder / engine.BEST), load_checkpoint(folder / engine.LAST)
    assert final_last["epoch"] == 2 and final_best["best_nme"] == final_last["best_nme"]
    assert final_best["best_nme"] <= best["best_nme"]


def test_a_stale_temp_file_is_removed_on_start(ctx, tmp_path):
    folder = tmp_path / "subnet"
    folder.mkdir(parents=True)
    (folder / ".checkpoint_last.12345.tmp.pth").write_bytes(b"x" * 1000)  # a save killed half way
    (folder / ".log.12345.tmp.csv").write_text("epoch\n")
    retrain.main(["--data_root", str(ctx["root"]), "--supernet", str(ctx["supernet"]), "--snapshot", str(tmp_path),
                  "--epochs", "1", *FAST])
    assert not stale_temps(folder) and (folder / engine.LAST).is_file()


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(ctx, tmp_path, monkeypatch):
    from fbnet_pfld import stages
    from fbnet_pfld.losses import pfld_loss

    flags = ["--data_root", str(ctx["root"]), "--supernet", str(ctx["supernet"]), "--snapshot", str(tmp_path),
             "--epochs", "3", *FAST]
    retrain.main(flags + ["--stop_after", "1"])
    good = (tmp_path / "subnet" / engine.LAST).read_bytes()

    def diverging(*tensors):
        loss, squared = pfld_loss(*tensors)
        return loss * float("nan"), squared  # what a diverging run produces

    monkeypatch.setattr(stages, "get_loss", lambda name: diverging)
    with pytest.raises(SystemExit, match="loss became"):
        retrain.main(flags + ["--resume", str(tmp_path / "subnet" / engine.LAST)])
    assert (tmp_path / "subnet" / engine.LAST).read_bytes() == good
    assert not stale_temps(tmp_path / "subnet")


def test_predict_names_never_collide(ctx, tmp_path):
    source = tmp_path / "photos"
    source.mkdir()
    image = cv2.imread(str(ctx["root"] / "test_data/imgs/face00000__0.png"))
    cv2.imwrite(str(source / "face.jpg"), image)
    cv2.imwrite(str(source / "face.png"), image)
    predict.main([str(source), "--model", str(ctx["model"]), "--out", str(tmp_path / "out"), "--box", "20", "20", "90",
                  "95"])
    assert len(list((tmp_path / "out").glob("*.json"))) == 2
