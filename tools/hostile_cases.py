"""The hostile-input cases: each is what a hostile or careless user gives one of the scripts, and the one
line the answer must hold (a file name, a line, a flag). ``CASES`` must end in a non-zero exit with that one
line and no traceback; ``WORKS`` is unusual but valid input that must run to the end.
"""

import json
import pickle

import torch

import export
import lookup_table
import predict
import retrain
import supernet_train
import sweep
from fbnet_pfld import prepare
from fbnet_pfld.blocks import SEARCH_SPACE
from fbnet_pfld.space import search_space_to_list
from tools import (
    benchmark,
    hostile_api,
    hostile_commands,
    hostile_labelling,
    hostile_models,
    hostile_runs,
    hostile_video,
    hostile_writes,
    ranking,
)
from tools.hostile_fixtures import (
    FAST,
    LUT_LINE,
    PTS_OK,
    Exploit,
    annotation,
    arch_file,
    blank_folder,
    build_space,
    checkpoint_file,
    copied_run,
    corrupt_image,
    dataset_with,
    fine_tune,
    flags_changed,
    flipped_checkpoint,
    fresh,
    list_lines,
    nan_checkpoint,
    odd_width_before_ghost,
    onnx_with_input,
    predict_with,
    prep,
    pts_faces,
    pts_folder,
    pts_text,
    resume,
    same_points,
    search,
    set_op,
    swap,
    table_with,
    tampered_state,
    width_table,
    write_bytes,
    write_text,
    zero_lut,
    zero_table,
)

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
    "image corrupt (worker)": (lambda c: corrupt_image(c, b"not an image"), "list.txt:1"),
    "image not square (worker)": (lambda c: corrupt_image(c, None), "list.txt:1"),
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
    "table all zero": (lambda c: search(c, None, table_with(c, "t14", zero_table)), "lut.json"),
    "table show invalid": (lambda c: (lookup_table.main, ["show", "--lut", str(table_with(
        c, "t15", text="{"))]), "lut.json"),
    "lut.txt malformed": (lambda c: (lookup_table.main, ["import-lut", str(write_text(fresh(c, "l1") / "lut.txt",
                                                                                "{'op_name': 1,\n")),
                                                         "--out", str(fresh(c, "l1") / "o.json")]), "lut.txt:1"),
    "device CSV bad row": (lambda c: (lookup_table.main, ["import", "--manifest", str(write_text(
        fresh(c, "l2") / "manifest.json", json.dumps({"search_space": search_space_to_list(SEARCH_SPACE),
                                                      "entries": []}))), "--csv", str(write_text(
            fresh(c, "l2") / "phone.csv", "file,median_ms\na.onnx,fast\n")), "--out", str(fresh(c, "l2") / "o.json"),
        "--device", "d", "--runtime", "r"]), "phone.csv:2"),
    "manifest not ours": (lambda c: (lookup_table.main, ["import", "--manifest", str(write_text(
        fresh(c, "l3") / "manifest.json", "[]")), "--csv",
        str(write_text(fresh(c, "l3") / "p.csv", "file,median_ms\n")),
        "--out", str(fresh(c, "l3") / "o.json"), "--device", "d", "--runtime", "r"]), "manifest.json"),
    # arch.json
    "arch invalid JSON": (lambda c: fine_tune(c, None, "--arch", str(arch_file(c, "a1", "{"))), "arch.json"),
    "arch unknown op": (lambda c: fine_tune(c, None, "--arch", str(arch_file(c, "a2", json.dumps(
        ["gh_k3", "gh_k3", "gh_k5", "gh_k5", "warp_k9"])))), "warp_k9"),
    "arch too short": (lambda c: fine_tune(c, None, "--arch", str(arch_file(c, "a3", '["gh_k3"]'))), "arch"),
    "arch not a list": (lambda c: fine_tune(c, None, "--arch", str(arch_file(c, "a4", '{"arch": 5}'))), "arch.json"),
    "arch missing": (lambda c: fine_tune(c, None, "--arch", str(fresh(c, "a5") / "arch.json")), "arch.json"),
    "arch binary": (lambda c: fine_tune(c, None, "--arch", str(write_bytes(fresh(c, "a6") / "arch.json",
                                                                           b"\xff\xfe\x81"))), "arch.json"),
    # checkpoints
    "checkpoint zero bytes": (lambda c: resume(c, checkpoint_file(c, "c1", lambda p: p.write_bytes(b""))),
                              "checkpoint.pth"),
    "checkpoint truncated": (lambda c: resume(c, checkpoint_file(c, "c2", lambda p: p.write_bytes(
        c["subnet"].read_bytes()[:3000]))), "checkpoint.pth"),
    "checkpoint pickle with code": (lambda c: resume(c, checkpoint_file(c, "c3", lambda p: p.write_bytes(
        pickle.dumps({"epoch": Exploit()})))), "checkpoint.pth"),
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
    # list.txt, round three
    "list short first line blamed on it": (lambda c: search(c, list_lines(c, "short1", [" ".join(
        c["line"].split()[:1] + c["line"].split()[3:]), c["line"], c["line"]])), "list.txt:1"),
    "list all points at one place": (lambda c: search(c, dataset_with(c, "onept", " ".join(
        [c["line"].split()[0]] + ["0.5"] * 136 + c["line"].split()[-3:]))), "list.txt:1"),
    "list eye corners coincide": (lambda c: search(c, dataset_with(c, "eyes", same_points(c["line"], 36, 45))),
                                  "list.txt:1"),
    "list test points at one place": (lambda c: search(c, dataset_with(c, "onept2", " ".join(
        [c["line"].split()[0]] + ["0.5"] * 136 + c["line"].split()[-3:]), test=True)), "list.txt:1"),
    "list UTF-16": (lambda c: search(c, dataset_with(c, "utf16", raw=c["line"].encode("utf-16"))), "list.txt"),
    "list only blank lines": (lambda c: search(c, dataset_with(c, "blank", raw=b"\n  \n\t\n")), "list.txt"),
    "list test split empty": (lambda c: search(c, dataset_with(c, "testempty", "", test=True)), "list.txt"),
    # prepare, round three
    "prepare mixed point counts": (lambda c: prep(pts_faces(c, "mixed", {
        "a": pts_text([(1, 2), (30, 4), (5, 40)]), "b": pts_text([(1, 2), (30, 4)])})), "b has 2"),
    "prepare every image unreadable": (lambda c: prep(pts_faces(c, "unread", {"a": PTS_OK}, b"not a jpeg")),
                                       "unread"),
    "prepare points at one place": (lambda c: prep(pts_faces(c, "samept", {"a": pts_text([(9, 9)] * 3)})),
                                    "samept"),
    "prepare copies negative": (lambda c: prep(pts_faces(c, "copies", {"a": PTS_OK}), "--copies", "-1"),
                                "--copies"),
    "prepare train and test point counts differ": (lambda c: prep(
        pts_faces(c, "k3", {"a": pts_text([(1, 2), (30, 4), (5, 40)])}), "--test",
        str(pts_faces(c, "k2", {"b": pts_text([(1, 2), (30, 40)])}))), "--test"),
    "prepare csv malformed": (lambda c: (prepare.main, ["--source", "csv", "--train", str(write_text(
        fresh(c, "csv1") / "k.csv", ",0,1\nx.jpg,1,2,3\n")), "--out", str(fresh(c, "csv1") / "o")]), "k.csv:2"),
    "prepare csv word": (lambda c: (prepare.main, ["--source", "csv", "--train", str(write_text(
        fresh(c, "csv2") / "k.csv", ",0,1\nx.jpg,1,abc\n")), "--out", str(fresh(c, "csv2") / "o")]), "k.csv:2"),
    # lookup tables, round three
    "table duplicate key": (lambda c: search(c, None, table_with(c, "d1", text=c["lut"].read_text().replace(
        '"unit":', '"unit": "ms", "unit":', 1))), "lut.json"),
    "table input_shape a number": (lambda c: search(c, None, table_with(c, "d2", lambda d: d["layers"][0].__setitem__(
        "input_shape", 64))), "lut.json"),
    "table 400-digit cost": (lambda c: search(c, None, table_with(c, "d3", text=c["lut"].read_text().replace(
        '"median": 0.', '"median": 1' + "0" * 400 + ', "x": 0.', 1))), "lut.json"),
    "table nested too deep": (lambda c: search(c, None, table_with(c, "d4", text="[" * 200000 + "]" * 200000)),
                              "lut.json"),
    "table null median": (lambda c: search(c, None, table_with(c, "d5", set_op(0, "sep_k3", None))), "lut.json"),
    "table layers not a list": (lambda c: search(c, None, table_with(c, "d6", lambda d: d.__setitem__(
        "layers", {"a": 1}))), "lut.json"),
    "table extra layer": (lambda c: search(c, None, table_with(c, "d7", lambda d: d["layers"].append(
        d["layers"][-1]))), "lut.json"),
    "lut.txt entry repeated more than its layers": (lambda c: (lookup_table.main, ["import-lut", str(write_text(
        fresh(c, "l4") / "lut.txt", LUT_LINE * 3)), "--out", str(fresh(c, "l4") / "o.json")]), "lut.txt:3"),
    "lut.txt all zero": (lambda c: (lookup_table.main, ["import-lut", str(write_text(
        fresh(c, "l5") / "lut.txt", zero_lut())), "--out", str(fresh(c, "l5") / "o.json")]), "lut.txt"),
    "lut.txt negative latency": (lambda c: (lookup_table.main, ["import-lut", str(write_text(
        fresh(c, "l6") / "lut.txt", LUT_LINE.replace("0.1", "-0.1"))), "--out", str(fresh(c, "l6") / "o.json")]),
        "lut.txt:1"),
    "import-lut fixed_ms nan": (lambda c: (lookup_table.main, ["import-lut", "lut.txt", "--out", "o.json",
                                                               "--fixed_ms", "nan"]), "--fixed_ms"),
    "check archs 0": (lambda c: (lookup_table.main, ["check", "--lut", str(c["lut"]), "--archs", "0"]), "--archs"),
    "build num_points 0": (lambda c: (lookup_table.main, ["build", "--method", "flops", "--num_points", "0", "--out",
                                                          str(fresh(c, "b0") / "o.json")]), "--num_points"),
    "build threads -1": (lambda c: (lookup_table.main, ["build", "--method", "measure", "--threads", "-1", "--out",
                                                        str(fresh(c, "b1") / "o.json")]), "--threads"),
    # arch.json, round three
    "arch error names the file": (lambda c: fine_tune(c, None, "--arch", str(arch_file(c, "a7", json.dumps(
        ["gh_k3", "gh_k3", "gh_k5", "gh_k5", "warp_k9"])))), "arch.json"),
    "arch empty list": (lambda c: fine_tune(c, None, "--arch", str(arch_file(c, "a8", "[]"))), "arch.json"),
    "arch numbers": (lambda c: fine_tune(c, None, "--arch", str(arch_file(c, "a9", "[1, 2, 3, 4, 5]"))),
                     "arch.json"),
    "arch duplicate key": (lambda c: fine_tune(c, None, "--arch", str(arch_file(c, "a10", '{"arch": [], "arch": []}'))),
                           "arch.json"),
    # checkpoints, round three
    "checkpoint with code says so": (lambda c: resume(c, checkpoint_file(c, "c9", lambda p: p.write_bytes(
        pickle.dumps({"epoch": Exploit()})))), "holds code"),
    # predict, round three
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
    # budgets
    "target above the costliest": (lambda c: search(c, None, None, "--target_latency", "1e6"), "costliest"),
    "target ratio without a reference": (lambda c: search(c, None, table_with(c, "r0", lambda d: d["meta"].pop(
        "references")), "--target_ratio", "0.16"), "lut.json"),
    # spaces whose layers choose widths
    "space: skip between unequal widths": (lambda c: build_space(c, "w1", lambda s: s[2].update(widths=[12, 24])),
                                           "layer 2"),
    "space: odd width for a grouped op": (lambda c: build_space(c, "w2", odd_width_before_ghost), "layer 1"),
    "table lacking a width pair": (lambda c: (lookup_table.main, ["show", "--lut", str(width_table(
        c, "w3", lambda d: d["layers"][2]["ops"]["skip"]["by_input"].pop("24")))]), "24 input channels"),
    "width budget above the range": (lambda c: search(c, None, width_table(c, "w4"), "--target_latency", "1e6"),
                                     "costliest"),
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

# The cases of each surface's own module (the API, the commands, labelling, model files, run folders, video,
# writing).
for _surface in (hostile_labelling, hostile_video, hostile_runs, hostile_api, hostile_commands, hostile_models,
                 hostile_writes):
    CASES.update(_surface.CASES)
    WORKS.update(getattr(_surface, "WORKS", {}))
