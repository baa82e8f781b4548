"""Hostile-input cases of the unlabelled-faces path: prepare.py --source images and label.py."""

import json

import cv2
import numpy as np

import label
from fbnet_pfld import prepare
from fbnet_pfld.unlabelled import UNLABELLED
from tools.hostile_fixtures import fresh


def images(ctx, name, files):
    """A folder holding ``files`` ({name: bytes, or an image array})."""
    folder = fresh(ctx, name) / "in"
    folder.mkdir(exist_ok=True)
    for file, content in files.items():
        if isinstance(content, bytes):
            (folder / file).write_bytes(content)
        else:
            cv2.imwrite(str(folder / file), content)
    return folder


def prep_images(folder, out=None, *extra):
    return prepare.main, ["--source", "images", "--train", str(folder), "--prefix", "web",
                          "--out", str(out or folder.parent / "out"), *extra]


def labelled(ctx, name, counts):
    """A DATA_ROOT with two faces waiting for labels, and one labels file per teacher with ``counts`` points."""
    root = fresh(ctx, name)
    (root / "train_data" / "imgs").mkdir(parents=True, exist_ok=True)
    (root / "train_data" / "labels").mkdir(exist_ok=True)
    records = []
    for k in range(2):
        relative = f"train_data/imgs/web_{k}__0.jpg"
        cv2.imwrite(str(root / relative), np.full((224, 224, 3), 90 + k, np.uint8))
        records.append({"image": relative, "origin": f"x{k}.jpg", "face": 0, "score": 0.9, "sha1": str(k),
                        "matrix": [1, 0, 0, 0, 1, 0]})
    (root / "train_data" / UNLABELLED).write_text("".join(json.dumps(r) + "\n" for r in records))
    rng = np.random.default_rng(0)
    for teacher, count in counts.items():
        lines = [json.dumps({"image": r["image"], "points": rng.uniform(0.3, 0.7, 2 * count).round(4).tolist(),
                             "confidence": 1.0}) for r in records]
        (root / "train_data" / "labels" / f"{teacher}.jsonl").write_text("\n".join(lines) + "\n")
    return root


def merge(root, *teachers, threshold="0.1"):
    return label.main, ["merge", "--data", str(root), "--teachers", *teachers, "--threshold", threshold]


CASES = {
    "images folder without images": (lambda c: prep_images(images(c, "noimgs", {"notes.txt": b"hello"})), "noimgs"),
    "images all zero-byte": (lambda c: prep_images(images(c, "zerobyte", {"a.jpg": b"", "b.png": b""})),
                             "zerobyte"),
    "images all unreadable": (lambda c: prep_images(images(c, "unreadable", {"a.jpg": b"\xff\xd8 not a jpeg"})),
                              "unreadable"),
    "images without a face": (lambda c: prep_images(images(c, "faceless", {
        "grey.png": np.full((200, 200, 3), 128, np.uint8)})), "faceless"),
    "images out is the input": (lambda c: prep_images(images(c, "outin", {"a.png": np.zeros((9, 9, 3), np.uint8)}),
                                                      fresh(c, "outin") / "in"), "--out"),
    "images bad prefix": (lambda c: prep_images(images(c, "prefix", {"a.png": np.zeros((9, 9, 3), np.uint8)}), None,
                                                "--prefix", "a_b"), "--prefix"),
    "label threshold out of range": (lambda c: merge(labelled(c, "thr", {"a": 68}), "a", threshold="7"),
                                     "--threshold"),
    "label teachers of two point counts": (lambda c: merge(labelled(c, "counts", {"a": 68, "b": 98}), "a", "b"),
                                           "point counts"),
    "label merge before labelling": (lambda c: merge(labelled(c, "nolabels", {}), "dlib"), "dlib.jsonl"),
    "label a folder never prepared": (lambda c: (label.main, ["run", "--data", str(fresh(c, "neverprep")),
                                                              "--teacher", "ensemble"]), "unlabelled.jsonl"),
}
