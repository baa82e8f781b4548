"""What a new user meets in the first hour: budgets that travel between machines, a table measured on
another machine, the raw public data layouts, help with defaults, one closing line per run, and an export
that says which epoch it holds."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import export
import lookup_table
import predict
import retrain
import supernet_train
from fbnet_pfld.checkpoints import load_checkpoint, save_checkpoint
from fbnet_pfld.errors import SearchError
from fbnet_pfld.lookup_table import LookupTable
from fbnet_pfld.machine import fingerprint
from fbnet_pfld.search import SearchObjective
from fbnet_pfld.synthetic import apply_pose, draw_face, make_synthetic_dataset, random_pose, template
from fbnet_pfld.table_builders import build_flops_table

FAST = ["--batch_size", "8", "--workers", "0", "--dev_id", "cpu"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("syn"), num_points=68, train=24, test=8, seed=7)


@pytest.fixture(scope="module")
def flops(tmp_path_factory):
    path = tmp_path_factory.mktemp("lut") / "flops.json"
    LookupTable(build_flops_table(68)).save(path)
    return path


def search(root, lut, snapshot, *extra):
    supernet_train.main(["--data_root", str(root), "--lut", str(lut), "--snapshot", str(snapshot), "--epochs", "1",
                         "--warmup_epochs", "0", *FAST, *extra])
    return snapshot / "supernet"


def test_a_budget_as_a_ratio_to_pfld_lite(root, flops, tmp_path):
    table = LookupTable.load(flops)
    pfld_lite = table.reference_latency("pfld_lite")
    assert 70 < pfld_lite < 85  # multiply-adds (millions) in a FLOPs table
    folder = search(root, flops, tmp_path, "--target_ratio", "0.1")
    arch = json.loads((folder / "arch.json").read_text())
    assert arch["target_latency"] == pytest.approx(0.1 * pfld_lite)
    assert arch["predicted_cost"] <= arch["target_latency"]
    assert "budget: 0.1 x pfld_lite's" in (folder / "train.log").read_text()


def test_a_budget_outside_the_table_is_refused_with_both_numbers(flops):
    table = LookupTable.load(flops)
    for target, words in ((table.max_latency() * 2, "above the costliest"), (table.min_latency() / 2, "cheapest")):
        with pytest.raises(SearchError, match=words) as error:
            SearchObjective(table, "target", 20.0, 0.6, target)
        assert f"{target:g}" in str(error.value)


def test_a_table_timed_on_another_machine_is_warned_about(root, flops, tmp_path):
    data = json.loads(flops.read_text())
    data["meta"].update(unit="ms", machine={"cpu": "Some Other CPU", "arch": "aarch64", "cores": 8,
                                            "flags_sha1": "0" * 12, "avx512_bf16": False, "avx2": False})
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    folder = search(root, other, tmp_path / "run", "--target_latency", str(LookupTable(data).max_latency()))
    assert "was timed on another machine (cpu Some Other CPU" in (folder / "train.log").read_text()


def test_every_run_ends_with_one_line_saying_what_it_did(root, flops, tmp_path):
    folder = search(root, flops, tmp_path)
    last = (folder / "train.log").read_text().strip().splitlines()[-1]
    assert "supernet search done: chose" in last and "arch.json" in last and "outputs in" in last
    retrain.main(["--data_root", str(root), "--model", "pfld_lite", "--snapshot", str(tmp_path), "--epochs", "2",
                  "--stop_after", "1", *FAST])
    last = (tmp_path / "pfld_lite/train.log").read_text().strip().splitlines()[-1]
    assert "stopped after epoch 0 of 2" in last and "NME io last" in last


def test_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit):
        retrain.main(["--help"])
    assert "(default: 64)" in capsys.readouterr().out  # --batch_size, which has no help text of its own


def test_export_says_which_epoch_it_holds(root, tmp_path, capsys):
    retrain.main(["--data_root", str(root), "--model", "pfld_lite", "--snapshot", str(tmp_path), "--epochs", "2",
                  *FAST])
    last = tmp_path / "pfld_lite/checkpoint_last.pth"
    export.main(["--resume", str(last), "--output", str(tmp_path / "last.onnx")])
    assert "epoch 1 of 2 (the last epoch of its run)" in capsys.readouterr().out
    state = load_checkpoint(last)
    chosen = tmp_path / "best.pth"
    save_checkpoint(dict(state, epoch=0, best_nme=state["metrics"]["nme_io"]), chosen)
    export.main(["--resume", str(chosen), "--output", str(tmp_path / "best.onnx")])
    assert "chosen on the test split" in capsys.readouterr().out


def whole_image_face(rng, size=320):
    """A generated face placed in a larger picture, with its 68 points in that picture's pixels."""
    pose = random_pose(rng)
    face = draw_face(pose, rng)
    image = np.full((size, size, 3), 90, np.uint8)
    x, y = rng.integers(40, size - 152, 2)
    image[y:y + 112, x:x + 112] = face
    points = apply_pose(template(68), pose) * 112 + np.array([x, y])
    return image, points


