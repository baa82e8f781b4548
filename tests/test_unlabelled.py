"""Unlabelled images to a labelled training list: prepare --source images (faces found, duplicates once,
test faces refused), a teacher's resumable labelling, merge with label sources, and training reading it."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import label
import prepare
from fbnet_pfld.dataset import LandmarkDataset, data_paths
from fbnet_pfld.labelling import labels_path, read_labels
from fbnet_pfld.synthetic import apply_pose, draw_face, random_pose, template
from fbnet_pfld.unlabelled import UNLABELLED, read_records

ROOT = Path(__file__).resolve().parents[1]
MODELS = [str(ROOT / "released" / "subnet.onnx"), str(ROOT / "released" / "pfld_lite.onnx")]


def photo(seed):
    """A generated photo (a drawn face on a wider canvas) and its 68 points in its pixels."""
    rng = np.random.default_rng(seed)
    pose = random_pose(rng)
    face = cv2.resize(draw_face(pose, rng), (200, 200))
    # shading of its own, so that two generated faces differ as two people's photos do
    shading = cv2.GaussianBlur(rng.normal(0, 400, (200, 200, 1)).astype(np.float32), (0, 0), 8)[..., None]
    face = np.clip(face + shading, 0, 255).astype(np.uint8)
    canvas = np.full((300, 280, 3), rng.integers(0, 255, 3), np.uint8)
    canvas[50:250, 40:240] = face
    return canvas, apply_pose(template(68), pose) * 200 + np.array([40, 50])


def write_pts(path, points):
    path.write_text("version: 1\nn_points: 68\n{\n" + "".join(f"{x} {y}\n" for x, y in points) + "}\n")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Photos 0-9 in two folders (photo 3 copied into both, photo 4 again resized and re-encoded), a test
    split holding photo 7's face; prepared into one DATA_ROOT."""
    base = tmp_path_factory.mktemp("unlabelled")
    first, second, tests = base / "a", base / "b", base / "tests"
    for folder in (first, second, tests):
        folder.mkdir()
    for seed in range(10):
        image, points = photo(seed)
        cv2.imwrite(str((first if seed < 6 else second) / f"p{seed}.png"), image)
        if seed == 7:
            cv2.imwrite(str(tests / "t7.png"), image)
            write_pts(tests / "t7.pts", points)
    (second / "copy_of_p3.png").write_bytes((first / "p3.png").read_bytes())
    small = cv2.resize(cv2.imread(str(first / "p4.png")), None, fx=0.9, fy=0.9, interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(second / "p4_small.jpg"), small, [cv2.IMWRITE_JPEG_QUALITY, 85])
    out = base / "data"
    prepare.main(["--source", "pts", "--test", str(tests), "--out", str(base / "held")])
    prepare.main(["--source", "images", "--train", str(first), "--train", str(second), "--prefix", "gen",
                  "--exclude", str(base / "held"), "--out", str(out)])
    return out


def test_every_distinct_face_once_and_the_test_face_never(prepared, capsys):
    records = read_records(prepared / "train_data" / UNLABELLED)
    origins = sorted(Path(r["origin"]).name for r in records)
    assert "p7.png" not in origins, "a test face entered training"
    assert "copy_of_p3.png" not in origins and "p4_small.jpg" not in origins, "a duplicate was written twice"
    assert len(origins) >= 7 and len(set(origins)) == len(origins)
    assert all((prepared / r["image"]).is_file() for r in records)
    assert len({r["image"] for r in records}) == len(records), "crop names collide"


def test_preparing_again_adds_nothing(prepared, tmp_path):
    before = (prepared / "train_data" / UNLABELLED).read_text()
    folder = tmp_path / "again"
    folder.mkdir()
    cv2.imwrite(str(folder / "p0.png"), photo(0)[0])
    prepare.main(["--source", "images", "--train", str(folder), "--prefix", "gen", "--out", str(prepared)])
    assert (prepared / "train_data" / UNLABELLED).read_text() == before


