import json

import numpy as np
import pytest
import torch

import export
import retrain
import supernet_train
from fbnet_pfld.blocks import SEARCH_SPACE
from fbnet_pfld.checkpoints import landmark_network_from_state, load_checkpoint
from fbnet_pfld.dataset import load_datasets, make_loader
from fbnet_pfld.deploy import OrtSession
from fbnet_pfld.distributed import Runtime
from fbnet_pfld.engine import evaluate
from fbnet_pfld.exporting import PARITY_TOLERANCE
from fbnet_pfld.lookup_table import LookupTable
from fbnet_pfld.metrics import primary_nme
from fbnet_pfld.models import Baseline, PFLDLite, Subnet
from fbnet_pfld.retrain_stage import build_models
from fbnet_pfld.synthetic import make_synthetic_dataset
from fbnet_pfld.table_builders import build_flops_table

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
                      "--arch", str(tmp_path / "bad.json"), "--snapshot", str(tmp_path / "bad"), "--epochs", "1",
                      *FAST])


@pytest.mark.parametrize("make", [lambda: Subnet(["gh_k3", "sep_k5", "mb_k3_e2_res_se", "mb_k5_res", "gh_k5"], 98),
                                  lambda: Baseline(106), lambda: PFLDLite(68)], ids=["subnet", "baseline", "pfld_lite"])
def test_export_parity_one_output_dynamic_batch(tmp_path, make):
    torch.manual_seed(0)
    model = make().eval()
    report = export.export_landmark_model(model, tmp_path / "m.onnx", export.parity_images(count=8))
    assert report["max_abs_diff"] <= PARITY_TOLERANCE
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
    # A resumed run keeps its fast path, so it continues exactly; another one asked for is named as not taken.
    retrain.main([*common, "--snapshot", str(tmp_path / "c"), "--stop_after", "1", "--fastpath", "eager"])
    retrain.main([*common, "--snapshot", str(tmp_path / "c"), "--fastpath", "channels_last",
                  "--resume", str(tmp_path / "c/subnet/checkpoint_last.pth")])
    assert load_checkpoint(tmp_path / "c/subnet/checkpoint_last.pth")["fastpath"] == "eager"
    assert "fast path eager (the resumed run's); warning: --fastpath channels_last not taken" in \
        (tmp_path / "c/subnet/train.log").read_text()
    for key in ("model", "aux"):
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), name


