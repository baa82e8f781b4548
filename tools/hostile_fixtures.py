"""The material the hostile-input cases break: a small valid dataset, table, supernet, fine-tuned
checkpoint and ONNX model (``make_context``), and helpers that write broken copies of each. Used by
tools/hostile_cases.py.
"""

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import torch

import export
import lookup_table
import predict
import retrain
import supernet_train
from fbnet_pfld import prepare
from fbnet_pfld.checkpoints import load_checkpoint, save_checkpoint
from fbnet_pfld.space import search_space_from_list
from fbnet_pfld.synthetic import make_synthetic_dataset
from fbnet_pfld.table_builders import build_flops_table

# A small whole-network space whose layers choose widths (image to head).
WIDTH_SPACE = [
    {"c_in": 3, "c_out": 16, "stride": 2, "in_size": 112, "ops": ["conv_k3"], "widths": [8, 16]},
    {"c_in": 16, "c_out": 24, "stride": 2, "in_size": 56, "ops": ["sep_k3"], "widths": [12, 24]},
    {"c_in": 24, "c_out": 24, "stride": 1, "in_size": 28, "ops": ["skip", "sep_k3"]},
    {"c_in": 24, "c_out": 32, "stride": 2, "in_size": 28, "ops": ["sep_k3"], "widths": [16, 32]},
    {"c_in": 32, "c_out": 32, "stride": 2, "in_size": 14, "ops": ["sep_k3", "gh_k3"]},
]

FAST = ["--batch_size", "8", "--workers", "0", "--dev_id", "cpu"]


def make_context(base):
    """A valid dataset, table, supernet and retrain checkpoint, and a folder for broken copies."""
    base = Path(base)
    root = make_synthetic_dataset(base / "data", num_points=68, train=24, test=8, seed=5)
    lut = base / "flops.json"
    lookup_table.LookupTable(build_flops_table(68)).save(lut)
    supernet_train.main(["--data_root", str(root), "--lut", str(lut), "--snapshot", str(base / "run"), "--epochs", "1",
                         "--warmup_epochs", "0", *FAST])
    supernet = base / "run/supernet/checkpoint_last.pth"
    retrain.main(["--data_root", str(root), "--supernet", str(supernet), "--snapshot", str(base / "run"),
                  "--epochs", "1", *FAST])
    model = base / "model.onnx"
    export.main(["--resume", str(base / "run/subnet/checkpoint_last.pth"), "--output", str(model), "--format", "mnn"])
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


class Exploit:
    def __reduce__(self):
        return (print, ("code ran",))


def write_text(path, text):
    path.write_text(text)
    return path


def write_bytes(path, data):
    path.write_bytes(data)
    return path


def zero_table(data):
    data["fixed"]["median"] = 0.0
    for layer in data["layers"]:
        for entry in layer["ops"].values():
            entry["median"] = 0.0


def corrupt_image(ctx, content):
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




def list_lines(ctx, name, lines, bom=False):
    """A DATA_ROOT whose training list.txt holds ``lines`` (the test list one valid line)."""
    root = dataset_with(ctx, name)
    text = "\n".join(lines) + "\n"
    (root / "train_data/list.txt").write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    return root


def same_points(line, first, second):
    """``line`` with point ``second`` moved onto point ``first``."""
    tokens = line.split()
    tokens[1 + 2 * second:3 + 2 * second] = tokens[1 + 2 * first:3 + 2 * first]
    return " ".join(tokens)


def pts_faces(ctx, name, bodies, image_bytes=None):
    """A .pts folder with one face per ``bodies`` entry (name -> .pts text); images grey, or ``image_bytes``."""
    folder = fresh(ctx, name)
    for face, body in bodies.items():
        (folder / f"{face}.pts").write_text(body)
        if image_bytes is None:
            cv2.imwrite(str(folder / f"{face}.jpg"), np.full((64, 64, 3), 128, np.uint8))
        else:
            (folder / f"{face}.jpg").write_bytes(image_bytes)
    return folder


def pts_text(points):
    return f"version: 1\nn_points: {len(points)}\n{{\n" + "".join(f"{x} {y}\n" for x, y in points) + "}\n"


def nan_checkpoint(ctx, name):
    """The fine-tuned checkpoint with one weight NaN, saved properly (a diverged run's file)."""
    def change(state):
        key = next(k for k, v in state["model"].items() if v.is_floating_point())
        state["model"][key] = state["model"][key] * float("nan")
    return tampered_state(ctx, name, change)


