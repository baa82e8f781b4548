import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT

import export
import supernet_train
from fbnet_pfld.deploy import MnnSession, OrtSession, convert_to_mnn, random_feeds, same_mnn_network
from fbnet_pfld.exporting import PARITY_TOLERANCE
from fbnet_pfld.lookup_table import LookupTable, runtime_mismatches
from fbnet_pfld.models import PFLDLite, Subnet
from fbnet_pfld.synthetic import make_synthetic_dataset
from fbnet_pfld.table_builders import build_flops_table


@pytest.mark.parametrize("make", [lambda: Subnet(["gh_k3", "sep_k5", "mb_k3_e2_res_se", "mb_k5_res", "gh_k5"], 68),
                                  lambda: PFLDLite(106)], ids=["subnet", "pfld_lite"])
def test_mnn_export_matches_pytorch(tmp_path, make):
    torch.manual_seed(0)
    model = make().eval()
    images = export.parity_images(count=4)
    export.export_landmark_model(model, tmp_path / "m.onnx", images)
    report = export.export_mnn(model, tmp_path / "m.onnx", images)
    assert report["max_abs_diff"] <= PARITY_TOLERANCE
    assert (tmp_path / "m.mnn").stat().st_size > 50_000
    small = export.export_mnn(model, tmp_path / "m.onnx", images, weights="fp16")
    assert small["size_bytes"] < 0.7 * report["size_bytes"] and small["max_abs_diff"] < 0.05


def test_exporting_an_unchanged_network_again_keeps_the_mnn_bytes(tmp_path):
    """The converter stamps every file with a new UUID: a re-export of the same network keeps the file in
    place byte for byte, and a changed network replaces it."""
    torch.manual_seed(0)
    model = Subnet(["gh_k3", "gh_k3", "gh_k5", "gh_k5", "gh_k5"], 68).eval()
    images = export.parity_images(count=2)
    export.export_landmark_model(model, tmp_path / "m.onnx", images)
    export.export_mnn(model, tmp_path / "m.onnx", images)
    first = (tmp_path / "m.mnn").read_bytes()
    convert_to_mnn(tmp_path / "m.onnx", tmp_path / "again.mnn")
    assert (tmp_path / "again.mnn").read_bytes() != first
    assert same_mnn_network(tmp_path / "again.mnn", tmp_path / "m.mnn")
    export.export_mnn(model, tmp_path / "m.onnx", images)
    assert (tmp_path / "m.mnn").read_bytes() == first
    with torch.no_grad():
        next(model.parameters()).mul_(0.5)
    export.export_landmark_model(model, tmp_path / "m.onnx", images)
    export.export_mnn(model, tmp_path / "m.onnx", images)
    assert not same_mnn_network(tmp_path / "m.mnn", tmp_path / "again.mnn")


def test_export_script_prints_mnn_parity(tmp_path, capsys):
    torch.manual_seed(0)
    model = Subnet(["gh_k3", "gh_k3", "gh_k5", "gh_k5", "gh_k5"], 68)
    from fbnet_pfld.checkpoints import save_checkpoint
    from fbnet_pfld.space import search_space_to_list

    save_checkpoint({"model": model.state_dict(), "model_type": "subnet", "num_points": 68, "arch": model.arch,
                     "search_space": search_space_to_list(model.search_space)}, tmp_path / "s.pth")
    export.main(["--resume", str(tmp_path / "s.pth"), "--output", str(tmp_path / "s.onnx"), "--format", "mnn",
                 "--mnn_weights", "int8"])
    printed = capsys.readouterr().out
    assert "MNN vs PyTorch: max abs difference" in printed and "px of the 112-px crop" in printed
    assert (tmp_path / "s.int8.mnn").is_file()


def test_mnn_and_onnxruntime_agree_on_an_op_graph(tmp_path):
    from fbnet_pfld.table_builders import export_part

    path = export_part(torch.nn.Sequential(torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.ReLU()).eval(),
                       (torch.rand(1, 32, 14, 14),), tmp_path / "op.onnx")
    feeds = random_feeds(path)
    ort_out = OrtSession(path).run(feeds)[0]
    mnn_out = MnnSession(path).run(feeds)[0]
    assert np.abs(ort_out - mnn_out).max() < 1e-4
    assert MnnSession(path).runner(feeds)()  # the timing call computes and reads


