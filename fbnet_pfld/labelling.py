"""Pseudo-labels for unlabelled faces (prepare.py --source images): each teacher labels every face once,
resumably, into ``train_data/labels/TEACHER.jsonl``; ``merge`` keeps the faces the teachers agree on and
writes them into list.txt with their label source (``label=teacher:NAME``), leaving every other line as it
was; ``agreement`` measures teachers and their agreement against ground truth, to choose the threshold.
"""

import json
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fbnet_pfld.crops import CONTEXT_SIZE, warp_points
from fbnet_pfld.dataset import data_paths, list_line, read_image
from fbnet_pfld.errors import DataError
from fbnet_pfld.headpose import euler_angles
from fbnet_pfld.sources import LABEL_TOKEN, source_of
from fbnet_pfld.teachers import primary_errors
from fbnet_pfld.unlabelled import UNLABELLED, read_records, write_records
from fbnet_pfld.writes import write_text

LABELS = "labels"
TEACHER_PREFIX = "teacher:"


def unlabelled_faces(data_root):
    path = Path(data_root) / "train_data" / UNLABELLED
    records = read_records(path)
    if not records:
        raise DataError(f"{path}: no unlabelled faces (run prepare.py --source images --out {data_root} first)")
    return records


def labels_path(data_root, name):
    return Path(data_root) / "train_data" / LABELS / f"{name}.jsonl"


