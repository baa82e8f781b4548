"""Turn raw landmark datasets into the reference layout DATA_ROOT/{train_data,test_data}/{imgs,list.txt}.

Sources:
  pts    a folder of images with 300-W style .pts files beside them (the 300-W release's folders)
  jd106  the 106-point challenge's bbox_landmark.txt (name, x1 y1 x2 y2, 212 coordinates per line)
  wflw   WFLW annotation lists (196 coordinates, 4 box values, 6 attributes, image name per line)
  csv    the facial-keypoints set's training_frames_keypoints.csv (YouTube-Faces frames, github.com/udacity/
         P1_Facial_Keypoints, data/; --images: its training/ folder). Its test split repeats training
         frames: never use it for evaluation.
  images folders of images without labels (--train, repeatable; --prefix names the collection): every face
         the detector finds, once per distinct face, waiting in train_data/unlabelled.jsonl for a teacher
         (label.py). --exclude DATA_ROOT refuses faces of that root's test split.

Training faces are written as one context crop each (2x the landmark box, 224x224), which the
dataset crops online with fresh jitter every epoch; ``--copies N`` writes N fixed 112x112 crops per
face instead (the reference's way). Test faces are the centred 112x112 crop (1.2x the box).

Examples (docs/data.md rebuilds the released models' training set from the public downloads):
  python prepare.py --source pts --train my_faces/train --test my_faces/val --out data/mine
  python prepare.py --source pts --train 300W/helen/trainset --prefix helen --out data/faces68
  python prepare.py --source csv --train P1_Facial_Keypoints/data/training_frames_keypoints.csv \\
      --images P1_Facial_Keypoints/data/training --prefix ytf --append --out data/faces68
"""

import sys
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from tqdm import tqdm

from fbnet_pfld.appending import ListAppender
from fbnet_pfld.argtypes import non_negative_int
from fbnet_pfld.blocks import INPUT_SIZE
from fbnet_pfld.cli import Parser, exit_on_user_error
from fbnet_pfld.crops import (
    CONTEXT_SCALE,
    CONTEXT_SIZE,
    centred_crop_matrix,
    crop_face,
    face_crop_matrix,
    landmark_box,
    warp_points,
)
from fbnet_pfld.dataset import read_image
from fbnet_pfld.errors import DataError
from fbnet_pfld.headpose import euler_angles
from fbnet_pfld.landmarker import DEFAULT_CALIBRATION
from fbnet_pfld.sources import label_for, parse_label_sources
from fbnet_pfld.unlabelled import IMAGE_EXTENSIONS
from fbnet_pfld.writes import encode_image


class Face(NamedTuple):
    image: Path
    points: np.ndarray  # (K, 2) in pixels of ``image``
    name: str  # unique output name