def test_a_broken_onnx_file_gives_a_clear_mnn_error(tmp_path):
    from fbnet_pfld.errors import DeployError

    (tmp_path / "x.onnx").write_text("not onnx")
    with pytest.raises(DeployError, match="x.onnx"):
        convert_to_mnn(tmp_path / "x.onnx", tmp_path / "x.mnn")


def test_a_table_from_another_runtime_warns(tmp_path):
    data = build_flops_table(68)
    data["meta"].update(unit="ms", runtime="MNN 3.6.1", threads=4, cpu="Cortex-A53")
    table = LookupTable(data)
    differences = runtime_mismatches(table, "onnxruntime", 1, "AMD EPYC")
    assert len(differences) == 3 and "MNN 3.6.1" in differences[0]
    assert runtime_mismatches(table, "mnn", 4, "Cortex-A53") == []
    table.save(tmp_path / "phone.json")
    root = make_synthetic_dataset(tmp_path / "data", num_points=68, train=24, test=8, seed=6)
    supernet_train.main(["--data_root", str(root), "--lut", str(tmp_path / "phone.json"), "--snapshot",
                         str(tmp_path), "--epochs", "1", "--warmup_epochs", "0", "--batch_size", "8", "--workers",
                         "0", "--dev_id", "cpu"])
    log = (tmp_path / "supernet/train.log").read_text()
    assert "warning:" in log and "runtime MNN 3.6.1 (searching for onnxruntime)" in log
    assert json.loads((tmp_path / "supernet/arch.json").read_text())["lut"].endswith("phone.json")


def test_mnn_paths_never_import_the_phone_home_module(tmp_path):
    """MNN.tools pip-installs a logging SDK and sends a usage log when imported: never import it."""
    code = ("import sys; sys.path.insert(0, '.'); import torch, export; from fbnet_pfld.models import Subnet; "
            "m = Subnet(['gh_k3'] * 2 + ['gh_k5'] * 3, 68).eval(); i = export.parity_images(count=2); "
            f"export.export_landmark_model(m, r'{tmp_path}/m.onnx', i); export.export_mnn(m, r'{tmp_path}/m.onnx', i); "
            "bad = [n for n in sys.modules if n.startswith(('MNN.tools', 'aliyun'))]; print(bad); "
            "sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]


def test_an_mnn_session_of_an_onnx_file_never_writes_beside_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FBNET_PFLD_MNN_CACHE", str(tmp_path / "cache"))
    model = tmp_path / "model.onnx"
    model.write_bytes((Path(__file__).resolve().parents[1] / "released" / "subnet.onnx").read_bytes())
    beside = tmp_path / "model.mnn"
    beside.write_bytes(b"a user's own older conversion")
    os.utime(beside, (0, 0))
    feeds = random_feeds(model)
    first = MnnSession(model).run(feeds)[0]
    assert beside.read_bytes() == b"a user's own older conversion"
    cached = list((tmp_path / "cache").iterdir())
    assert len(cached) == 1 and cached[0].suffix == ".mnn"
    stamp = cached[0].stat().st_mtime_ns
    assert np.array_equal(MnnSession(model).run(feeds)[0], first)
    assert cached[0].stat().st_mtime_ns == stamp, "the second session converts again"


def test_mnn_prints_nothing_of_its_own():
    """MNN's native "The device supports: ..." banner sits in C's stdio buffer until exit: it is flushed into
    the silenced stream instead of reaching the user's terminal."""
    code = ("import numpy as np; from fbnet_pfld.deploy import MnnSession; from tools.benchmark import mnn_available; "
            "assert mnn_available(); "
            "s = MnnSession('released/subnet.onnx', 1); s.run({'input': np.zeros((1, 3, 112, 112), np.float32)}); "
            "print('ran')")
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "ran\n" and "device supports" not in done.stderr
