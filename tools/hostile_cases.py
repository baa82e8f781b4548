"""The hostile-input cases: each is what a hostile or careless user gives one of the scripts, and the one
line the answer must hold (a file name, a line, a flag). ``CASES`` must end in a non-zero exit with that one
line and no traceback; ``WORKS`` is unusual but valid input that must run to the end.
"""

import json
import pickle

import torch

import export
import predict
import retrain
import supernet_train
import sweep
from fbnet_pfld.blocks import SEARCH_SPACE
from tools import (
    benchmark,
    hostile_api,
    hostile_commands,
    hostile_data,
    hostile_labelling,
    hostile_models,
    hostile_runs,
    hostile_tables,
    hostile_video,
    hostile_writes,
    ranking,
)
from tools.hostile_fixtures import (
    FAST,
    Exploit,
    blank_folder,
    checkpoint_file,
    copied_run,
    fine_tune,
    flags_changed,
    flipped_checkpoint,
    fresh,
    list_lines,
    nan_checkpoint,
    onnx_with_input,
    predict_with,
    resume,
    search,
    tampered_state,
    write_text,
)

CASES = {
    # checkpoints
    "checkpoint zero bytes": (lambda c: resume(c, checkpoint_file(c, "c1", lambda p: p.write_bytes(b""))),
                              "checkpoint.pth"),
    "checkpoint truncated": (lambda c: resume(c, checkpoint_file(c, "c2", lambda p: p.write_bytes(
        c["subnet"].read_bytes()[:3000]))), "checkpoint.pth"),
    "checkpoint pickle with code": (lambda c: resume(c, checkpoint_file(c, "c3", lambda p: p.write_bytes(
        pickle.dumps({"epoch": Exploit()})))), "checkpoint.pth"),
    "checkpoint not a dict": (lambda c: resume(c, checkpoint_file(c, "c4", lambda p: torch.save(torch.ones(3), p))),
                              "checkpoint.pth"),
    "checkpoint is a JSON file": (lambda c: resume(c, checkpoint_file(c, "c10", lambda p: p.write_text(
        '{"arch": ["sep_k3"]}'))), "not a PyTorch checkpoint"),
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
    "checkpoint with code says so": (lambda c: resume(c, checkpoint_file(c, "c9", lambda p: p.write_bytes(
        pickle.dumps({"epoch": Exploit()})))), "holds code"),
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
    "predict model not ONNX": (lambda c: predict_with(c, model=write_text(fresh(c, "p2") / "m.onnx", "hello")),
                               "m.onnx"),
    "predict zero box": (lambda c: predict_with(c, "--box", "10", "10", "10", "50"), "--box"),
    "predict inverted box": (lambda c: predict_with(c, "--box", "60", "60", "10", "10"), "--box"),
    "predict NaN box": (lambda c: predict_with(c, "--box", "nan", "1", "50", "50"), "--box"),
    "jitter not a calibration": (lambda c: fine_tune(c, None, "--jitter", str(write_text(fresh(c, "j1") / "cal.json",
                                                                                       "[1]"))), "cal.json"),
    "calibration with NaN": (lambda c: predict_with(c, "--calibration", str(write_text(
        fresh(c, "j2") / "cal.json", json.dumps({"detector": "yuface", "offset": [0, float("nan")], "side_scale": 1.0,
                                                 "jitter": {"shift": 0.1, "scale": 0.1, "rotate": 30}})))), "cal.json"),
    "predict source missing": (lambda c: (predict.main, [str(fresh(c, "p3") / "none.jpg"), "--model",
                                                         str(c["model"])]), "none.jpg"),
    "predict empty folder": (lambda c: (predict.main, [str(fresh(c, "pe")), "--model", str(c["model"]), "--out",
                                                       str(fresh(c, "pe") / "o")]), "pe"),
    "predict folder of text files": (lambda c: (predict.main, [str(write_text(fresh(c, "pt") / "a.txt", "x").parent),
                                                               "--model", str(c["model"])]), "pt"),
    "predict box outside the image": (lambda c: predict_with(c, "--box", "500", "500", "600", "600"), "--box"),
    "predict box enormous": (lambda c: predict_with(c, "--box", "0", "0", "1e30", "1e30"), "--box"),
    "predict model of another input size": (lambda c: predict_with(c, model=onnx_with_input(c, "o64", 64)),
                                            "other.onnx"),
    "benchmark model of another input size": (lambda c: (benchmark.main, [str(onnx_with_input(c, "b64", 64)),
                                                                           "--runs", "5"]), "other.onnx"),
    "predict model is a text .mnn": (lambda c: predict_with(c, model=write_text(fresh(c, "m1") / "m.mnn", "hi")),
                                     "m.mnn"),
    "predict refine negative": (lambda c: predict_with(c, "--refine", "-1"), "--refine"),
    "predict redetect 0": (lambda c: predict_with(c, "--redetect", "0"), "--redetect"),
    "predict image is text": (lambda c: (predict.main, [str(write_text(fresh(c, "pi") / "face.jpg", "x")), "--model",
                                                        str(c["model"])]), "face.jpg"),
    "predict video missing": (lambda c: (predict.main, [str(fresh(c, "pv") / "clip.mp4"), "--model",
                                                        str(c["model"])]), "clip.mp4"),
    "calibration offset a string": (lambda c: predict_with(c, "--calibration", str(write_text(
        fresh(c, "j3") / "cal.json", json.dumps({"detector": "yuface", "offset": ["0.1", 0], "side_scale": 1.0,
                                                 "jitter": {"shift": 0.1, "scale": 0.1, "rotate": 30}})))),
        "cal.json"),
    "sweep with no budget to measure": (lambda c: (sweep.main, ["--data_root", str(c["root"]), "--lut", str(c["lut"]),
                                                                "--budgets", "0", "--out", str(fresh(c, "sw"))]),
                                        "--budgets"),
    # runs never overwritten
    "retrain into a folder holding a run": (lambda c: (retrain.main, fine_tune(c)[1] + ["--snapshot",
                                                                                      str(c["base"] / "run")]),
                                            "run/subnet"),
    "search into a folder holding a run": (lambda c: (supernet_train.main, search(c)[1] + ["--snapshot",
                                                                                        str(c["base"] / "run")]),
                                           "run/supernet"),
    "export over its own checkpoint": (lambda c: (export.main, ["--resume", str(c["subnet"]), "--output",
                                                                str(c["subnet"])]), "--output"),
    # non-finite numbers never pass a gate
    "export a NaN network": (lambda c: (export.main, ["--resume", str(nan_checkpoint(c, "n1")), "--output",
                                                      str(fresh(c, "n1") / "m.onnx")]), "checkpoint.pth"),
    "predict with a NaN network": (lambda c: predict_with(c, model=nan_checkpoint(c, "n2")), "checkpoint.pth"),
    "resume a NaN network": (lambda c: resume(c, nan_checkpoint(c, "n3")), "checkpoint.pth"),
    "export a flipped bit": (lambda c: (export.main, ["--resume", str(flipped_checkpoint(c, "f1")), "--output",
                                                      str(fresh(c, "f1") / "m.onnx")]), "checksum"),
    "resume a flipped bit": (lambda c: resume(c, flipped_checkpoint(c, "f2")), "checksum"),
    "predict a flipped bit": (lambda c: predict_with(c, model=flipped_checkpoint(c, "f3")), "checksum"),
    "teacher with a flipped bit": (lambda c: fine_tune(c, None, "--teacher", str(flipped_checkpoint(c, "f4"))),
                                   "checksum"),
    # a resumed run keeps its flags
    "resume with another --epochs": (lambda c: flags_changed(c, "--epochs", "4"), "--epochs"),
    "resume with another --lr": (lambda c: flags_changed(c, "--lr", "0.1"), "--lr"),
    "resume with another --batch_size": (lambda c: flags_changed(c, "--batch_size", "4"), "--batch_size"),
    "resume with another --optimizer": (lambda c: flags_changed(c, "--optimizer", "sgd"), "--optimizer"),
    "resume with another --seed": (lambda c: flags_changed(c, "--seed", "3"), "--seed"),
    "resume with --ema added": (lambda c: flags_changed(c, "--ema", "0.9"), "--ema"),
    # devices
    "dev_id of a missing GPU": (lambda c: fine_tune(c, None, "--dev_id", "5"), "--dev_id"),
    "dev_id not a number": (lambda c: fine_tune(c, None, "--dev_id", "abc"), "--dev_id"),
    "dev_id list with a missing GPU": (lambda c: fine_tune(c, None, "--dev_id", "0,5"), "--dev_id"),
    "threads negative": (lambda c: fine_tune(c, None, "--threads", "-1"), "--threads"),
    "fastpath unknown": (lambda c: fine_tune(c, None, "--fastpath", "turbo"), "--fastpath"),
    # recipe flags
    "ema 1": (lambda c: fine_tune(c, None, "--ema", "1"), "--ema"),
    "occlusion 2": (lambda c: fine_tune(c, None, "--occlusion", "2"), "--occlusion"),
    "augment_scale nan": (lambda c: fine_tune(c, None, "--augment_scale", "nan"), "--augment_scale"),
    "lr_warmup negative": (lambda c: fine_tune(c, None, "--lr_warmup", "-1"), "--lr_warmup"),
    "source_weights malformed": (lambda c: fine_tune(c, None, "--source_weights", "helen"), "--source_weights"),
    "source_weights all zero": (lambda c: fine_tune(c, None, "--source_weights", "face=0"), "--source_weights"),
    "source_weights unknown collection": (lambda c: fine_tune(c, None, "--source_weights", "helen=1"), "list.txt"),
    "teacher missing": (lambda c: fine_tune(c, None, "--teacher", str(fresh(c, "t0") / "t.pth")), "t.pth"),
    "teacher not a checkpoint": (lambda c: fine_tune(c, None, "--teacher", str(write_text(
        fresh(c, "t1") / "t.pth", "hello"))), "t.pth"),
    "teacher is a supernet": (lambda c: fine_tune(c, None, "--teacher", str(c["supernet"])), "checkpoint_last.pth"),
    # the one-shot ranking tool
    "ranking file not a pareto.csv": (lambda c: (ranking.main, ["--pareto", str(write_text(
        fresh(c, "k1") / "log.csv", "epoch,nme_io\n1,0.1\n")), "--data_root", str(c["root"]),
        f"plain={c['supernet']}"]), "log.csv"),
    "ranking architecture of another space": (lambda c: (ranking.main, ["--pareto", str(write_text(
        fresh(c, "k2") / "pareto.csv", "kind,arch,nme_io,seed\n" + "".join(
            f"searched,\"{','.join([f'warp_k{9 + k}'] * len(SEARCH_SPACE))}\",0.{k + 1},0\n" for k in range(3)))),
        "--data_root", str(c["root"]), f"plain={c['supernet']}"]), "pareto.csv:2: layer 0 op 'warp_k9'"),
    "ranking with a fine-tune for a supernet": (lambda c: (ranking.main, ["--pareto", str(write_text(
        fresh(c, "k3") / "pareto.csv", "kind,arch,nme_io,seed\n" + "".join(
            f"searched,\"{','.join(layer.ops[min(k, len(layer.ops) - 1)] for layer in SEARCH_SPACE)}\",0.{k + 1},0\n"
            for k in range(3)))), "--data_root", str(c["root"]), f"plain={c['subnet']}"]),
        "subnet/checkpoint_last.pth"),
}