def test_the_raw_public_layouts_prepare_and_train(tmp_path):
    """A 300-W style folder (whole images, .pts beside them) and the keypoints CSV with its frames, gathered
    in one DATA_ROOT with --prefix and --append, then trained on for an epoch."""
    from fbnet_pfld import prepare

    rng = np.random.default_rng(0)
    helen, frames, afw = tmp_path / "helen", tmp_path / "frames", tmp_path / "afw"
    for folder in (helen, frames, afw):
        folder.mkdir()
    rows = ["," + ",".join(str(i) for i in range(136))]
    for i in range(12):
        for folder in (helen, afw):
            image, points = whole_image_face(rng)
            cv2.imwrite(str(folder / f"{i}.jpg"), image)
            (folder / f"{i}.pts").write_text("version: 1\nn_points: 68\n{\n" +
                                             "".join(f"{x:.2f} {y:.2f}\n" for x, y in points) + "}\n")
        image, points = whole_image_face(rng)
        cv2.imwrite(str(frames / f"Some_Person_{i:02d}.jpg"), image)
        rows.append(f"Some_Person_{i:02d}.jpg," + ",".join(f"{v:.2f}" for v in points.ravel()))
    (tmp_path / "keypoints.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "data"
    prepare.main(["--source", "pts", "--train", str(helen), "--prefix", "helen", "--out", str(out)])
    prepare.main(["--source", "csv", "--train", str(tmp_path / "keypoints.csv"), "--images", str(frames),
                  "--prefix", "ytf", "--append", "--out", str(out)])
    prepare.main(["--source", "pts", "--test", str(afw), "--prefix", "afw", "--out", str(out)])
    listed = (out / "train_data/list.txt").read_text().splitlines()
    assert len(listed) == 24 and sum("ytf_" in line for line in listed) == 12
    assert not any("ytf_ytf_" in line for line in listed)  # the collection's name once, from --prefix
    retrain.main(["--data_root", str(out), "--model", "pfld_lite", "--snapshot", str(tmp_path / "run"), "--epochs",
                  "1", "--source_weights", "helen=3,ytf=1", *FAST])
    assert (tmp_path / "run/pfld_lite/checkpoint_last.pth").is_file()


def test_predict_reads_every_image_type_in_a_folder(root, tmp_path):
    retrain.main(["--data_root", str(root), "--model", "pfld_lite", "--snapshot", str(tmp_path), "--epochs", "1",
                  *FAST])
    model = tmp_path / "m.onnx"
    export.main(["--resume", str(tmp_path / "pfld_lite/checkpoint_last.pth"), "--output", str(model), "--format",
                 "mnn"])
    photos = tmp_path / "photos"
    photos.mkdir()
    face = cv2.imread(str(root / "test_data/imgs/face00000__0.png"))
    for suffix in (".webp", ".tif", ".bmp", ".png"):
        cv2.imwrite(str(photos / f"face{suffix}"), face)
    for engine in (model, model.with_suffix(".mnn")):
        predict.main([str(photos), "--model", str(engine), "--out", str(tmp_path / engine.suffix), "--box", "20", "20",
                      "90", "95"])
        outputs = sorted(p.name for p in (tmp_path / engine.suffix).glob("*.json"))
        assert outputs == ["face_bmp.json", "face_png.json", "face_tif.json", "face_webp.json"]


@pytest.mark.parametrize("epochs, warmup", [("2", 0), ("10", 2), (None, 20)])
def test_the_warm_up_follows_the_run_length(root, flops, epochs, warmup):
    """A short search is not refused for a warm-up longer than itself: the warm-up is a fifth of --epochs."""
    argv = ["--data_root", str(root), "--lut", str(flops)] + (["--epochs", epochs] if epochs else [])
    assert supernet_train.parse_args(argv).warmup_epochs == warmup


def test_a_warm_up_longer_than_the_run_names_both_numbers(root, flops, capsys):
    with pytest.raises(SystemExit):
        supernet_train.parse_args(["--data_root", str(root), "--lut", str(flops), "--epochs", "2",
                                   "--warmup_epochs", "5"])
    assert "--warmup_epochs 5 must be between 0 and --epochs 2" in capsys.readouterr().err


def _table_from(tmp_path, **meta):
    data = json.loads(open("data/lut_x86_ort.json").read())
    data["meta"].update(meta)
    path = tmp_path / "lut.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("meta, words", [
    ({"cpu": "Some Other CPU", "machine": None}, "measured on Some Other CPU"),
    ({"machine": {"cpu": "Some Other CPU", "arch": "x86_64", "flags_sha1": "0"}}, "cpu, flags_sha1 differ"),
    ({"runtime": "MNN 3.6.1", "machine": "here"}, "measured in MNN 3.6.1"),
])
def test_add_reference_refuses_a_table_of_another_machine_or_runtime(tmp_path, meta, words):
    if meta.get("machine") == "here":
        meta["machine"] = fingerprint()
    path = _table_from(tmp_path, **meta)
    before = path.read_bytes()
    with pytest.raises(SystemExit) as stop:
        lookup_table.main(["add-reference", "--lut", str(path), "--runs", "10"])
    err = str(stop.value.code)  # sys.exit("error: ..."): printed on stderr, exit status 1
    assert err.startswith("error: ")
    assert words in err and "--force" in err and str(path) in err
    assert path.read_bytes() == before