def label_folder(data_root, teacher, batch=128):
    """Label every face of DATA_ROOT's unlabelled.jsonl not labelled yet by ``teacher``; a rerun continues
    (a kill loses at most the batch in progress). Returns (faces labelled now, faces it could not label)."""
    records = unlabelled_faces(data_root)
    out = labels_path(data_root, teacher.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = read_records(out)
    write_records(done, out)  # drops a last line a kill cut short, so appending starts on a line of its own
    finished = {r["image"] for r in done}
    todo = [r for r in records if r["image"] not in finished]
    failed = 0
    with open(out, "a", encoding="utf-8") as f, tqdm(total=len(todo), desc=teacher.name, unit="face") as bar:
        for start in range(0, len(todo), batch):
            chunk = todo[start:start + batch]
            crops = [read_image(Path(data_root) / r["image"], r["image"]) for r in chunk]
            for record, answer in zip(chunk, teacher.label(crops)):
                failed += answer is None
                points = None if answer is None else np.round(answer[0], 5).ravel().tolist()
                confidence = None if answer is None else round(answer[1], 4)
                f.write(json.dumps({"image": record["image"], "points": points, "confidence": confidence}) + "\n")
            f.flush()
            bar.update(len(chunk))
    return len(todo), failed


def read_labels(data_root, name):
    """{image: [K, 2] points normalised to the crop} of a teacher's labelled faces (None where it could not)."""
    path = labels_path(data_root, name)
    if not path.is_file():
        raise DataError(f"{path}: no labels from the teacher {name!r} (run label.py run --teacher {name} first)")
    labels = {}
    for r in read_records(path):
        labels[r["image"]] = None if r["points"] is None else np.asarray(r["points"], np.float64).reshape(-1, 2)
    counts = {len(p) for p in labels.values() if p is not None}
    if len(counts) > 1:
        raise DataError(f"{path}: labels of several point counts ({sorted(counts)})")
    return labels


def disagreement(a, b):
    """Per-face distance between two teachers' points, in inter-ocular units of their mean."""
    return primary_errors(a, (a + b) / 2) * 2


def combine(names, labels, threshold):
    """(points, reason) per face from several teachers' labels: the mean where every teacher labelled it and
    no two disagree by more than ``threshold``; else None and why."""
    def one(image):
        answers = [labels[name].get(image) for name in names]
        if any(a is None for a in answers):
            return None, "a teacher could not label it"
        if len(answers) > 1:
            worst = max(float(disagreement(a[None], b[None])[0]) for i, a in enumerate(answers)
                        for b in answers[i + 1:])
            if not np.isfinite(worst) or worst > threshold:
                return None, "teachers disagree"
        return np.mean(answers, axis=0), None
    return one


def check_point_counts(names, labels, list_path):
    """Every teacher, and the list the labels join, must have one point count."""
    counts = {name: next((len(p) for p in labels[name].values() if p is not None), None) for name in names}
    if len(set(counts.values()) - {None}) > 1:
        raise DataError(f"teachers of different point counts: {counts}; labels must share one point scheme")
    count = next(iter(set(counts.values()) - {None}), None)
    if list_path.is_file():
        for line_no, line in enumerate(list_path.read_text(encoding="utf-8").splitlines(), 1):
            tokens = [t for t in line.split() if not t.startswith(LABEL_TOKEN)]
            if tokens and (len(tokens) - 4) // 2 != count:
                raise DataError(f"{list_path}:{line_no}: {(len(tokens) - 4) // 2} points, the teachers give {count}")
            break
    return count


def teacher_labels(data_root, names, records):
    """Each teacher's labels, refusing a teacher that has not labelled every face yet."""
    labels = {name: read_labels(data_root, name) for name in names}
    for name in names:
        missing = sum(r["image"] not in labels[name] for r in records)
        if missing:
            raise DataError(f"{labels_path(data_root, name)}: {missing} faces not labelled yet (run label.py run "
                            f"--teacher {name} --data {data_root} to finish)")
    return labels


def merge(data_root, names, threshold):
    """Write the faces the teachers agree on into DATA_ROOT's training list (label ``teacher:A+B``), replacing
    the lines a previous merge of the same teachers wrote and keeping every other line (other teachers' labels
    of the same faces included: training picks among label sources with --source_weights); returns
    Counter((collection, why))."""
    records = unlabelled_faces(data_root)
    labels = teacher_labels(data_root, names, records)
    list_path = data_paths(data_root)[0]
    check_point_counts(names, labels, list_path)
    pick, source = combine(names, labels, threshold), TEACHER_PREFIX + "+".join(names)
    rows, report = [], Counter()
    for record in records:
        points, reason = pick(record["image"])
        if points is not None and not (-0.25 <= points.min() and points.max() <= 1.25):
            points, reason = None, "points outside the crop"
        report[(source_of(record["image"]), reason or "kept")] += 1
        if points is not None:
            angles = euler_angles(points * CONTEXT_SIZE, CONTEXT_SIZE)
            rows.append(list_line(record["image"], points, angles, source))
    kept = [] if not list_path.is_file() else [
        line for line in list_path.read_text(encoding="utf-8").splitlines()
        if line.strip() and line.split()[-1] != LABEL_TOKEN + source]
    write_text(list_path, "".join(line + "\n" for line in kept + rows))
    return report


def truth_in_crop(record):
    """The ground truth of a face prepared from a folder with .pts files beside the images, in the crop's
    normalised coordinates; None when the file has none or its face is another than this crop's."""
    from fbnet_pfld.prepare import read_pts

    pts = Path(record["origin"]).with_suffix(".pts")
    if not pts.is_file():
        return None
    points = warp_points(read_pts(pts), np.asarray(record["matrix"]).reshape(2, 3)) / CONTEXT_SIZE
    centre = (points.min(axis=0) + points.max(axis=0)) / 2
    return points if np.abs(centre - 0.5).max() < 0.1 else None


def agreement(data_root, names, thresholds):
    """Against ground truth: per threshold, the faces kept and each teacher's and the mean's NME on them.
    Returns rows of dicts (threshold, kept, faces, NME per teacher and of the mean) in percent."""
    records = unlabelled_faces(data_root)
    labels = teacher_labels(data_root, names, records)
    truths, answers = [], []
    for record in records:
        truth = truth_in_crop(record)
        found = [labels[name][record["image"]] for name in names]
        if truth is not None and all(a is not None for a in found) and len(truth) == len(found[0]):
            truths.append(truth)
            answers.append(found)
    if not truths:
        raise DataError(f"{data_root}: no face both labelled by every teacher and with a .pts file beside its image")
    truth, answers = np.array(truths), np.array(answers)  # [N, K, 2], [N, T, K, 2]
    mean = answers.mean(axis=1)
    errors = {name: primary_errors(answers[:, t], truth) for t, name in enumerate(names)}
    errors["mean"] = primary_errors(mean, truth)
    spread = np.max([disagreement(answers[:, i], answers[:, j]) for i in range(len(names))
                     for j in range(i + 1, len(names))] or [np.zeros(len(truth))], axis=0)
    rows = []
    for threshold in thresholds:
        keep = spread <= threshold
        row = {"threshold": threshold, "kept": int(keep.sum()), "faces": len(truth)}
        row.update({name: 100 * float(e[keep].mean()) if keep.any() else float("nan") for name, e in errors.items()})
        rows.append(row)
    return rows