def read_pts(path):
    """Points of a 300-W .pts file: ``version: 1``, ``n_points: N``, ``{``, N lines ``x y``, ``}``."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text file (expected a 300-W .pts file)") from None
    count = None
    points = []
    inside = False
    for line_no, line in enumerate(lines, 1):
        text = line.strip()
        if text.startswith("n_points"):
            try:
                count = int(text.split(":")[1])
            except (IndexError, ValueError):
                raise DataError(f"{path}:{line_no}: bad n_points line {text!r}") from None
        elif text == "{":
            inside = True
        elif text == "}":
            inside = False
        elif inside and text:
            try:
                x, y = (float(v) for v in text.split())
            except ValueError:
                raise DataError(f"{path}:{line_no}: expected 'x y', got {text!r}") from None
            if not np.isfinite([x, y]).all():
                raise DataError(f"{path}:{line_no}: NaN or infinite coordinate {text!r}")
            points.append((x, y))
    if count is None or len(points) != count:
        raise DataError(f"{path}: n_points says {count} but {len(points)} points are listed")
    return np.array(points, np.float64)


def read_pts_folder(folder):
    folder = Path(folder)
    faces = []
    for pts in sorted(folder.glob("*.pts")):
        image = next((pts.with_suffix(ext) for ext in IMAGE_EXTENSIONS if pts.with_suffix(ext).is_file()), None)
        if image is None:
            raise DataError(f"{pts}: no image beside it ({', '.join(IMAGE_EXTENSIONS)})")
        faces.append(Face(image, read_pts(pts), pts.stem))
    if not faces:
        raise DataError(f"{folder}: no .pts files")
    return faces


def _read_annotation_lines(path, expected_tokens, parse):
    faces = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read the annotation file ({type(error).__name__})") from None
    for line_no, line in enumerate(lines, 1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != expected_tokens:
            raise DataError(f"{path}:{line_no}: expected {expected_tokens} tokens, got {len(tokens)}")
        try:
            face = parse(tokens, line_no)
        except ValueError as error:
            raise DataError(f"{path}:{line_no}: {error}") from None
        if not np.isfinite(face.points).all():
            raise DataError(f"{path}:{line_no}: NaN or infinite coordinate")
        faces.append(face)
    return faces


def read_jd106(path, image_dir):
    """The 106-point challenge's bbox_landmark.txt: image name, x1 y1 x2 y2, 212 coordinates."""
    def parse(tokens, line_no):
        points = np.array([float(t) for t in tokens[5:]]).reshape(106, 2)
        return Face(Path(image_dir) / tokens[0], points, f"{Path(tokens[0]).stem}_{line_no}")
    return _read_annotation_lines(path, 1 + 4 + 212, parse)


def read_wflw(path, image_dir):
    """WFLW annotation list: 196 coordinates, 4 box values, 6 attributes, image name."""
    def parse(tokens, line_no):
        points = np.array([float(t) for t in tokens[:196]]).reshape(98, 2)
        name = tokens[-1].replace("/", "_")
        return Face(Path(image_dir) / tokens[-1], points, f"{Path(name).stem}_{line_no}")
    return _read_annotation_lines(path, 196 + 4 + 6 + 1, parse)


def read_keypoints_csv(path, image_dir):
    """The facial-keypoints set's CSV (YouTube-Faces frames): a header line, then per frame its image name
    and x0, y0, x1, y1, ... in pixels of that frame (68 points). Use its training CSV only: the official
    test split repeats training frames."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path}: cannot read the keypoints CSV ({type(error).__name__})") from None
    faces = []
    for line_no, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 5 or (len(row) - 1) % 2:
            raise DataError(f"{path}:{line_no}: expected an image name and x, y pairs, got {len(row)} fields")
        try:
            points = np.array([float(v) for v in row[1:]]).reshape(-1, 2)
        except ValueError as error:
            raise DataError(f"{path}:{line_no}: {error}") from None
        if not np.isfinite(points).all():
            raise DataError(f"{path}:{line_no}: NaN or infinite coordinate")
        faces.append(Face(Path(image_dir) / row[0], points, Path(row[0]).stem))  # --prefix names it
    return faces


def read_source(source, path, image_dir=None):
    if source == "pts":
        return read_pts_folder(path)
    image_dir = Path(image_dir) if image_dir else Path(path).parent
    return {"jd106": read_jd106, "wflw": read_wflw, "csv": read_keypoints_csv}[source](path, image_dir)


def train_crop_matrix(points, rng):
    """Random rotation within +-30 degrees, centre shift within +-10% of the box, crop side between
    the box's shorter side and 1.25x its longer side."""
    center, extent = landmark_box(points)
    center = center + rng.uniform(-0.1, 0.1, 2) * extent
    size = rng.uniform(extent.min(), 1.25 * extent.max())
    return face_crop_matrix(center, size, rng.uniform(-30, 30))


def context_crop(face, image):
    """The stored training face: a square of CONTEXT_SCALE x the box's longer side, CONTEXT_SIZE px."""
    center, extent = landmark_box(face.points)
    matrix = face_crop_matrix(center, CONTEXT_SCALE * extent.max(), out_size=CONTEXT_SIZE)
    return crop_face(image, matrix, CONTEXT_SIZE), warp_points(face.points, matrix) / CONTEXT_SIZE


