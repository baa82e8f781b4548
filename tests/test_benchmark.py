from pathlib import Path

import pytest
import torch

from fbnet_pfld.checkpoints import load_checkpoint, save_checkpoint
from fbnet_pfld.models import Baseline, Subnet, count_parameters
from fbnet_pfld.space import search_space_to_list
from fbnet_pfld.synthetic import make_synthetic_dataset
from tools import benchmark

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ARCH = ["gh_k3", "sep_k3", "mb_k5_res", "gh_k5", "mb_k3_e2_res"]


def write_checkpoint(path, model, model_type):
    save_checkpoint({"model": model.state_dict(), "model_type": model_type, "num_points": model.num_points,
                     "arch": ARCH if model_type == "subnet" else None,
                     "search_space": search_space_to_list(model.search_space) if model_type == "subnet" else None},
                    path)


def test_benchmark_rows_for_checkpoints_and_onnx(tmp_path):
    torch.manual_seed(0)
    root = make_synthetic_dataset(tmp_path / "data", num_points=68, train=2, test=12)
    subnet, baseline = Subnet(ARCH, 68), Baseline(68)
    write_checkpoint(tmp_path / "subnet.pth", subnet, "subnet")
    write_checkpoint(tmp_path / "baseline.pth", baseline, "baseline")
    first = benchmark.run_benchmark([f"s={tmp_path / 'subnet.pth'}", str(tmp_path / "baseline.pth")], root, runs=20)
    rows = {row["model"]: row for row in first["rows"]}
    assert set(rows) == {"s", "baseline"}
    assert rows["s"]["parameters"] == count_parameters(subnet)
    assert rows["baseline"]["macs"] > rows["s"]["macs"] > 0
    assert all(row["ort_1thread_ms"] > 0 and row["mnn_1thread_ms"] > 0 and 0 < row["nme_box"] < 10
               for row in rows.values())
    assert first["meta"]["test_faces"] == 12
    assert first["meta"]["test_set"] == "/".join(Path(root).resolve().parts[-2:]) == f"{tmp_path.name}/data"
    # An ONNX file alone: parameters from its initialisers, MACs from its graph as PyTorch counts them, no
    # PyTorch timing.
    from export import export_landmark_model, parity_images

    export_landmark_model(subnet, tmp_path / "s.onnx", parity_images(count=2))
    onnx_row = benchmark.run_benchmark([str(tmp_path / "s.onnx")], root, runs=20)["rows"][0]
    assert onnx_row["macs"] == rows["s"]["macs"] and onnx_row["torch_ms"] is None
    # BatchNorm folded into the convs: 4 values per channel become one bias.
    assert 0.85 * count_parameters(subnet) < onnx_row["parameters"] < count_parameters(subnet)
    assert onnx_row["nme_box"] == pytest.approx(rows["s"]["nme_box"], rel=1e-4)
    assert f"| s | {rows['s']['macs'] / 1e6:.2f} |" in benchmark.headline({"rows": [dict(onnx_row, model="s")]})
    table = benchmark.markdown(first)
    assert "\n| s | " in table and "\n| baseline | " in table and "NME io (%)" in table


def test_benchmark_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="nothing.onnx: no such ONNX file"):
        benchmark.main([str(tmp_path / "nothing.onnx")])


def test_released_models_load_and_agree():
    """What a fresh clone gets in released/: checkpoints that rebuild and match their ONNX files."""
    import json

    from conftest import ROOT, onnx_checkpoint_difference

    released = ROOT / "released"
    arch = json.loads((released / "arch.json").read_text())["arch"]
    assert load_checkpoint(released / "supernet.pth")["arch"] == arch
    for name in ("subnet", "pfld_lite"):
        assert onnx_checkpoint_difference(released / f"{name}.pth", released / f"{name}.onnx") <= 1e-4
    assert load_checkpoint(released / "subnet.pth")["arch"] == arch
    # The released subnet is its search's budgeted choice: within the budget on the released table.
    from lookup_table import LookupTable

    search = load_checkpoint(released / "supernet.pth")
    table = LookupTable.load(released / Path(search["lut"]).name)
    assert search["args"]["target_latency"] is not None
    assert table.predict(arch) <= search["args"]["target_latency"]


