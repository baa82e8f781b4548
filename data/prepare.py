"""Turn raw landmark datasets into the reference layout DATA_ROOT/{train_data,test_data}/{imgs,list.txt}.

Sources:
  pts    a folder of images with 300-W style .pts files beside them (../shared/data/* holds these)
  jd106  the 106-point challenge's bbox_landmark.txt (name, x1 y1 x2 y2, 212 coordinates per line)
  wflw   WFLW annotation lists (196 coordinates, 4 box values, 6 attributes, image name per line)

Examples:
  python data/prepare.py --source pts --train ../shared/data/faces68/train \\
      --test ../shared/data/faces68/val --out data/faces68 --copies 10
  python data/prepare.py --source pts --train ../shared/data/samples106 \\
      --test ../shared/data/samples106 --out data/samples106 --copies 4
"""

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dataset import (  # noqa: E402
    INPUT_SIZE,
    DataError,
    crop_face,
    face_crop_matrix,
    landmark_box,
    read_image,
    warp_points,
    write_list_file,
)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
TEST_CROP_SCALE = 1.2  # test crops: a square of 1.2x the landmark box's longer side

# 14 points tracked for head pose: brow outer/inner (left, right), eye outer/inner, nose wings,
# mouth corners, lower lip centre, chin, in each point scheme's own indices. 106 is the LaPa/JD-106
# order of ../shared/data/samples106 (the reference's list, 43,46,97,101,35,75,89,93,..., is for
# another 106 order: there 35 is a brow point); each index was checked on both samples.
POSE_POINTS = {
    68: [17, 21, 22, 26, 36, 39, 42, 45, 31, 35, 48, 54, 57, 8],
    98: [33, 38, 50, 46, 60, 64, 68, 72, 55, 59, 76, 82, 85, 16],
    106: [33, 37, 42, 46, 66, 70, 75, 79, 57, 63, 84, 90, 93, 16],
}
# The same 14 points on a generic adult head (cm), in the camera's axes (x right, y down, z away from
# the camera), so that a frontal face has the identity rotation and zero Euler angles.
FACE_3D = np.array([
    [-6.8, -6.8, 2.6], [-1.3, -7.1, 0.1], [1.3, -7.1, 0.1], [6.8, -6.8, 2.6],
    [-5.3, -5.5, 3.0], [-1.8, -5.4, 2.6], [1.8, -5.4, 2.6], [5.3, -5.5, 3.0],
    [-2.0, -1.4, 0.8], [2.0, -1.4, 0.8], [-2.8, 2.1, 2.0], [2.8, 2.1, 2.0],
    [0.0, 3.1, 0.9], [0.0, 7.4, 2.9],
])


class Face(NamedTuple):
    image: Path
    points: np.ndarray  # (K, 2) in pixels of ``image``
    name: str  # unique output name


def read_pts(path):
    """Points of a 300-W .pts file: ``version: 1``, ``n_points: N``, ``{``, N lines ``x y``, ``}``."""
    lines = Path(path).read_text().splitlines()
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
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            tokens = line.split()
            if not tokens:
                continue
            if len(tokens) != expected_tokens:
                raise DataError(f"{path}:{line_no}: expected {expected_tokens} tokens, got {len(tokens)}")
            try:
                faces.append(parse(tokens, line_no))
            except ValueError as error:
                raise DataError(f"{path}:{line_no}: {error}") from None
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


def read_source(source, path, image_dir=None):
    if source == "pts":
        return read_pts_folder(path)
    image_dir = Path(image_dir) if image_dir else Path(path).parent
    return {"jd106": read_jd106, "wflw": read_wflw}[source](path, image_dir)


def euler_angles(points, image_size=INPUT_SIZE):
    """Pitch, yaw, roll (degrees) of a face from its 14 pose points by cv2.solvePnP; zeros when the
    point scheme has no pose points listed."""
    if len(points) not in POSE_POINTS:
        return np.zeros(3)
    image_points = np.ascontiguousarray(points[POSE_POINTS[len(points)]], np.float64)
    camera = np.array([[image_size, 0, image_size / 2], [0, image_size, image_size / 2], [0, 0, 1]], np.float64)
    ok, rvec, _ = cv2.solvePnP(FACE_3D, image_points, camera, None, flags=cv2.SOLVEPNP_SQPNP)
    if not ok:
        return np.zeros(3)
    rotation, _ = cv2.Rodrigues(rvec)
    return np.array(cv2.RQDecomp3x3(rotation)[0])


def centred_crop_matrix(points):
    center, extent = landmark_box(points)
    return face_crop_matrix(center, TEST_CROP_SCALE * extent.max())


def train_crop_matrix(points, rng):
    """Random rotation within +-30 degrees, centre shift within +-10% of the box, crop side between
    the box's shorter side and 1.25x its longer side."""
    center, extent = landmark_box(points)
    center = center + rng.uniform(-0.1, 0.1, 2) * extent
    size = rng.uniform(extent.min(), 1.25 * extent.max())
    return face_crop_matrix(center, size, rng.uniform(-30, 30))


def make_crops(face, image, copies, rng, train, tries=20):
    """Up to ``copies`` crops of a face with every landmark inside; returns crops and skip reasons."""
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


def prepare_split(faces, out_root, split, copies=10, seed=0):
    """Write ``OUT/{split}_data/imgs/*.jpg`` and ``list.txt``; returns a summary dict."""
    train = split == "train"
    folder = Path(out_root) / f"{split}_data"
    (folder / "imgs").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows, skipped = [], Counter()
    for face in tqdm(faces, desc=f"{split} faces", unit="face"):
        try:
            image = read_image(face.image, face.name)
        except DataError:
            skipped["unreadable image"] += 1
            continue
        crops, face_skips = make_crops(face, image, copies, rng, train)
        skipped.update(face_skips)
        for k, (crop, points) in enumerate(crops):
            relative = f"{split}_data/imgs/{face.name}__{k}.jpg"
            cv2.imwrite(str(Path(out_root) / relative), crop, [cv2.IMWRITE_JPEG_QUALITY, 95])
            rows.append((relative, points, euler_angles(points * INPUT_SIZE)))
    write_list_file(folder / "list.txt", rows)
    return {"split": split, "faces_in": len(faces), "crops_out": len(rows), "skipped": dict(skipped)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=["pts", "jd106", "wflw"], default="pts")
    parser.add_argument("--train", help="training faces: a .pts folder or an annotation file")
    parser.add_argument("--test", help="test faces: a .pts folder or an annotation file")
    parser.add_argument("--images", help="image folder for jd106/wflw annotation files (default: beside them)")
    parser.add_argument("--out", required=True, help="DATA_ROOT to write")
    parser.add_argument("--copies", type=int, default=10, help="augmented crops per training face")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not (args.train or args.test):
        parser.error("give --train and/or --test")
    try:
        for split, path in (("train", args.train), ("test", args.test)):
            if path:
                summary = prepare_split(read_source(args.source, path, args.images), args.out, split,
                                        args.copies, args.seed)
                reasons = ", ".join(f"{n} {r}" for r, n in summary["skipped"].items()) or "none"
                print(f"{split}: {summary['faces_in']} faces in, {summary['crops_out']} crops out, "
                      f"skipped: {reasons} -> {Path(args.out) / f'{split}_data/list.txt'}")
    except DataError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