def make_crops(face, image, copies, rng, train, tries=20):
    """Crops of a face with every landmark inside (points normalised to the crop); and skip reasons.
    Training: one context crop (``copies`` 0) or ``copies`` fixed crops; test: the centred crop."""
    if train and copies == 0:
        return [context_crop(face, image)], Counter()
    crops, skipped = [], Counter()
    for _ in range(copies if train else 1):
        for _ in range(tries if train else 1):
            matrix = train_crop_matrix(face.points, rng) if train else centred_crop_matrix(face.points)
            points = warp_points(face.points, matrix) / INPUT_SIZE
            if ((points >= 0) & (points <= 1)).all():
                crops.append((crop_face(image, matrix), points))
                break
        else:
            skipped["no crop keeps every landmark inside"] += 1
    return crops, skipped


def usable_crops(face, copies, rng, train, skipped):
    """The crops of one face (none, with a warning and a counted reason, when it cannot be used)."""
    try:
        image = read_image(face.image, face.name)
    except DataError as error:
        print(f"warning: {error} (skipped)", file=sys.stderr)
        skipped["unreadable image"] += 1
        return []
    if np.ptp(face.points, axis=0).max() < 1.0:
        print(f"warning: {face.name}: all points within one pixel (skipped)", file=sys.stderr)
        skipped["points at one place"] += 1
        return []
    crops, face_skips = make_crops(face, image, copies, rng, train)
    skipped.update(face_skips)
    return crops


def prepare_split(faces, out_root, split, copies=0, seed=0, append=False, source=None, labels=None):
    """Write ``OUT/{split}_data/imgs/*.jpg`` and ``list.txt`` (``append``: after the lines already there, to
    gather several sources in one DATA_ROOT; a face already listed is not added again); returns a summary."""
    train = split == "train"
    folder = Path(out_root) / f"{split}_data"
    (folder / "imgs").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = labels or {"*": "human"}
    listed, skipped = ListAppender(folder / "list.txt", append), Counter()
    for face in tqdm(faces, desc=f"{split} faces", unit="face"):
        for k, (crop, points) in enumerate(usable_crops(face, copies, rng, train, skipped)):
            angles = euler_angles(points * crop.shape[0], crop.shape[0])
            listed.place(f"{split}_data/imgs", face.name, k, points, angles, label_for(face.name, labels),
                         encode_image(crop, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 95]))
    if not listed.new and not listed.already:
        reasons = ", ".join(f"{n} {r}" for r, n in skipped.items()) or "no faces given"
        raise DataError(f"{source or split}: none of the {len(faces)} faces could be prepared ({reasons}); no "
                        "list.txt written")
    listed.write()
    if listed.already:
        skipped["already in the list"] = listed.already
    return {"split": split, "faces_in": len(faces), "crops_out": len(listed.new), "skipped": dict(skipped)}


def main(argv=None):
    parser = Parser(__doc__)
    parser.add_argument("--source", choices=["pts", "jd106", "wflw", "csv", "images"], default="pts")
    parser.add_argument("--train", action="append", help="training faces: a .pts folder or an annotation file "
                        "(--source images: a folder of images, repeatable)")
    parser.add_argument("--test", help="test faces: a .pts folder or an annotation file")
    parser.add_argument("--images", help="image folder for jd106/wflw/csv annotation files (default: beside them)")
    parser.add_argument("--out", required=True, help="DATA_ROOT to write")
    parser.add_argument("--copies", type=non_negative_int, default=0,
                        help="0: one context crop per training face, augmented online (default); "
                             "N: N fixed 112x112 augmented crops per face")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prefix", help="put NAME_ before every face's file name: the collection's name, which "
                        "training's --source_weights draws by (faces68 uses helen_, ytf_)")
    parser.add_argument("--append", action="store_true", help="add to the list.txt already in --out (several "
                        "sources in one DATA_ROOT) instead of replacing it")
    parser.add_argument("--label_source", default=None, help="where the points came from, recorded on every "
                        "list.txt line: human, machine or teacher:NAME, or by collection: 'ytf=machine,*=human' "
                        "(default: human; the keypoints CSV: machine)")
    add_unlabelled_args(parser)
    args = parser.parse_args(argv)
    if not (args.train or args.test):
        parser.error("give --train and/or --test")
    if args.source == "images":
        if args.test or not args.prefix:
            parser.error("--source images takes --train folders and a --prefix (unlabelled faces never test)")
        exit_on_user_error(run_unlabelled, args)
        return
    if args.train and len(args.train) > 1:
        parser.error(f"--source {args.source} takes one --train")
    args.train = args.train[0] if args.train else None
    exit_on_user_error(run_prepare, args)


