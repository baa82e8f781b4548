"""Faces without labels as a training source: every face the project's detector finds in a folder of
images, cut as a training context crop around the landmark box its calibrated box stands for, once per
distinct face. The crops wait in ``DATA_ROOT/train_data/unlabelled.jsonl`` for a teacher (label.py).

Duplicates are written once: the same file in several folders (by content), and near-duplicates (the same
photo re-encoded, resized or re-framed: ``FaceIndex``). A face that is
a near-duplicate of a test face (``--exclude`` DATA_ROOTs' test_data) never enters training: it is named
on stderr and counted, never written.
"""

import hashlib
import json
import re
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from fbnet_pfld.crops import CONTEXT_SCALE, CONTEXT_SIZE, TEST_CROP_SCALE, crop_face, face_crop_matrix
from fbnet_pfld.detector import detect_faces
from fbnet_pfld.errors import DataError
from fbnet_pfld.writes import write_image, write_text

# Every still-image type OpenCV reads.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".dib", ".webp", ".tif", ".tiff", ".jp2", ".pbm",
                    ".pgm", ".ppm", ".pnm", ".pxm", ".sr", ".ras", ".exr", ".hdr", ".pic")
UNLABELLED = "unlabelled.jsonl"
DEFAULT_PAD = 0.25  # tight chips (UTKFace's jaw touches the border) are padded by this much per side
MIN_FACE = 40  # landmark-box side in pixels: smaller faces carry too little for a teacher to label
HASH_BITS = 28  # of 64: a face's hash this close to another's makes it a candidate for the pixel check ...
CANDIDATES = 16  # ... for at most this many of the closest
SAME_PHOTO = 0.7  # correlation of fine detail at or above which two faces are one photo (docs/data.md)
TEMPLATE = 64  # side of the grey face a match compares, pixels
_TEMPLATE_SCALES = (0.9, 0.95, 1.0, 1.05, 1.1)  # the calibrated box's side errs by about 8%: compare at 5 sizes