def test_a_teacher_labels_resumably_and_merge_writes_label_sources(prepared):
    argv = ["run", "--data", str(prepared), "--teacher", "ensemble", "--models", *MODELS, "--refine", "1",
            "--batch", "3"]
    label.main(argv)
    path = labels_path(prepared, "ensemble")
    complete = path.read_text().splitlines()
    assert len(complete) == len(read_records(prepared / "train_data" / UNLABELLED))
    path.write_text("\n".join(complete[:2]) + "\n" + complete[2][:25])  # a kill in the middle of a line
    label.main(argv)
    again = [json.loads(line) for line in path.read_text().splitlines()]
    first = {r["image"]: r for r in map(json.loads, complete)}
    assert sorted(r["image"] for r in again) == sorted(first), "the resumed labelling misses or repeats a face"
    for r in again:  # the same answers, up to onnxruntime's batch-size rounding
        assert np.allclose(r["points"], first[r["image"]]["points"], atol=1e-4)
    labels = read_labels(prepared, "ensemble")
    assert all(p is not None and p.shape == (68, 2) for p in labels.values())

    list_path = data_paths(prepared)[0]
    human = "train_data/imgs/x.jpg " + " ".join(["0.5"] * 136) + " 0 0 0 label=human"
    list_path.write_text(human + "\n")
    label.main(["merge", "--data", str(prepared), "--teachers", "ensemble", "--threshold", "0.1"])
    lines = list_path.read_text().splitlines()
    assert lines[0] == human and len(lines) > 1, "a merge keeps the lines of other sources"
    assert all(line.endswith("label=teacher:ensemble") for line in lines[1:])
    label.main(["merge", "--data", str(prepared), "--teachers", "ensemble", "--threshold", "0.1"])
    assert list_path.read_text().splitlines() == lines, "a second merge must replace its lines, not add them"
    lines = lines[1:]
    list_path.write_text("".join(line + "\n" for line in lines))
    (prepared / "test_data").mkdir(exist_ok=True)
    (prepared / "test_data" / "list.txt").write_text(lines[0] + "\n")
    samples = LandmarkDataset(list_path, prepared).samples
    assert {s.label for s in samples} == {"teacher:ensemble"}


def test_labelling_refusals_are_one_line(prepared, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit) as stop:
        prepare.main(["--source", "images", "--train", str(empty), "--prefix", "x", "--out", str(tmp_path / "o")])
    assert "no image files" in str(stop.value)
    with pytest.raises(SystemExit) as stop:
        label.main(["merge", "--data", str(prepared), "--teachers", "dlib", "--threshold", "0.1"])
    assert "no labels from the teacher 'dlib'" in str(stop.value)
    with pytest.raises(SystemExit) as stop:
        label.main(["merge", "--data", str(prepared), "--teachers", "ensemble", "--threshold", "7"])
    assert stop.value.code == 2
    images = [r["image"] for r in read_records(prepared / "train_data" / UNLABELLED)]
    other = labels_path(prepared, "other")
    other.write_text(json.dumps({"image": images[0], "points": [0.5] * 196, "confidence": 1}) + "\n")
    with pytest.raises(SystemExit) as stop:
        label.main(["merge", "--data", str(prepared), "--teachers", "ensemble", "other", "--threshold", "0.1"])
    assert "faces not labelled yet" in str(stop.value)
    points = np.random.default_rng(0).uniform(0.3, 0.7, 196).round(4).tolist()
    other.write_text("".join(json.dumps({"image": i, "points": points, "confidence": 1}) + "\n" for i in images))
    with pytest.raises(SystemExit) as stop:
        label.main(["merge", "--data", str(prepared), "--teachers", "ensemble", "other", "--threshold", "0.1"])
    assert "teachers of different point counts" in str(stop.value)
