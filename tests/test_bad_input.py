"""Malformed input, as a hostile new user gives it: every case must end in a non-zero exit with exactly
one line of error text that names the file (or the flag), and no traceback."""

import json
import pickle
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import ROOT

import export
import lookup_table
import predict
import retrain
import supernet_train
from fbnet_pfld import engine, prepare
from fbnet_pfld.blocks import SEARCH_SPACE
from fbnet_pfld.checkpoints import load_checkpoint, save_checkpoint
from fbnet_pfld.space import search_space_to_list
from fbnet_pfld.synthetic import make_synthetic_dataset
from fbnet_pfld.table_builders import build_flops_table

FAST = ["--batch_size", "8", "--workers", "0", "--dev_id", "cpu"]


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    """A valid dataset, table, supernet and retrain checkpoint, and a folder for broken copies."""
    base = tmp_path_factory.mktemp("bad")
    root = make_synthetic_dataset(base / "data", num_points=68, train=24, test=8, seed=5)
    lut = base / "flops.json"
    lookup_table.LookupTable(build_flops_table(68)).save(lut)
    supernet_train.main(["--data_root", str(root), "--lut", str(lut), "--snapshot", str(base / "run"), "--epochs", "1",
                         "--warmup_epochs", "0", *FAST])
    supernet = base / "run/supernet/checkpoint_last.pth"
    retrain.main(["--data_root", str(root), "--supernet", str(supernet), "--snapshot", str(base / "run"),
                  "--epochs", "1", *FAST])
    model = base / "model.onnx"
    export.main(["--resume", str(base / "run/subnet/checkpoint_last.pth"), "--output", str(model)])
    return {"base": base, "root": root, "lut": lut, "supernet": supernet, "model": model,
            "subnet": base / "run/subnet/checkpoint_last.pth", "line": (root / "train_data/list.txt").read_text()
            .splitlines()[0]}


def fresh(ctx, name):
    folder = ctx["base"] / "cases" / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def dataset_with(ctx, name, line=None, raw=None, test=False):
    """A DATA_ROOT whose train (or test) list.txt holds ``line`` (text) or ``raw`` (bytes)."""
    root = fresh(ctx, name)
    for split in ("train_data", "test_data"):
        (root / split).mkdir(exist_ok=True)
        (root / split / "list.txt").write_text(ctx["line"] + "\n")
    imgs = root / "train_data" / "imgs"
    if not imgs.exists():
        imgs.symlink_to(ctx["root"] / "train_data" / "imgs")
    target = root / ("test_data" if test else "train_data") / "list.txt"
    if raw is not None:
        target.write_bytes(raw)
    elif line is not None:
        target.write_text(line + "\n")
    return root


def swap(line, index, value):
    tokens = line.split()
    tokens[index] = value
    return " ".join(tokens)


def table_with(ctx, name, mutate=None, text=None, raw=None):
    path = fresh(ctx, name) / "lut.json"
    if raw is not None:
        path.write_bytes(raw)
    elif text is not None:
        path.write_text(text)
    else:
        data = json.loads(ctx["lut"].read_text())
        mutate(data)
        path.write_text(json.dumps(data))
    return path


def arch_file(ctx, name, content):
    path = fresh(ctx, name) / "arch.json"
    path.write_text(content)
    return path


def checkpoint_file(ctx, name, write):
    path = fresh(ctx, name) / "checkpoint.pth"
    write(path)
    return path


def pts_folder(ctx, name, body, image=True):
    folder = fresh(ctx, name)
    (folder / "face.pts").write_text(body) if isinstance(body, str) else (folder / "face.pts").write_bytes(body)
    if image:
        cv2.imwrite(str(folder / "face.jpg"), np.full((64, 64, 3), 128, np.uint8))
    return folder


PTS_OK = "version: 1\nn_points: 3\n{\n1 2\n3 4\n5 6\n}\n"