def difference_hash(gray):
    """64-bit difference hash of a grey image: is each of 8x8 cells brighter than its right neighbour."""
    small = cv2.resize(gray, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    return int(np.packbits((small[:, 1:] > small[:, :-1]).ravel()).view(">u8")[0])


def face_view(image, centre, side, scale=1.0, out=TEMPLATE):
    """The grey test crop (TEST_CROP_SCALE x the landmark box) of a face, ``out`` pixels; ``scale`` > 1 widens
    it so that a template can slide inside. Beyond the image it mirrors the image: a straight edge where the
    image ends (a tight chip's) would make every chip look alike."""
    matrix = face_crop_matrix(centre, TEST_CROP_SCALE * side * scale, out_size=out)
    crop = cv2.warpAffine(image, matrix, (out, out), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)


def fine_detail(gray):
    """A band of spatial frequencies (difference of Gaussians): what one photo shares with its copies and
    not with a photo of another face, whose broad shading may be much alike."""
    gray = gray.astype(np.float32)
    return cv2.GaussianBlur(gray, (0, 0), 0.8) - cv2.GaussianBlur(gray, (0, 0), 3.0)


class FaceIndex:
    """Faces seen so far, to tell whether a new one is the same photo as one of them: a 64-bit difference
    hash picks the few closest, then the normalised cross-correlation of their crops' fine detail, with a
    little slack for the detector's framing, decides (two photos of one person, or two people alike, stay
    below it: docs/data.md gives the figures)."""

    def __init__(self):
        self.hashes, self.templates, self.names = [], [], []

    def add(self, template, name):
        self.hashes.append(difference_hash(template))
        self.templates.append(template)
        self.names.append(name)

    def same_photo(self, image, centre, side):
        """The name of a face already indexed that is this face's photo, or None."""
        if not self.names:
            return None
        value = difference_hash(face_view(image, centre, side))
        diff = np.bitwise_xor(np.array(self.hashes, np.uint64), np.uint64(value))
        bits = np.unpackbits(diff.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
        close = [i for i in np.argsort(bits, kind="stable")[:CANDIDATES] if bits[i] <= HASH_BITS]
        if not close:
            return None
        region = fine_detail(face_view(image, centre, side, scale=1.25, out=int(1.25 * TEMPLATE)))
        for i in close:
            for k in _TEMPLATE_SCALES:
                template = cv2.resize(self.templates[i], (round(TEMPLATE * k),) * 2, interpolation=cv2.INTER_AREA)
                if cv2.matchTemplate(region, fine_detail(template), cv2.TM_CCOEFF_NORMED).max() >= SAME_PHOTO:
                    return self.names[i]
        return None


def test_faces(data_roots):
    """A FaceIndex of every test crop (test_data/list.txt: the TEST_CROP_SCALE crop) of the DATA_ROOTs."""
    from fbnet_pfld.dataset import data_paths, parse_list_file, read_image

    index = FaceIndex()
    for root in data_roots:
        for sample in parse_list_file(data_paths(root)[1], root):
            gray = cv2.cvtColor(read_image(sample.image, sample.image), cv2.COLOR_BGR2GRAY)
            index.add(cv2.resize(gray, (TEMPLATE, TEMPLATE), interpolation=cv2.INTER_AREA), str(sample.image))
    return index


def image_files(folders):
    """Every image file under the folders (recursively), in a fixed order; a folder without one is refused."""
    files = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise DataError(f"{folder}: no such folder (--source images reads folders of images)")
        found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        if not found:
            raise DataError(f"{folder}: no image files ({', '.join(IMAGE_EXTENSIONS[:4])}, ...)")
        files += [(folder, p) for p in found]
    return files


def find_landmark_boxes(image, calibration, pad=DEFAULT_PAD, min_face=MIN_FACE):
    """(score, landmark-box centre, side) of every face in ``image``, detected on a copy padded by ``pad`` of
    its sides (a tight chip's face fills the image, which the detector misses); and how many were too small."""
    top, left = int(pad * image.shape[0]), int(pad * image.shape[1])
    padded = cv2.copyMakeBorder(image, top, top, left, left, cv2.BORDER_CONSTANT, value=0)
    faces, small = [], 0
    for detection in detect_faces(padded):
        centre, side = calibration.landmark_box(detection.box)
        if side < min_face:
            small += 1
            continue
        faces.append((detection.score, centre - np.array([left, top]), float(side)))
    return faces, small


def face_name(prefix, folder, path, k):
    """A crop name unique per source file and face: PREFIX_<path inside the folder>_f<k>."""
    stem = re.sub(r"[^A-Za-z0-9-]+", "-", str(path.relative_to(folder).with_suffix(""))).strip("-")
    return f"{prefix}_{stem}_f{k}"


def read_records(path):
    """The records of an unlabelled.jsonl (or a teacher's labels): one JSON object a line. A last line cut
    short by a kill is dropped; any other bad line is refused by number."""
    path = Path(path)
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    records = []
    for line_no, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if line_no == len(lines):
                break
            raise DataError(f"{path}:{line_no}: not a JSON record") from None
    return records


def write_records(records, path):
    """All records at once, atomically: a kill leaves the previous file."""
    write_text(path, "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))


class Seen:
    """What a run has met: file digests, the training faces and the test faces."""

    def __init__(self, records, out_root, exclude):
        self.files = {r["sha1"]: r["origin"] for r in records}
        self.faces = FaceIndex()
        for r in records:
            crop = cv2.imread(str(Path(out_root) / r["image"]))
            if crop is not None:  # the stored context crop holds the face at a known place
                self.faces.add(face_view(crop, np.full(2, CONTEXT_SIZE / 2), CONTEXT_SIZE / CONTEXT_SCALE),
                               r["origin"])
        self.test = exclude


def prepare_unlabelled(folders, out_root, prefix, calibration, exclude=(), pad=DEFAULT_PAD, min_face=MIN_FACE):
    """Crops of every distinct face in ``folders`` into OUT/train_data/imgs, recorded in unlabelled.jsonl
    (after the records already there: a rerun adds only what is new). Returns the counts."""
    if not re.fullmatch(r"[A-Za-z0-9-]+", prefix or ""):
        raise DataError(f"--prefix {prefix!r}: --source images needs a collection name of letters, digits, '-'")
    files = image_files(folders)
    out = Path(out_root).resolve()
    for given in map(Path, folders):
        if out == given.resolve() or given.resolve() in out.parents or out in given.resolve().parents:
            raise DataError(f"--out {out_root} and the input folder {given} hold one another: a rerun would read "
                            "its own crops; write elsewhere")
    folder = Path(out_root) / "train_data"
    (folder / "imgs").mkdir(parents=True, exist_ok=True)
    records = read_records(folder / UNLABELLED)
    seen = Seen(records, out_root, test_faces(exclude))
    counts = Counter()
    for root, path in tqdm(files, desc="images", unit="image"):
        new = take_image(root, path, prefix, calibration, seen, folder, counts, pad, min_face)
        records += new
        counts["faces written"] += len(new)
    if not records:
        reasons = ", ".join(f"{n} {r}" for r, n in counts.items() if n) or "no faces"
        raise DataError(f"{', '.join(map(str, folders))}: no face found in any of the {len(files)} images "
                        f"({reasons}); nothing written")
    write_records(records, folder / UNLABELLED)
    return counts


def take_image(root, path, prefix, calibration, seen, folder, counts, pad, min_face):
    """The new records of one image file (its faces' crops written), counting what was left out and why."""
    data = path.read_bytes()
    digest = hashlib.sha1(data).hexdigest()
    if digest in seen.files:
        counts["same file seen before"] += 1
        return []
    seen.files[digest] = str(path)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None:
        print(f"warning: {path}: not a readable image (skipped)", file=sys.stderr)
        counts["unreadable file"] += 1
        return []
    faces, small = find_landmark_boxes(image, calibration, pad, min_face)
    counts["faces too small"] += small
    if not faces and not small:
        counts["images without a face"] += 1
    new = []
    for k, (score, centre, side) in enumerate(faces):
        test = seen.test.same_photo(image, centre, side)
        if test is not None:
            print(f"refused: {path} face {k} is the test face {test} (or a near-duplicate): never trained on",
                  file=sys.stderr)
            counts["test faces refused"] += 1
            continue
        if seen.faces.same_photo(image, centre, side) is not None:
            counts["near-duplicates"] += 1
            continue
        seen.faces.add(face_view(image, centre, side), str(path))
        matrix = face_crop_matrix(centre, CONTEXT_SCALE * side, out_size=CONTEXT_SIZE)
        relative = f"train_data/imgs/{face_name(prefix, root, path, k)}__0.jpg"
        write_image(folder.parent / relative, crop_face(image, matrix, CONTEXT_SIZE), [cv2.IMWRITE_JPEG_QUALITY, 95])
        new.append({"image": relative, "origin": str(path), "face": k, "score": round(score, 3), "sha1": digest,
                    "matrix": np.round(matrix, 6).ravel().tolist()})
    return new