def test_add_reference_on_this_machines_table_adds_pfld_lite(tmp_path):
    path = _table_from(tmp_path, machine=fingerprint(), runtime="onnxruntime 1.32.0")
    lookup_table.main(["add-reference", "--lut", str(path), "--runs", "20"])
    assert LookupTable.load(path).reference_latency("pfld_lite") > 0


def test_resume_alone_continues_with_the_checkpoints_flags_and_a_finished_run_says_so(root, tmp_path):
    run = tmp_path / "run"
    retrain.main(["--data_root", str(root), "--model", "pfld_lite", "--snapshot", str(run), "--epochs", "2",
                  "--stop_after", "1", "--lr", "0.002", *FAST])
    last = run / "pfld_lite/checkpoint_last.pth"
    retrain.main(["--resume", str(last), "--workers", "0", "--dev_id", "cpu"])  # no --data_root, --epochs, --lr
    state = load_checkpoint(last)
    assert state["epoch"] == 1 and state["args"]["lr"] == 0.002 and state["args"]["data_root"] == str(root)
    retrain.main(["--resume", str(last), "--workers", "0", "--dev_id", "cpu"])
    log = (run / "pfld_lite/train.log").read_text()
    assert f"nothing to do: {last} already holds all 2 epochs" in log
    assert load_checkpoint(last)["epoch"] == 1


def test_every_shipped_measured_table_carries_the_pfld_lite_reference():
    """So that --target_ratio works with each table the repository ships, measured where the table was."""
    tables = sorted(p for p in (Path(__file__).resolve().parents[1] / "data").glob("lut_*.json"))
    assert len(tables) >= 4
    for path in tables:
        table = LookupTable.load(path)
        assert 0 < table.reference_latency("pfld_lite") < float("inf"), path.name
        if table.unit == "ms":
            assert table.meta.get("machine", {}).get("cpu") == table.meta.get("cpu"), path.name