def add_unlabelled_args(parser):
    from fbnet_pfld.unlabelled import DEFAULT_PAD, MIN_FACE

    group = parser.add_argument_group("--source images")
    group.add_argument("--exclude", action="append", default=[], help="a DATA_ROOT whose test faces (and "
                       "near-duplicates of them) must never be trained on; repeatable")
    group.add_argument("--pad", type=float, default=DEFAULT_PAD, help="pad each image by this fraction of its "
                       "sides before detecting (tight chips)")
    group.add_argument("--min_face", type=float, default=MIN_FACE, help="smallest face kept, landmark-box side "
                       "in pixels")
    group.add_argument("--calibration", default=str(DEFAULT_CALIBRATION), help="the detector calibration")


def run_unlabelled(args):
    from fbnet_pfld.detector import Calibration
    from fbnet_pfld.unlabelled import UNLABELLED, prepare_unlabelled

    if not (0 <= args.pad <= 2 and args.min_face > 0):
        raise DataError(f"--pad must be within [0, 2] and --min_face above 0, got {args.pad} and {args.min_face}")
    counts = prepare_unlabelled(args.train, args.out, args.prefix, Calibration.load(args.calibration),
                                args.exclude, args.pad, args.min_face)
    others = ", ".join(f"{n} {r}" for r, n in counts.items() if r != "faces written") or "none"
    print(f"{args.prefix}: {counts['faces written']} new faces written; left out: {others} -> "
          f"{Path(args.out) / 'train_data' / UNLABELLED}")


def point_count(faces, source):
    """The one landmark count of a source's faces; a face with another count is refused by name."""
    counts = Counter(len(face.points) for face in faces)
    if not counts:
        raise DataError(f"{source}: no faces found")
    common = counts.most_common(1)[0][0]
    odd = next((face for face in faces if len(face.points) != common), None)
    if odd is not None:
        raise DataError(f"{source}: {odd.name} has {len(odd.points)} points, the others {common}")
    return common


def run_prepare(args):
    labels = parse_label_sources(args.label_source or ("machine" if args.source == "csv" else "human"))
    splits = [(split, path, read_source(args.source, path, args.images))
              for split, path in (("train", args.train), ("test", args.test)) if path]
    if args.prefix:
        splits = [(split, path, [face._replace(name=f"{args.prefix}_{face.name}") for face in faces])
                  for split, path, faces in splits]
    counts = {split: point_count(faces, path) for split, path, faces in splits}
    if len(set(counts.values())) > 1:
        raise DataError(f"--train has {counts['train']}-point faces, --test {counts['test']}-point ones: one "
                        "model predicts one point scheme")
    for split, path, faces in splits:
        summary = prepare_split(faces, args.out, split, args.copies, args.seed, args.append, path, labels)
        reasons = ", ".join(f"{n} {r}" for r, n in summary["skipped"].items()) or "none"
        print(f"{split}: {summary['faces_in']} faces in, {summary['crops_out']} crops out, "
              f"skipped: {reasons} -> {Path(args.out) / f'{split}_data/list.txt'}")


if __name__ == "__main__":
    main()