def search(ctx, root=None, lut=None, *extra):
    return supernet_train.main, ["--data_root", str(root or ctx["root"]), "--lut", str(lut or ctx["lut"]),
                                 "--snapshot", str(ctx["base"] / "out"), "--epochs", "1", "--warmup_epochs", "0",
                                 *FAST, *extra]


def fine_tune(ctx, root=None, *extra):
    return retrain.main, ["--data_root", str(root or ctx["root"]), "--supernet", str(ctx["supernet"]),
                          "--snapshot", str(ctx["base"] / "out"), "--epochs", "1", *FAST, *extra]


def resume(ctx, checkpoint, *extra):
    main, argv = fine_tune(ctx, None, *extra)
    return main, argv + ["--epochs", "2", "--resume", str(checkpoint)]


def prep(folder, *extra):
    return prepare.main, ["--train", str(folder), "--out", str(folder / "out"), *extra]


def annotation(ctx, name, source, text):
    path = fresh(ctx, name) / "annotations.txt"
    path.write_text(text)
    return prepare.main, ["--source", source, "--train", str(path), "--out", str(path.parent / "out")]


def tampered_state(ctx, name, change):
    def write(path):
        state = load_checkpoint(ctx["subnet"])
        change(state)
        save_checkpoint(state, path)
    return checkpoint_file(ctx, name, write)


def predict_with(ctx, *extra, model=None):
    image = ctx["root"] / "test_data/imgs/face00000__0.png"
    return predict.main, [str(image), "--model", str(model or ctx["model"]), "--out", str(ctx["base"] / "pred"),
                          *extra]


def set_op(layer, op, value):
    return lambda d: d["layers"][layer]["ops"][op].__setitem__("median", value)