# Input that is unusual but valid: each must run to the end (exit 0).

WORKS = {
    "list with a byte-order mark": lambda c: fine_tune(c, list_lines(c, "bom", [c["line"]], bom=True), "--snapshot",
                                                       str(fresh(c, "bomrun"))),
    "list with CRLF line ends": lambda c: fine_tune(c, list_lines(c, "crlf", [c["line"] + "\r"]), "--snapshot",
                                                    str(fresh(c, "crlfrun"))),
    "predict with an .mnn model": lambda c: predict_with(c, "--box", "20", "20", "90", "95",
                                                         model=c["model"].with_suffix(".mnn")),
    "predict a face-less image in a folder": lambda c: (predict.main, [str(blank_folder(c)), "--model",
                                                                       str(c["model"]), "--out", str(fresh(c, "bo"))]),
    "overwrite moves a run aside": lambda c: (retrain.main, fine_tune(c)[1] + ["--snapshot", str(copied_run(c)),
                                                                               "--overwrite"]),
}

# The cases of each surface's own module (the data, tables and architectures, the API, the commands, labelling,
# model files, run folders, video, writing).
for _surface in (hostile_data, hostile_tables, hostile_labelling, hostile_video, hostile_runs, hostile_api,
                 hostile_commands, hostile_models, hostile_writes):
    CASES.update(_surface.CASES)
    WORKS.update(getattr(_surface, "WORKS", {}))