def test_the_released_family_spans_its_budgets_and_matches_the_pareto_front():
    """released/family: each model is the sweep's searched model at its budget in pareto.csv, within that
    budget on the sweep's table, the sizes in latency order, and its ONNX and MNN files agree."""
    import csv

    import numpy as np
    from conftest import ROOT

    from fbnet_pfld.archfile import read_arch
    from fbnet_pfld.deploy import open_session
    from fbnet_pfld.lookup_table import LookupTable

    family = ROOT / "released" / "family"
    table = LookupTable.load(ROOT / "data" / "lut_whole.json")
    searched = {row["arch"]: row for row in csv.DictReader(open(ROOT / "released" / "pareto.csv"))
                if row["kind"] == "searched"}
    x = {"input": np.random.default_rng(0).random((1, 3, 112, 112), dtype=np.float32)}
    predicted = []
    names = [name for name in ("small", "medium", "large") if (family / f"{name}_arch.json").is_file()]
    assert len(names) >= 2 and names[0] == "small", names
    assert sorted(p.stem for p in family.glob("*.onnx")) == sorted(names)  # no model without its architecture
    for name in names:
        arch = read_arch(family / f"{name}_arch.json")[0]
        row = searched[",".join(arch)]
        predicted.append(table.predict(arch))
        assert predicted[-1] <= float(row["target_ms"])
        assert float(row["predicted_ms"]) == pytest.approx(predicted[-1], rel=1e-4)
        ort, mnn = (open_session(family / f"{name}.onnx", runtime).run(x)[0] for runtime in ("onnxruntime", "mnn"))
        assert ort.shape == (1, 136) and np.abs(ort - mnn).max() <= 1e-4
    assert predicted == sorted(predicted)


@pytest.mark.skipif(not (SHARED / "faces68/val").is_dir(), reason="needs ../shared/data/faces68")
def test_detector_in_the_loop_scores_every_face_and_the_peers_faces(tmp_path):
    """Real faces through the released subnet: a face no detector can find is counted as missed (not
    skipped), and the peer column averages exactly the faces both detectors found."""
    import shutil

    import cv2
    import numpy as np
    from conftest import ROOT

    from fbnet_pfld.detector import detect_faces, hog_available, hog_faces, match
    from fbnet_pfld.prepare import read_pts

    files = sorted((SHARED / "faces68/val").glob("*.pts"))[:6]
    for pts in files:
        shutil.copy(pts, tmp_path / pts.name)
        shutil.copy(pts.with_suffix(".jpg"), tmp_path / pts.with_suffix(".jpg").name)
    shutil.copy(files[0], tmp_path / "zz_blank.pts")  # sorted last: a grey image where the face should be
    cv2.imwrite(str(tmp_path / "zz_blank.jpg"), np.full_like(cv2.imread(str(files[0].with_suffix(".jpg"))), 127))
    peer_finds = iter([True, False, True, True, False, True, True])
    found_faces = benchmark.detect_annotated_faces(
        tmp_path, benchmark.DEFAULT_CALIBRATION, peer=lambda image: detect_faces(image) if next(peer_finds) else [])
    errors = benchmark.face_errors(ROOT / "released/subnet.onnx", found_faces)
    assert np.isfinite(errors["gt_box"]).all() and errors["gt_box"].max() < 0.3
    assert np.isnan(errors["detector"][-1]) and np.isfinite(errors["detector"][:-1]).all()
    row = benchmark.in_the_loop(errors)
    assert (row["faces"], row["found"], row["peer_found"], row["found_of_peer_faces"]) == (7, 6, 4, 4)
    assert row["nme_io_detector"] == pytest.approx(errors["detector"][:-1].mean())
    assert row["nme_io_detector_peer_faces"] == pytest.approx(errors["detector"][[0, 2, 3, 5]].mean())
    assert "peer_found" not in benchmark.in_the_loop({**errors, "peer_found": None})
    # Test-time flipping (predict.py --flip) scores the same faces: a close but different figure.
    flipped = benchmark.flipped_in_the_loop(ROOT / "released/subnet.onnx", found_faces)
    assert set(flipped) == {"nme_io_detector_flip", "nme_io_detector_peer_faces_flip"}
    assert 0.7 < flipped["nme_io_detector_flip"] / row["nme_io_detector"] < 1.3
    assert flipped["nme_io_detector_flip"] != row["nme_io_detector"]
    table = benchmark.markdown({"meta": {"threads_all": 2, "mnn": None, "onnxruntime": "ort", "torch": "t", "cpu": "c",
                                         "arch": "a", "runs": 1, "test_set": None, "test_faces": None,
                                         "faces_dir": "val", "peer": "HOG"},
                                "rows": [{"model": "s", "parameters": 1, "macs": 1_000_000, "onnx_bytes": 1024,
                                          "ort_1thread_ms": 1.0, "ort_2threads_ms": 1.0, **row, **flipped}]})
    assert "| NME io, detector, flip (%) | NME io, detector, HOG's faces, flip (%) |" in table
    assert table.splitlines()[2].endswith(f"| {100 * flipped['nme_io_detector_flip']:.2f} | "
                                          f"{100 * flipped['nme_io_detector_peer_faces_flip']:.2f} |")
    if hog_available():  # dlib is optional: the peer it stands for finds a real face
        image = cv2.imread(str(files[0].with_suffix(".jpg")))
        assert match(hog_faces(image), read_pts(files[0])) is not None


def test_two_models_of_one_name_are_refused_before_any_export(tmp_path):
    """Two checkpoint_last.pth files would share one exported ONNX (each row the last model's figures)."""
    from fbnet_pfld.errors import DeployError
    from tools.benchmark import load_entries

    with pytest.raises(DeployError, match="two models named checkpoint_last"):
        load_entries([str(tmp_path / "a/checkpoint_last.pth"), str(tmp_path / "b/checkpoint_last.pth")], tmp_path)
