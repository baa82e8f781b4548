import csv
import json
import math
import subprocess
import sys

import pytest
import torch

from fbnet_pfld import checkpoints
from fbnet_pfld.checkpoints import load_checkpoint, save_checkpoint
from fbnet_pfld.errors import CheckpointError
from fbnet_pfld.lookup_table import LookupTable
from fbnet_pfld.search import SearchObjective
from fbnet_pfld.synthetic import make_synthetic_dataset
from fbnet_pfld.table_builders import build_flops_table
from supernet_train import main, parse_args

ROOT = checkpoints.Path(__file__).resolve().parents[1]
FAST = ["--batch_size", "8", "--workers", "0", "--dev_id", "cpu", "--sample", "hard"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("syn"), num_points=68, train=80, test=16, seed=1)


@pytest.fixture(scope="module")
def flops_lut(tmp_path_factory):
    path = tmp_path_factory.mktemp("lut") / "flops.json"
    LookupTable(build_flops_table(68)).save(path)
    return path


def run(data_root, lut, snapshot, *extra):
    main(["--data_root", str(data_root), "--lut", str(lut), "--snapshot", str(snapshot), *FAST, *extra])
    return snapshot / "supernet"


def test_an_expensive_op_is_avoided_under_a_strong_latency_weight(tmp_path, data_root, flops_lut):
    data = json.loads(flops_lut.read_text())
    expensive = "mb_k5_e2_res"
    data["layers"][1]["ops"][expensive]["median"] = 500.0  # ~100x the whole model
    lut = tmp_path / "expensive.json"
    lut.write_text(json.dumps(data))
    common = ["--epochs", "3", "--warmup_epochs", "0", "--mode", "add", "--theta_lr", "0.5"]
    strong = run(data_root, lut, tmp_path / "strong", *common, "--alpha", "1.0")
    free = run(data_root, lut, tmp_path / "free", *common, "--alpha", "0")
    probability = {}
    for name, out in (("strong", strong), ("free", free)):
        arch = json.loads((out / "arch.json").read_text())
        probability[name] = arch["op_probabilities"]["layer1"][expensive]
        if name == "strong":
            assert arch["arch"][1] != expensive
    # 6 theta steps of Adam at lr 0.5 move theta by at most 3: the strong cost pushes the expensive op
    # down all the way, while without it the op's probability is free to go either way.
    uniform = 1 / len(data["layers"][1]["ops"])
    assert probability["strong"] < 0.1 * uniform, probability
    assert probability["free"] > 5 * probability["strong"], probability


def test_outputs_and_logs(tmp_path, data_root, flops_lut):
    out = run(data_root, flops_lut, tmp_path, "--epochs", "2", "--warmup_epochs", "1")
    for name in ("checkpoint_best.pth", "checkpoint_last.pth", "arch.json", "log.csv", "train.log", "curves.png",
                 "theta.png"):
        assert (out / name).is_file(), name
    state = load_checkpoint(out / "checkpoint_last.pth")
    assert state["epoch"] == 1 and len(state["arch"]) == 5 and state["lut_meta"]["unit"] == "MMAC"
    assert state["temperature"] == pytest.approx(5.0 * math.exp(-0.045))  # decayed after the one search epoch
    lines = (out / "log.csv").read_text().splitlines()
    assert len(lines) == 3 and "warmup" in lines[1] and "search" in lines[2]


def test_resume_continues_exactly(tmp_path, data_root, flops_lut):
    args = ["--epochs", "2", "--warmup_epochs", "1"]
    straight = run(data_root, flops_lut, tmp_path / "a", *args)
    split = run(data_root, flops_lut, tmp_path / "b", *args, "--stop_after", "1")
    assert load_checkpoint(split / "checkpoint_last.pth")["epoch"] == 0
    run(data_root, flops_lut, tmp_path / "b", *args, "--resume", str(split / "checkpoint_last.pth"))
    a = load_checkpoint(straight / "checkpoint_last.pth")
    b = load_checkpoint(split / "checkpoint_last.pth")
    assert b["epoch"] == 1
    for key, value in a["supernet"].items():
        assert torch.equal(value, b["supernet"][key]), key
    assert (tmp_path / "a/supernet/log.csv").read_text().count("\n") == (split / "log.csv").read_text().count("\n")


def test_corrupted_checkpoint_gives_a_clear_error(tmp_path, data_root, flops_lut):
    out = run(data_root, flops_lut, tmp_path, "--epochs", "1", "--warmup_epochs", "0")
    checkpoint = out / "checkpoint_last.pth"
    checkpoint.write_bytes(checkpoint.read_bytes()[:5000])
    with pytest.raises(SystemExit, match=r"checkpoint_last.pth: not a readable checkpoint"):
        run(data_root, flops_lut, tmp_path, "--epochs", "2", "--warmup_epochs", "0", "--resume", str(checkpoint))
    with pytest.raises(SystemExit, match=r"missing.pth: no such checkpoint"):
        run(data_root, flops_lut, tmp_path, "--epochs", "2", "--warmup_epochs", "0",
            "--resume", str(tmp_path / "missing.pth"))