CASES = {
    # list.txt
    "list missing": (lambda c: search(c, fresh(c, "nolist")), "list.txt"),
    "list binary": (lambda c: search(c, dataset_with(c, "binary", raw=b"\xff\xfe\x00\x81" * 40)), "list.txt"),
    "list too few tokens": (lambda c: search(c, dataset_with(c, "few", "imgs/a.png 0.1 0.2")), "list.txt:1"),
    "list odd coordinates": (lambda c: search(c, dataset_with(c, "odd", c["line"] + " 0.5")), "list.txt:1"),
    "list word for number": (lambda c: search(c, dataset_with(c, "word", swap(c["line"], 5, "abc"))), "list.txt:1"),
    "list NaN coordinate": (lambda c: search(c, dataset_with(c, "nan", swap(c["line"], 3, "nan"))), "list.txt:1"),
    "list inf angle": (lambda c: search(c, dataset_with(c, "inf", swap(c["line"], -1, "inf"))), "list.txt:1"),
    "list pixel coordinates": (lambda c: search(c, dataset_with(c, "px", swap(c["line"], 1, "56.0"))), "list.txt:1"),
    "list negative coordinates": (lambda c: search(c, dataset_with(c, "neg", swap(c["line"], 2, "-3"))),
                                  "list.txt:1"),
    "list huge angle": (lambda c: search(c, dataset_with(c, "angle", swap(c["line"], -2, "1e30"))), "list.txt:1"),
    "list path leaves root": (lambda c: search(c, dataset_with(c, "escape", swap(c["line"], 0, "../../x.png"))),
                              "list.txt:1"),
    "list absolute path": (lambda c: search(c, dataset_with(c, "abs", swap(c["line"], 0, "/etc/passwd"))),
                           "list.txt:1"),
    "list path with space": (lambda c: search(c, dataset_with(c, "space", "imgs/my " + c["line"])), "list.txt:1"),
    "list missing image": (lambda c: search(c, dataset_with(c, "noimg", swap(c["line"], 0, "imgs/none.png"))),
                           "list.txt:1"),
    "list empty": (lambda c: search(c, dataset_with(c, "empty", "")), "list.txt"),
    "list other point count": (lambda c: search(c, dataset_with(c, "count", " ".join(
        c["line"].split()[:1] + c["line"].split()[5:]))), "list.txt:1"),
    "list test split differs": (lambda c: search(c, dataset_with(c, "testcount", " ".join(
        c["line"].split()[:1] + c["line"].split()[5:]), test=True)), "list.txt:1"),
    "list --num_points mismatch": (lambda c: search(c, None, None, "--num_points", "98"), "list.txt:1"),
    # list.txt images that only a loader worker reads
    "image corrupt (worker)": (lambda c: _corrupt_image(c, b"not an image"), "list.txt:1"),
    "image not square (worker)": (lambda c: _corrupt_image(c, None), "list.txt:1"),
    # .pts and annotation files (prepare.py)
    "pts count mismatch": (lambda c: prep(pts_folder(c, "ptscount", PTS_OK.replace("n_points: 3", "n_points: 4"))),
                           "face.pts"),
    "pts bad n_points": (lambda c: prep(pts_folder(c, "ptsn", PTS_OK.replace("n_points: 3", "n_points: x"))),
                         "face.pts:2"),
    "pts bad point": (lambda c: prep(pts_folder(c, "ptsxy", PTS_OK.replace("3 4", "3 four"))), "face.pts:5"),
    "pts NaN": (lambda c: prep(pts_folder(c, "ptsnan", PTS_OK.replace("3 4", "nan 4"))), "face.pts:5"),
    "pts binary": (lambda c: prep(pts_folder(c, "ptsbin", b"\xff\xfe\x81" * 30)), "face.pts"),
    "pts no image": (lambda c: prep(pts_folder(c, "ptsnoimg", PTS_OK, image=False)), "face.pts"),
    "pts none in folder": (lambda c: prep(fresh(c, "ptsnone")), "ptsnone"),
    "jd106 token count": (lambda c: annotation(c, "jd", "jd106", "a.jpg 1 2 3\n"), "annotations.txt:1"),
    "jd106 word": (lambda c: annotation(c, "jdword", "jd106", "a.jpg " + " ".join(["x"] * 216) + "\n"),
                   "annotations.txt:1"),
    "wflw token count": (lambda c: annotation(c, "wflw", "wflw", "1 2 3 a.jpg\n"), "annotations.txt:1"),
    "wflw NaN": (lambda c: annotation(c, "wflwnan", "wflw", " ".join(["nan"] * 206) + " a.jpg\n"),
                 "annotations.txt:1"),
    # lookup tables
    "table missing": (lambda c: search(c, None, fresh(c, "t0") / "none.json"), "none.json"),
    "table invalid JSON": (lambda c: search(c, None, table_with(c, "t1", text='{"meta": {,}')), "lut.json:1"),
    "table binary": (lambda c: search(c, None, table_with(c, "t2", raw=b"\xff\xfe\x81" * 30)), "lut.json"),
    "table Infinity": (lambda c: search(c, None, table_with(c, "t3", text=c["lut"].read_text().replace(
        '"median": 0.', '"median": Infinity, "x": 0.', 1))), "lut.json"),
    "table NaN op": (lambda c: search(c, None, table_with(c, "t4", set_op(2, "gh_k5", float("nan")))), "lut.json"),
    "table negative op": (lambda c: search(c, None, table_with(c, "t5", set_op(1, "gh_k3", -1.0))), "lut.json"),
    "table string op": (lambda c: search(c, None, table_with(c, "t6", set_op(0, "sep_k3", "fast"))), "lut.json"),
    "table boolean op": (lambda c: search(c, None, table_with(c, "t7", set_op(0, "sep_k3", True))), "lut.json"),
    "table missing op": (lambda c: search(c, None, table_with(c, "t8", lambda d: d["layers"][3]["ops"].pop(
        "gh_k5"))), "lut.json"),
    "table wrong shape": (lambda c: search(c, None, table_with(c, "t9", lambda d: d["layers"][0].__setitem__(
        "c_out", 48))), "lut.json"),
    "table wrong unit": (lambda c: search(c, None, table_with(c, "t10", lambda d: d["meta"].__setitem__(
        "unit", "us"))), "lut.json"),
    "table no fixed": (lambda c: search(c, None, table_with(c, "t11", lambda d: d.pop("fixed"))), "lut.json"),
    "table meta not object": (lambda c: search(c, None, table_with(c, "t12", lambda d: d.__setitem__(
        "meta", []))), "lut.json"),
    "table is a list": (lambda c: search(c, None, table_with(c, "t13", text="[1, 2]")), "lut.json"),
    "table all zero": (lambda c: search(c, None, table_with(c, "t14", _zero_table)), "lut.json"),
    "table show invalid": (lambda c: (lookup_table.main, ["show", "--lut", str(table_with(
        c, "t15", text="{"))]), "lut.json"),
    "lut.txt malformed": (lambda c: (lookup_table.main, ["import-lut", str(_write(fresh(c, "l1") / "lut.txt",
                                                                                "{'op_name': 1,\n")),
                                                         "--out", str(fresh(c, "l1") / "o.json")]), "lut.txt:1"),
    "device CSV bad row": (lambda c: (lookup_table.main, ["import", "--manifest", str(_write(
        fresh(c, "l2") / "manifest.json", json.dumps({"search_space": search_space_to_list(SEARCH_SPACE),
                                                      "entries": []}))), "--csv", str(_write(
            fresh(c, "l2") / "phone.csv", "file,median_ms\na.onnx,fast\n")), "--out", str(fresh(c, "l2") / "o.json"),
        "--device", "d", "--runtime", "r"]), "phone.csv:2"),
    "manifest not ours": (lambda c: (lookup_table.main, ["import", "--manifest", str(_write(
        fresh(c, "l3") / "manifest.json", "[]")), "--csv", str(_write(fresh(c, "l3") / "p.csv", "file,median_ms\n")),
        "--out", str(fresh(c, "l3") / "o.json"), "--device", "d", "--runtime", "r"]), "manifest.json"),
    # arch.json
    "arch invalid JSON": (lambda c: fine_tune(c, None, "--arch", str(arch_file(c, "a1", "{"))), "arch.json"),
    "arch unknown op": (lambda c: fine_tune(c, None, "--arch", str(arch_file(c, "a2", json.dumps(
        ["gh_k3", "gh_k3", "gh_k5", "gh_k5", "warp_k9"])))), "warp_k9"),
    "arch too short": (lambda c: fine_tune(c, None, "--arch", str(arch_file(c, "a3", '["gh_k3"]'))), "arch"),
    "arch not a list": (lambda c: fine_tune(c, None, "--arch", str(arch_file(c, "a4", '{"arch": 5}'))), "arch.json"),
    "arch missing": (lambda c: fine_tune(c, None, "--arch", str(fresh(c, "a5") / "arch.json")), "arch.json"),
    "arch binary": (lambda c: fine_tune(c, None, "--arch", str(_write_bytes(fresh(c, "a6") / "arch.json",
                                                                           b"\xff\xfe\x81"))), "arch.json"),
    # checkpoints
    "checkpoint zero bytes": (lambda c: resume(c, checkpoint_file(c, "c1", lambda p: p.write_bytes(b""))),
                              "checkpoint.pth"),
    "checkpoint truncated": (lambda c: resume(c, checkpoint_file(c, "c2", lambda p: p.write_bytes(
        c["subnet"].read_bytes()[:3000]))), "checkpoint.pth"),
    "checkpoint pickle with code": (lambda c: resume(c, checkpoint_file(c, "c3", lambda p: p.write_bytes(
        pickle.dumps({"epoch": _Exploit()})))), "checkpoint.pth"),
    "checkpoint not a dict": (lambda c: resume(c, checkpoint_file(c, "c4", lambda p: torch.save(torch.ones(3), p))),
                              "checkpoint.pth"),
    "checkpoint missing": (lambda c: resume(c, fresh(c, "c5") / "none.pth"), "none.pth"),
    "resume other architecture": (lambda c: resume(c, tampered_state(c, "c6", lambda s: s.__setitem__(
        "arch", ["sep_k3"] * 2 + s["arch"][2:]))), "checkpoint.pth"),
    "resume other point count": (lambda c: resume(c, tampered_state(c, "c7", lambda s: s.__setitem__(
        "num_points", 98))), "checkpoint.pth"),
    "resume other shapes": (lambda c: resume(c, tampered_state(c, "c8", lambda s: s["model"].__setitem__(
        "head.fc.bias", torch.zeros(7)))), "checkpoint.pth"),
    "resume a supernet into retrain": (lambda c: resume(c, c["supernet"]), "checkpoint_last.pth"),
    "supernet flag given a subnet": (lambda c: (retrain.main, ["--data_root", str(c["root"]), "--supernet",
                                                               str(c["subnet"]), "--snapshot", str(c["base"] / "out"),
                                                               *FAST]), "checkpoint_last.pth"),
    "search resume with a subnet": (lambda c: search(c, None, None, "--epochs", "2", "--resume", str(c["subnet"])),
                                    "checkpoint_last.pth"),
    "export missing checkpoint": (lambda c: (export.main, ["--resume", str(fresh(c, "e1") / "x.pth")]), "x.pth"),
    "export a supernet": (lambda c: (export.main, ["--resume", str(c["supernet"]), "--output",
                                                   str(fresh(c, "e2") / "m.onnx")]), "checkpoint_last.pth"),
    # numbers on the command line
    "batch_size 0": (lambda c: search(c, None, None, "--batch_size", "0"), "--batch_size"),
    "epochs 0": (lambda c: fine_tune(c, None, "--epochs", "0"), "--epochs"),
    "lr nan": (lambda c: fine_tune(c, None, "--lr", "nan"), "--lr"),
    "temperature 0": (lambda c: search(c, None, None, "--temperature", "0"), "--temperature"),
    "alpha nan": (lambda c: search(c, None, None, "--mode", "add", "--alpha", "nan"), "--alpha"),
    "warmup beyond epochs": (lambda c: search(c, None, None, "--warmup_epochs", "5"), "--warmup_epochs"),
    "workers negative": (lambda c: fine_tune(c, None, "--workers", "-1"), "--workers"),
    "stop_after 0": (lambda c: fine_tune(c, None, "--stop_after", "0"), "--stop_after"),
    "arch_fraction 1.5": (lambda c: search(c, None, None, "--arch_fraction", "1.5"), "--arch_fraction"),
    "target below the cheapest": (lambda c: search(c, None, None, "--target_latency", "0.001"), "flops.json"),
    "target with mul": (lambda c: search(c, None, None, "--mode", "mul", "--target_latency", "3"), "--target_latency"),
    # predict
    "predict model missing": (lambda c: predict_with(c, model=fresh(c, "p1") / "none.onnx"), "none.onnx"),
    "predict model not ONNX": (lambda c: predict_with(c, model=_write(fresh(c, "p2") / "m.onnx", "hello")), "m.onnx"),
    "predict zero box": (lambda c: predict_with(c, "--box", "10", "10", "10", "50"), "--box"),
    "predict inverted box": (lambda c: predict_with(c, "--box", "60", "60", "10", "10"), "--box"),
    "predict NaN box": (lambda c: predict_with(c, "--box", "nan", "1", "50", "50"), "--box"),
    "jitter not a calibration": (lambda c: fine_tune(c, None, "--jitter", str(_write(fresh(c, "j1") / "cal.json",
                                                                                       "[1]"))), "cal.json"),
    "calibration with NaN": (lambda c: predict_with(c, "--calibration", str(_write(
        fresh(c, "j2") / "cal.json", json.dumps({"detector": "yuface", "offset": [0, float("nan")], "side_scale": 1.0,
                                                 "jitter": {"shift": 0.1, "scale": 0.1, "rotate": 30}})))), "cal.json"),
    "predict source missing": (lambda c: (predict.main, [str(fresh(c, "p3") / "none.jpg"), "--model",
                                                         str(c["model"])]), "none.jpg"),
}


