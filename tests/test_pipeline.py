import json

import numpy as np
import pytest
import torch
from conftest import ROOT

import export
import predict
import retrain
import supernet_train
from blocks import SEARCH_SPACE
from checkpoints import landmark_network_from_state, load_checkpoint
from data.prepare import read_pts
from data.synthetic import make_synthetic_dataset
from dataset import INPUT_SIZE, centred_crop_matrix, landmark_box, load_datasets, make_loader, warp_points
from deploy import OrtSession, export_onnx
from distributed import Runtime
from engine import evaluate
from lookup_table import LookupTable
from metrics import primary_nme
from models import Baseline, Subnet
from stages import build_models
from table_builders import build_flops_table

SAMPLES106 = ROOT.parent / "shared" / "data" / "samples106"
FAST = ["--batch_size", "16", "--workers", "0", "--dev_id", "cpu"]
CPU = Runtime(0, 1, torch.device("cpu"), [])


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A generated 68-point dataset and a briefly searched supernet on it."""
    root = make_synthetic_dataset(tmp_path_factory.mktemp("syn"), num_points=68, train=160, test=32, seed=2)
    lut = root / "flops.json"
    LookupTable(build_flops_table(68)).save(lut)
    snapshot = tmp_path_factory.mktemp("ckpt")
    supernet_train.main(["--data_root", str(root), "--lut", str(lut), "--snapshot", str(snapshot), "--epochs", "2",
                         "--warmup_epochs", "1", "--sample", "hard", *FAST])
    return root, snapshot


def nme_of(model, root):
    _, test = load_datasets(root)
    model.eval()
    return primary_nme(evaluate(lambda x: model(x)[0], make_loader(test, batch_size=32, workers=0), CPU))


def test_fine_tuning_lowers_nme_and_transfer_vs_scratch(searched, tmp_path, capsys):
    root, snapshot = searched
    supernet = snapshot / "supernet" / "checkpoint_best.pth"
    common = ["--data_root", str(root), "--supernet", str(supernet), "--epochs", "4", *FAST]
    initial, _, _ = build_models(retrain.parse_args(common), 68)
    retrain.main([*common, "--snapshot", str(tmp_path / "transfer")])
    retrain.main([*common, "--snapshot", str(tmp_path / "scratch"), "--from_scratch"])
    transfer = load_checkpoint(tmp_path / "transfer/subnet/checkpoint_best.pth")
    scratch = load_checkpoint(tmp_path / "scratch/subnet/checkpoint_best.pth")
    before = nme_of(initial, root)
    after = primary_nme(transfer["metrics"])
    assert after < before, (before, after)
    assert transfer["arch"] == load_checkpoint(supernet)["arch"]
    with capsys.disabled():  # reported, not asserted: one short run on generated data is luck
        print(f"\nsubnet NME on generated data: transferred {before:.4f} -> {after:.4f} after 4 epochs, "
              f"from scratch {primary_nme(scratch['metrics']):.4f}")


def test_edited_arch_json_and_baseline_recipe(searched, tmp_path):
    root, snapshot = searched
    arch = [layer.ops[-1] for layer in SEARCH_SPACE]
    (tmp_path / "arch.json").write_text(json.dumps({"arch": arch}))
    retrain.main(["--data_root", str(root), "--supernet", str(snapshot / "supernet/checkpoint_best.pth"),
                  "--arch", str(tmp_path / "arch.json"), "--snapshot", str(tmp_path), "--epochs", "1", *FAST])
    assert load_checkpoint(tmp_path / "subnet/checkpoint_last.pth")["arch"] == arch
    retrain.main(["--data_root", str(root), "--model", "baseline", "--snapshot", str(tmp_path), "--epochs", "1",
                  *FAST])
    state = load_checkpoint(tmp_path / "baseline/checkpoint_best.pth")
    assert isinstance(landmark_network_from_state(state), Baseline)
    (tmp_path / "bad.json").write_text('{"arch": ["mb_k3_res"]}')
    with pytest.raises(SystemExit, match="architecture has 1 ops but the search space has 5"):
        retrain.main(["--data_root", str(root), "--supernet", str(snapshot / "supernet/checkpoint_best.pth"),
                      "--arch", str(tmp_path / "bad.json"), "--snapshot", str(tmp_path), "--epochs", "1", *FAST])


@pytest.mark.parametrize("make", [lambda: Subnet(["gh_k3", "sep_k5", "mb_k3_e2_res_se", "mb_k5_res", "gh_k5"], 98),
                                  lambda: Baseline(106)])
def test_export_parity_one_output_dynamic_batch(tmp_path, make):
    torch.manual_seed(0)
    model = make().eval()
    report = export.export_landmark_model(model, tmp_path / "m.onnx", export.parity_images(count=8))
    assert report["max_abs_diff"] <= export.PARITY_TOLERANCE
    session = OrtSession(tmp_path / "m.onnx")
    assert session.output_names == ["landmarks"] and session.input_names == ["input"]
    out = session.run({"input": np.random.default_rng(0).random((3, 3, 112, 112), dtype=np.float32)})[0]
    assert out.shape == (3, 2 * model.num_points)


def test_export_script_on_a_retrained_checkpoint(searched, tmp_path, capsys):
    root, snapshot = searched
    retrain.main(["--data_root", str(root), "--supernet", str(snapshot / "supernet/checkpoint_best.pth"),
                  "--snapshot", str(tmp_path), "--epochs", "1", *FAST])
    export.main(["--supernet", str(snapshot / "supernet/checkpoint_best.pth"), "--resume",
                 str(tmp_path / "subnet/checkpoint_best.pth"), "--output", str(tmp_path / "subnet.onnx"),
                 "--data_root", str(root)])
    printed = capsys.readouterr().out
    assert "max abs difference" in printed and (tmp_path / "subnet.onnx").stat().st_size > 100_000


class ConstantLandmarks(torch.nn.Module):
    """A crafted model answering fixed crop coordinates: tests the crop and its inverse, not learning."""

    def __init__(self, landmarks):
        super().__init__()
        self.register_buffer("landmarks", torch.tensor(landmarks, dtype=torch.float32).reshape(1, -1))

    def forward(self, x):
        return self.landmarks.expand(x.shape[0], -1) + 0 * x.mean(dim=(1, 2, 3), keepdim=True).flatten(1)[:, :1]


@pytest.mark.skipif(not SAMPLES106.is_dir(), reason="needs ../shared/data/samples106")
def test_predict_draws_points_at_annotated_positions(tmp_path):
    for pts in sorted(SAMPLES106.glob("*.pts")):
        truth = read_pts(pts)
        normalised = warp_points(truth, centred_crop_matrix(truth)) / INPUT_SIZE
        model_path = tmp_path / f"{pts.stem}.onnx"
        export_onnx(ConstantLandmarks(normalised), (torch.rand(1, 3, 112, 112),), model_path, ["input"],
                    ["landmarks"], dynamic_batch=True)
        centre, extent = landmark_box(truth)
        box = [*(centre - extent / 2), *(centre + extent / 2)]
        predict.main([str(pts.with_suffix(".jpg")), "--model", str(model_path), "--box", *map(str, box),
                      "--out", str(tmp_path / "out")])
        result = json.loads((tmp_path / "out" / f"{pts.stem}_jpg.json").read_text())
        assert np.abs(np.array(result["landmarks"]) - truth).max() < 0.02
        assert (tmp_path / "out" / f"{pts.stem}_jpg_landmarks.png").stat().st_size > 1000


@pytest.mark.skipif(not SAMPLES106.is_dir(), reason="needs ../shared/data/samples106")
def test_detector_box_lands_on_the_face():
    import cv2

    pts = sorted(SAMPLES106.glob("*.pts"))[0]
    truth = read_pts(pts)
    centre, side = predict.detect_face(cv2.imread(str(pts.with_suffix(".jpg"))), pts)
    true_centre, extent = landmark_box(truth)
    assert np.linalg.norm(centre - true_centre) < 0.25 * extent.max()
    assert 0.7 < side / extent.max() < 1.4


def test_predict_errors(tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / "blank.png"), np.full((200, 200, 3), 127, np.uint8))
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    model_path = tmp_path / "m.onnx"
    export_onnx(ConstantLandmarks(np.full((68, 2), 0.5)), (torch.rand(1, 3, 112, 112),), model_path, ["input"],
                ["landmarks"], dynamic_batch=True)
    with pytest.raises(SystemExit, match="2 of 2 image"):
        predict.main([str(tmp_path), "--model", str(model_path), "--out", str(tmp_path / "out")])
    with pytest.raises(predict.NoFaceError, match="blank.png: no face found"):
        predict.predict_image(predict.LandmarkPredictor(model_path), tmp_path / "blank.png")
    with pytest.raises(predict.DataError, match="broken.jpg: cannot read image"):
        predict.predict_image(predict.LandmarkPredictor(model_path), tmp_path / "broken.jpg", box=[0, 0, 50, 50])


def test_retrain_resume_continues_exactly(searched, tmp_path):
    root, snapshot = searched
    common = ["--data_root", str(root), "--supernet", str(snapshot / "supernet/checkpoint_best.pth"), "--epochs", "2",
              *FAST]
    retrain.main([*common, "--snapshot", str(tmp_path / "a")])
    retrain.main([*common, "--snapshot", str(tmp_path / "b"), "--stop_after", "1"])
    retrain.main([*common, "--snapshot", str(tmp_path / "b"),
                  "--resume", str(tmp_path / "b/subnet/checkpoint_last.pth")])
    a = load_checkpoint(tmp_path / "a/subnet/checkpoint_last.pth")
    b = load_checkpoint(tmp_path / "b/subnet/checkpoint_last.pth")
    assert a["epoch"] == b["epoch"] == 1
    for key in ("model", "aux"):
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), name