def flipped_checkpoint(ctx, name):
    """The fine-tuned checkpoint with one weight changed after its checksum was written (a flipped bit)."""
    def write(path):
        state = load_checkpoint(ctx["subnet"])
        key = next(k for k, v in state["model"].items() if v.is_floating_point())
        state["model"][key] = state["model"][key].clone()
        state["model"][key].view(-1)[0] += 1e28
        torch.save(state, path)
    return checkpoint_file(ctx, name, write)


def onnx_with_input(ctx, name, size):
    """A model file taking size x size crops (not this project's 112x112)."""
    from fbnet_pfld.deploy import export_onnx

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=2), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                              torch.nn.Linear(4, 136)).eval()
    return export_onnx(net, (torch.rand(1, 3, size, size),), fresh(ctx, name) / "other.onnx", ["input"],
                       ["landmarks"])


def flags_changed(ctx, *flags):
    """Resume the fine-tuned checkpoint with its own flags but ``flags`` changed."""
    main, argv = fine_tune(ctx, None, *flags)
    return main, argv + ["--snapshot", str(fresh(ctx, "flags")), "--resume", str(ctx["subnet"])]


LUT_LINE = "{'op_name': 'mb_k3_res', 'op_data_shape': (14, 14, 32, 32, 1), 'op_latency': 0.1}\n"


def zero_lut():
    """A reference-format lut.txt with an entry for every candidate of the default space, every one 0 ms."""
    from fbnet_pfld.blocks import SEARCH_SPACE

    return "".join(f"{{'op_name': '{op}', 'op_data_shape': ({layer.in_size}, {layer.in_size}, {layer.c_in}, "
                   f"{layer.c_out}, {layer.stride}), 'op_latency': 0.0}}\n" for layer in SEARCH_SPACE
                   for op in layer.ops)


def blank_folder(ctx):
    """A folder with one test face and one image with no face in it."""
    folder = fresh(ctx, "blankdir")
    shutil.copy(ctx["root"] / "test_data/imgs/face00000__0.png", folder / "face.png")
    cv2.imwrite(str(folder / "blank.webp"), np.full((120, 120, 3), 200, np.uint8))
    return folder


def copied_run(ctx, name="overwrite"):
    """A snapshot folder whose subnet/ holds a copy of the fine-tuned run (another run than the context's)."""
    folder = fresh(ctx, name)
    if not (folder / "subnet").exists():
        shutil.copytree(ctx["base"] / "run" / "subnet", folder / "subnet")
    return folder


def face_with_pts(ctx, name, points=68, shift=0):
    """A folder with one face (a test crop) and ``points`` points on a grid over it, shifted by ``shift`` px."""
    folder = fresh(ctx, name)
    shutil.copy(ctx["root"] / "test_data/imgs/face00000__0.png", folder / "face.png")
    grid = [(20 + shift + 70 * (k % 9) / 8, 25 + 60 * (k // 9) / 7) for k in range(points)]
    (folder / "face.pts").write_text(pts_text([(round(x, 1), round(y, 1)) for x, y in grid]))
    return folder


def width_space(ctx, name, mutate):
    """WIDTH_SPACE, changed by ``mutate(layers)``, as a JSON file."""
    layers = json.loads(json.dumps(WIDTH_SPACE))
    mutate(layers)
    return write_text(fresh(ctx, name) / "space.json", json.dumps(layers))


def build_space(ctx, name, mutate):
    """`lookup_table.py build` of a changed WIDTH_SPACE."""
    return lookup_table.main, ["build", "--method", "flops", "--out", str(fresh(ctx, name) / "o.json"),
                               "--search_space", str(width_space(ctx, name + "s", mutate))]


def odd_width_before_ghost(layers):
    """The first conv may give 9 channels, which the next layer (a ghost module, following) cannot split."""
    layers[0]["widths"] = [9, 16]
    layers[1].update(ops=["gh_k3"], widths=[], c_out=16)
    layers[2].update(c_in=16, c_out=16)
    layers[3]["c_in"] = 16


def width_table(ctx, name, mutate=None):
    """A FLOPs table of WIDTH_SPACE, changed by ``mutate(data)``."""
    data = build_flops_table(68, search_space_from_list(WIDTH_SPACE))
    if mutate is not None:
        mutate(data)
    return write_text(fresh(ctx, name) / "lut.json", json.dumps(data))