class _Exploit:
    def __reduce__(self):
        return (print, ("code ran",))


def _write(path, text):
    path.write_text(text)
    return path


def _write_bytes(path, data):
    path.write_bytes(data)
    return path


def _zero_table(data):
    data["fixed"]["median"] = 0.0
    for layer in data["layers"]:
        for entry in layer["ops"].values():
            entry["median"] = 0.0


def _corrupt_image(ctx, content):
    root = fresh(ctx, f"img{content is None}")
    (root / "train_data").mkdir(exist_ok=True)
    (root / "test_data").mkdir(exist_ok=True)
    image = root / "train_data/bad.png"
    if content is None:
        cv2.imwrite(str(image), np.zeros((120, 160, 3), np.uint8))
    else:
        image.write_bytes(content)
    line = swap(ctx["line"], 0, "train_data/bad.png")
    for split in ("train_data", "test_data"):
        (root / split / "list.txt").write_text(line + "\n")
    main, argv = fine_tune(ctx, root)
    return main, argv + ["--workers", "1"]


def expect_one_line_error(main, argv, names, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    code = exit_info.value.code
    printed = capsys.readouterr().err
    text = code if isinstance(code, str) else printed
    assert code not in (0, None), text
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text and "error" in lines[0]
    assert names in lines[0], (names, lines[0])
    return lines[0]


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gives_one_clear_line(case, ctx, capsys):
    make, names = CASES[case]
    main, argv = make(ctx)
    expect_one_line_error(main, argv, names, capsys)


def test_the_case_list_is_long_enough():
    assert len(CASES) >= 60


@pytest.mark.parametrize("script, args", [("retrain.py", ["--epochs", "0"]),
                                          ("lookup_table.py", ["show", "--lut", "missing.json"])])
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
        retrain.main(flags + ["--resume", str(folder / engine.LAST), "--lr", "1e-4"])
    monkeypatch.undo()
    best, last = load_checkpoint(folder / engine.BEST), load_checkpoint(folder / engine.LAST)
    assert best["epoch"] == 1 and last["epoch"] == 0  # the new best survived the kill
    retrain.main(flags + ["--resume", str(folder / engine.LAST), "--lr", "1e-4"])
    final_best, final_last = load_checkpoint(folder / engine.BEST), load_checkpoint(folder / engine.LAST)
    assert final_last["epoch"] == 2 and final_best["best_nme"] == final_last["best_nme"]
    assert final_best["best_nme"] <= best["best_nme"]


def test_a_stale_temp_file_is_removed_on_start(ctx, tmp_path):
    folder = tmp_path / "subnet"
    folder.mkdir(parents=True)
    (folder / "checkpoint_last.pth.abc123.tmp").write_bytes(b"x" * 1000)
    retrain.main(["--data_root", str(ctx["root"]), "--supernet", str(ctx["supernet"]), "--snapshot", str(tmp_path),
                  "--epochs", "1", *FAST])
    assert not list(folder.glob("*.tmp"))


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
    assert not list((tmp_path / "subnet").glob("*.tmp"))


def test_predict_names_never_collide(ctx, tmp_path):
    source = tmp_path / "photos"
    source.mkdir()
    image = cv2.imread(str(ctx["root"] / "test_data/imgs/face00000__0.png"))
    cv2.imwrite(str(source / "face.jpg"), image)
    cv2.imwrite(str(source / "face.png"), image)
    predict.main([str(source), "--model", str(ctx["model"]), "--out", str(tmp_path / "out"), "--box", "20", "20", "90",
                  "95"])
    assert len(list((tmp_path / "out").glob("*.json"))) == 2