def test_a_run_killed_while_saving_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint_last.pth"
    save_checkpoint({"epoch": 1, "w": torch.ones(3)}, path)

    def dying_save(obj, f):
        f.write(b"\x80\x02partial")
        raise KeyboardInterrupt  # the process is killed mid-write

    monkeypatch.setattr(checkpoints.torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"epoch": 2, "w": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint_last.pth"]


def test_checkpoints_never_unpickle_code(tmp_path):
    import pickle

    class Exploit:
        def __reduce__(self):
            return (print, ("code ran",))

    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"epoch": Exploit()}))
    with pytest.raises(CheckpointError, match="holds code or objects a checkpoint must not") as error:
        load_checkpoint(path)
    assert "weights_only=False" not in str(error.value)  # never the advice to turn the check off


def test_a_file_of_another_kind_is_named_as_not_a_checkpoint(tmp_path):
    path = tmp_path / "arch.json"
    path.write_text('{"arch": ["sep_k3"]}')
    with pytest.raises(CheckpointError, match="arch.json: not a PyTorch checkpoint"):
        load_checkpoint(path)


def test_mul_mode_never_gives_nan(flops_lut):
    table = LookupTable.load(flops_lut)
    mul = SearchObjective(table, "mul", 0.25, 0.6)
    task = torch.tensor(0.3, requires_grad=True)
    for ratio in (1.0, 1.0 - 1e-7, 1.5, 40.0):
        cost = torch.tensor(ratio * mul.min_cost, requires_grad=True)
        loss = mul.penalise(task, cost)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(cost.grad)
    free = SearchObjective(table, "add", 0.0, 0.6)
    assert float(free.penalise(task.detach(), torch.tensor(3.0 * free.min_cost))) == pytest.approx(0.3)


def test_mul_mode_rejects_zero_alpha():
    with pytest.raises(SystemExit):
        parse_args(["--mode", "mul", "--alpha", "0"])


def test_two_process_gloo_run_keeps_theta_identical(tmp_path, data_root, flops_lut):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(ROOT / "supernet_train.py"), "--data_root", str(data_root), "--lut", str(flops_lut),
               "--snapshot", str(tmp_path), "--epochs", "2", "--warmup_epochs", "1", *FAST]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**checkpoints.os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "supernet/log.csv", newline="") as f:
        diffs = [float(row["theta_rank_diff"]) for row in csv.DictReader(f)]
    assert len(diffs) == 2 and all(d == 0.0 for d in diffs)
    assert "2 process(es)" in (tmp_path / "supernet/train.log").read_text()


def test_the_search_searches_the_tables_space_and_the_fine_tune_follows_it(tmp_path, data_root):
    import retrain
    from fbnet_pfld.blocks import SEARCH_SPACE, LayerSpec
    from fbnet_pfld.space import search_space_to_list

    # Narrower 14x14 layers, one wider 7x7 layer, three layers instead of five: a table built for it.
    space = [LayerSpec(32, 24, 1, 14, ("gh_k3", "sep_k3")), LayerSpec(24, 48, 2, 14, ("mb_k3_e2_res", "gh_k5")),
             LayerSpec(48, 48, 1, 7, ("mb_k5_res", "mb_k3_res"))]
    lut = tmp_path / "lut.json"
    LookupTable(build_flops_table(68, space)).save(lut)
    out = run(data_root, lut, tmp_path / "search", "--epochs", "1", "--warmup_epochs", "0")
    chosen = json.loads((out / "arch.json").read_text())
    assert chosen["search_space"] == search_space_to_list(space) and len(chosen["arch"]) == 3
    assert [len(layer.ops) for layer in checkpoints.load_supernet(out / "checkpoint_last.pth")[0].layers] == [2, 2, 2]

    common = ["--data_root", str(data_root), "--epochs", "1", "--batch_size", "8", "--workers", "0", "--dev_id", "cpu"]
    retrain.main([*common, "--arch", str(out / "arch.json"), "--from_scratch", "--snapshot", str(tmp_path / "ft")])
    state = load_checkpoint(tmp_path / "ft/subnet/checkpoint_last.pth")
    assert state["search_space"] == search_space_to_list(space) and state["arch"] == chosen["arch"]

    other = tmp_path / "other_arch.json"  # an architecture of the default space on this supernet
    other.write_text(json.dumps({"arch": [layer.ops[0] for layer in SEARCH_SPACE],
                                 "search_space": search_space_to_list(SEARCH_SPACE)}))
    with pytest.raises(SystemExit, match=f"{other}: made in another search space than .*checkpoint_last.pth's"):
        retrain.main([*common, "--supernet", str(out / "checkpoint_last.pth"), "--arch", str(other),
                      "--snapshot", str(tmp_path / "bad")])