def test_release_packages_a_search_and_a_fine_tune_from_separate_folders(searched, tmp_path):
    """What tools.release writes is what a fresh clone loads: slim checkpoints, ONNX/MNN that agree with them."""
    from conftest import onnx_checkpoint_difference

    from tools import release

    root, snapshot = searched
    retrain.main(["--data_root", str(root), "--supernet", str(snapshot / "supernet/checkpoint_best.pth"),
                  "--snapshot", str(tmp_path / "run"), "--epochs", "1", *FAST])
    sweep_dir = tmp_path / "sweep"
    sweep_dir.mkdir()
    for name in ("pareto.csv", "pareto.png", "summary.txt"):
        (sweep_dir / name).write_text(name)
    out = tmp_path / "released"
    release.main(["--run", str(tmp_path / "elsewhere"), "--supernet", str(snapshot / "supernet"), "--lut",
                  str(root / "flops.json"), "--sweep",
                  str(sweep_dir), "--models", f"subnet={tmp_path / 'run' / 'subnet'}", "--out", str(out),
                  "--data_root", str(root)])
    assert (out / "pareto_summary.txt").read_text() == "summary.txt" and (out / "flops.json").is_file()
    state = load_checkpoint(out / "subnet.pth")
    assert "optimizer" not in state and state["arch"] == json.loads((out / "arch.json").read_text())["arch"]
    assert onnx_checkpoint_difference(out / "subnet.pth", out / "subnet.onnx") <= PARITY_TOLERANCE
    assert (out / "subnet.mnn").stat().st_size > 10_000
    assert (out / "fine_tunes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    training = (out / "training.md").read_text().splitlines()
    assert [row.split(" | ")[:2] for row in training[2:] if row.startswith("|")] == [
        ["| search (NME on the held-out architecture split of TRAIN)", "2"],
        [f"| fine-tune subnet from the supernet on {root.name}, fp32", "1"]]  # the default fast path's precision


def test_a_checkpoint_never_chooses_what_the_release_copies(searched, tmp_path):
    """A downloaded supernet whose ``lut`` field names a private file: the release copies only the table its
    command names, and without one it refuses in one line."""
    import shutil

    from fbnet_pfld.checkpoints import save_checkpoint
    from tools import release

    root, snapshot = searched
    secret = tmp_path / "id_rsa"
    secret.write_text("PRIVATE KEY")
    folder = tmp_path / "supernet"
    shutil.copytree(snapshot / "supernet", folder)
    state = load_checkpoint(folder / "checkpoint_best.pth")
    save_checkpoint(dict(state, lut=str(secret)), folder / "checkpoint_best.pth")
    common = ["--run", str(tmp_path), "--supernet", str(folder), "--models", "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit, match="needs --lut"):
        release.main(common)
    with pytest.raises(SystemExit, match="id_rsa"):
        release.main(common + ["--lut", str(secret)])  # not a lookup table: refused, not copied
    release.main(common + ["--lut", str(root / "flops.json")])
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if "id_rsa" in p.name) == []
    assert (tmp_path / "out/flops.json").is_file()


def test_a_release_that_fails_half_way_leaves_the_previous_one_whole(searched, tmp_path):
    """The second model of a release is missing: the release stops, and every file of the previous release
    is as it was (none replaced, none added, no staging folder left)."""
    from tools import release

    root, snapshot = searched
    retrain.main(["--data_root", str(root), "--supernet", str(snapshot / "supernet/checkpoint_best.pth"),
                  "--snapshot", str(tmp_path / "run"), "--epochs", "1", *FAST])
    out = tmp_path / "released"
    out.mkdir()
    (out / "subnet.pth").write_bytes(b"previous release")
    (out / "README.md").write_text("card")
    with pytest.raises(SystemExit, match="missing"):
        release.main(["--no_search", "--models", f"subnet={tmp_path / 'run/subnet'}",
                      f"other={tmp_path / 'missing'}", "--out", str(out), "--data_root", str(root)])
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "subnet.pth"]
    assert (out / "subnet.pth").read_bytes() == b"previous release"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["released", "run"]
    release.main(["--no_search", "--models", f"subnet={tmp_path / 'run/subnet'}", "--out", str(out)])
    assert (out / "subnet.pth").read_bytes() != b"previous release" and (out / "README.md").read_text() == "card"


def test_a_release_keeps_a_released_model_as_it_is_beside_a_new_one(searched, tmp_path):
    """--keep subnet: subnet.* stay byte for byte, its log joins the new model's in training.md and the plot."""
    from tools import release

    root, snapshot = searched
    retrain.main(["--data_root", str(root), "--supernet", str(snapshot / "supernet/checkpoint_best.pth"),
                  "--snapshot", str(tmp_path / "run"), "--epochs", "1", *FAST])
    out, run = tmp_path / "released", f"{tmp_path / 'run/subnet'}"
    release.main(["--no_search", "--models", f"subnet={run}", "--out", str(out), "--data_root", str(root)])
    before = {name: (out / name).read_bytes() for name in ("subnet.pth", "subnet.onnx", "subnet_log.csv")}
    release.main(["--no_search", "--keep", "subnet", "--models", f"again={run}", "--out", str(out)])
    assert {name: (out / name).read_bytes() for name in before} == before and (out / "again.onnx").is_file()
    rows = [row.split(" | ")[0] for row in (out / "training.md").read_text().splitlines()[2:] if row.startswith("|")]
    assert rows == [f"| fine-tune subnet from the supernet on {root.name}, fp32",
                    f"| fine-tune again from the supernet on {root.name}, fp32"]
    for keep, message in ((["pfld_lite"], "needs pfld_lite.pth"), (["again"], "also in --models")):
        with pytest.raises(SystemExit, match=message):
            release.main(["--no_search", "--keep", *keep, "--models", f"again={run}", "--out", str(out)])
