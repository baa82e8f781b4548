"""list.txt landmark datasets, face-crop geometry, seeded augmentation and the weight/architecture split.

Layout (the reference's): ``DATA_ROOT/{train_data,test_data}/{imgs,list.txt}``; each list.txt line is
an image path relative to DATA_ROOT, 2K floats (x0 y0 x1 y1 ..., normalised to the image), then pitch,
yaw and roll in degrees. A 112x112 image is a ready crop (the reference's format). A larger square
image is a *context crop* (data/prepare.py writes one per training face: 2x the landmark box): the
model's crop is cut from it online, around the landmark box, with random shift, scale and rotation
for training (``CropJitter``) and centred at 1.2x the box for testing, and the pose is relabelled.
"""

import copy
import math
import re
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from fbnet_pfld.blocks import INPUT_SIZE
from fbnet_pfld.crops import (
    DEFAULT_JITTER,
    centred_crop_matrix,
    crop_face,
    hflip,
    jittered_crop_matrix,
    occlude,
    photometric,
    warp_points,
)
from fbnet_pfld.errors import DataError
from fbnet_pfld.headpose import euler_angles
from fbnet_pfld.points import EYE_CORNERS, flip_permutation
from fbnet_pfld.sources import LABEL_TOKEN, UNKNOWN_LABEL, split_label
from fbnet_pfld.writes import write_text


class Sample(NamedTuple):
    image: Path
    landmarks: np.ndarray  # (K, 2), normalised to the crop
    angles: np.ndarray  # (3,), pitch yaw roll in degrees
    line: int  # 1-based line in list.txt, for error messages
    label: str = UNKNOWN_LABEL  # where the points came from: human, machine, teacher:NAME (sources.py)


COORDINATE_MARGIN = 0.25  # normalised coordinates may stray this far outside [0, 1], no further


def parse_list_file(list_path, data_root=None, num_points=None):
    """Parse and check every line of a list.txt; K is read from the file or checked against num_points."""
    list_path = Path(list_path)
    data_root = Path(data_root) if data_root is not None else list_path.parent.parent
    if not list_path.is_file():
        hint = "" if data_root.is_dir() else f" ({data_root} does not exist: prepare.py makes a data root)"
        raise DataError(f"{list_path}: no such list file{hint}")
    try:
        lines = list_path.read_text(encoding="utf-8-sig").splitlines()  # -sig: a byte-order mark is not a path
    except UnicodeDecodeError:
        raise DataError(f"{list_path}: not a text file (expected list.txt lines)") from None
    if num_points is None:  # the count most lines agree on, so a short first line is the one blamed
        counts = Counter((len(line.split()) - 4) // 2 for line in lines if line.strip())
        num_points = counts.most_common(1)[0][0] if counts else None
    samples = []
    for line_no, line in enumerate(lines, 1):
        if line.strip():
            samples.append(parse_list_line(line.split(), f"{list_path}:{line_no}", line_no, data_root, num_points))
    if not samples:
        raise DataError(f"{list_path}: no samples")
    return samples


def parse_list_line(tokens, where, line_no, data_root, num_points):
    """One list.txt line -> Sample, or a DataError naming the line and what was expected."""
    tokens, label = split_label(tokens, where)
    lead = next((i for i, t in enumerate(tokens) if _is_float(t)), len(tokens))
    if lead > 1:
        raise DataError(f"{where}: image path {' '.join(tokens[:lead])!r} holds spaces; list.txt fields are "
                        "separated by spaces, so rename the file")
    count = len(tokens) - 4  # path, 2K coordinates, 3 angles
    if count < 2 or count % 2:
        raise DataError(f"{where}: expected an image path, 2K coordinates and 3 angles, got {len(tokens)} tokens")
    if num_points is not None and count // 2 != num_points:
        raise DataError(f"{where}: {count // 2} points, but {num_points} expected "
                        f"(from --num_points or the lines before)")
    bad = next((t for t in tokens[1:] if not _is_float(t)), None)
    if bad is not None:
        raise DataError(f"{where}: {bad!r} is not a number")
    values = np.array([float(t) for t in tokens[1:]], np.float32)
    if not np.isfinite(values).all():
        raise DataError(f"{where}: NaN or infinite value")
    points, angles = values[:-3].reshape(-1, 2), values[-3:]
    if points.min() < -COORDINATE_MARGIN or points.max() > 1 + COORDINATE_MARGIN:
        raise DataError(f"{where}: coordinates must be normalised to the image (within [0, 1] give or take "
                        f"{COORDINATE_MARGIN}); got {points.min():.4g} to {points.max():.4g}")
    check_spread(points, where)
    if np.abs(angles).max() > 180:
        raise DataError(f"{where}: pitch, yaw and roll must be degrees within [-180, 180], got {angles.tolist()}")
    return Sample(_image_inside(tokens[0], data_root, where), points, angles, line_no, label)


def check_spread(points, where):
    """Refuse points that cannot be a face: all in one place, or (where NME is inter-ocular) with the outer
    eye corners on top of each other, which would divide every error by zero."""
    if np.ptp(points, axis=0).max() <= 1e-6:
        raise DataError(f"{where}: all {len(points)} points are at one place; not a face's landmarks")
    corners = EYE_CORNERS.get(len(points))
    if corners and np.linalg.norm(points[corners[0]] - points[corners[1]]) <= 1e-6:
        raise DataError(f"{where}: the outer eye corners (points {corners[0]} and {corners[1]}) coincide, so the "
                        "inter-ocular distance is zero; check the point order")


def _image_inside(token, data_root, where):
    """The image path, which must stay inside DATA_ROOT (relative, no '..') and exist."""
    relative = Path(token)
    if relative.is_absolute() or ".." in relative.parts:
        raise DataError(f"{where}: image path {token} must be relative to DATA_ROOT ({data_root}) and stay inside it")
    image = Path(data_root) / relative
    if not image.is_file():
        raise DataError(f"{where}: image {image} does not exist")
    return image


def _is_float(token):
    try:
        float(token)
        return True
    except ValueError:
        return False


def list_line(image, landmarks, angles, label=None):
    """One list.txt line (no newline): path, 2K normalised coordinates, 3 angles, and ``label=SOURCE``."""
    numbers = " ".join(f"{v:.6f}" for v in np.asarray(landmarks, np.float64).ravel())
    return f"{image} {numbers} {' '.join(f'{a:.3f}' for a in angles)}" + (f" {LABEL_TOKEN}{label}" if label else "")


def write_list_file(list_path, rows):
    """Write (relative image path, landmarks (K,2) normalised, angles (3,)[, label source]) rows as list.txt."""
    write_text(list_path, "".join(list_line(*row) + "\n" for row in rows))


def read_image(path, where):
    """A BGR image, or one line naming ``where`` (and the path, if ``where`` is not it): missing or unreadable
    (checked before OpenCV, whose reader would print its own warning)."""
    named = "" if str(where) == str(path) else f" {path}"
    if not Path(path).is_file():
        raise DataError(f"{where}: no such image file{named}")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"{where}: cannot read image{named}")
    return image


class LandmarkDataset(Dataset):
    """A list.txt dataset -> (image [3,112,112] BGR in [0,1], landmarks [2K] in the crop, angles [3]).

    Ready 112x112 crops are used as stored; context crops are cut online (see the module docstring).
    Augmentation is a pure function of (seed, epoch, index): repeatable across workers and resumes."""

    def __init__(self, list_path, data_root=None, num_points=None, augment=False, seed=0, jitter=DEFAULT_JITTER,
                 occlusion=0.0):
        self.list_path = Path(list_path)
        self.samples = parse_list_file(list_path, data_root, num_points)
        self.num_points = len(self.samples[0].landmarks)
        self.augment = augment
        self.seed = seed
        self.jitter = jitter
        self.occlusion = occlusion
        self.epoch = 0
        self.flip_perm = flip_permutation(self.num_points)

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return len(self.samples)

    def load(self, index):
        """Image, landmarks (normalised to the image) and angles of one sample, as stored, checked."""
        sample = self.samples[index]
        where = f"{self.list_path}:{sample.line}"
        image = read_image(sample.image, where)
        height, width = image.shape[:2]
        if height != width or height < INPUT_SIZE:
            raise DataError(f"{where}: image {sample.image} is {width}x{height}; expected a square of at least "
                            f"{INPUT_SIZE}x{INPUT_SIZE} (run prepare.py)")
        return image, sample.landmarks, sample.angles

    def crop(self, image, landmarks, angles, rng):
        """The model's 112x112 crop of a context crop (jittered when ``rng`` is given), relabelled."""
        points = landmarks * image.shape[0]
        matrix = centred_crop_matrix(points) if rng is None else jittered_crop_matrix(points, rng, self.jitter)
        crop_points = warp_points(points, matrix)
        return crop_face(image, matrix), (crop_points / INPUT_SIZE).astype(np.float32), \
            euler_angles(crop_points).astype(np.float32)

    def __getitem__(self, index):
        image, landmarks, angles = self.load(index)
        rng = np.random.default_rng([self.seed, self.epoch, index]) if self.augment else None
        if image.shape[0] != INPUT_SIZE:
            image, landmarks, angles = self.crop(image, landmarks, angles, rng)
        if rng is not None:
            image = photometric(image, rng)
            if self.flip_perm is not None and rng.random() < 0.5:
                image, landmarks, angles = hflip(image, landmarks, angles, self.flip_perm)
            if self.occlusion > 0 and rng.random() < self.occlusion:
                image = occlude(image, rng)
        tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(255.0)
        return tensor, torch.from_numpy(landmarks.reshape(-1).copy()), torch.from_numpy(angles.copy())


def source_face(path):
    """Augmented copies of one face share a source name: ``NAME__3.png`` -> ``NAME``."""
    return re.sub(r"__\d+$", "", Path(path).stem)


def split_weight_arch(samples, arch_fraction=0.2, seed=0, source="the training list"):
    """Disjoint, repeatable split of a training list into the weight part and the architecture part.

    Copies of the same source face stay on the same side, so theta never sees a face the weights
    were trained on (the reference tuned theta on the test set instead)."""
    if not 0 < arch_fraction < 1:
        raise ValueError(f"arch_fraction must be in (0, 1), got {arch_fraction}")
    faces = sorted({source_face(s.image) for s in samples})
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(faces))
    n_arch = max(1, int(round(arch_fraction * len(faces))))
    arch_faces = {faces[i] for i in order[:n_arch]}
    weight_idx = [i for i, s in enumerate(samples) if source_face(s.image) not in arch_faces]
    arch_idx = [i for i, s in enumerate(samples) if source_face(s.image) in arch_faces]
    if not weight_idx:
        raise DataError(f"{source}: the architecture split took every face ({len(faces)}); use more faces or a "
                        "smaller --arch_fraction")
    return weight_idx, arch_idx


class ShardedSampler(Sampler):
    """Seeded per-epoch shuffle of a subset of indices, sharded across distributed ranks.

    Each rank gets ceil(n / world) indices (padded by wrapping), so all ranks take the same steps. ``draws``
    fixes an epoch's length (faces drawn; default: one per index): an epoch is then a number of steps, not a
    pass over the list, so ten times the faces does not mean ten times the run."""

    def __init__(self, indices, shuffle=True, seed=0, rank=0, world_size=1, weights=None, draws=None):
        self.indices = list(indices)
        self.draws = draws
        self.weights = None if weights is None else torch.tensor([float(weights[i]) for i in self.indices])
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return math.ceil((self.draws or len(self.indices)) / self.world_size)

    def __iter__(self):
        order = list(range(len(self.indices)))
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        if self.weights is not None:  # an epoch of draws with replacement, by collection weight
            order = torch.multinomial(self.weights, self.draws or len(order), replacement=True, generator=gen).tolist()
        elif self.shuffle:  # a fresh permutation, cut or repeated to the epoch's length
            order = torch.randperm(len(order), generator=gen).tolist()
        total = len(self) * self.world_size
        order = (order * math.ceil(total / max(1, len(order))))[:total]
        return iter([self.indices[i] for i in order[self.rank::self.world_size]])


def _worker_init(_):
    cv2.setNumThreads(0)  # workers are the parallelism; OpenCV's own threads only contend
    torch.set_num_threads(1)


def make_loader(dataset, indices=None, batch_size=64, shuffle=False, seed=0, rank=0, world_size=1,
                workers=2, drop_last=False, weights=None, draws=None):
    """DataLoader over ``indices`` of ``dataset`` with a ShardedSampler; call ``set_loader_epoch`` each epoch.

    Workers are not persistent: each epoch's workers copy the dataset with its current epoch."""
    indices = range(len(dataset)) if indices is None else indices
    sampler = ShardedSampler(indices, shuffle, seed, rank, world_size, weights, draws)
    # Dropping a ragged last batch (BatchNorm cannot train on one sample) only when a full one exists.
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
        drop_last=drop_last and len(sampler) >= batch_size,
        worker_init_fn=_worker_init if workers else None,
        pin_memory=torch.cuda.is_available())


def held_out_loader(train_set, indices, batch_size=64, workers=2, shuffle=False):
    """A split of a training set, un-augmented, in order unless ``shuffle``: the architecture split is what a
    search validates on and what its one-shot ranking is judged on (the test split is never used to choose)."""
    held_out = copy.copy(train_set)
    held_out.augment = False
    return make_loader(held_out, indices, batch_size=batch_size, shuffle=shuffle, workers=workers)


def search_split_of(data_root, state):
    """A supernet checkpoint's training set and its weight and architecture indices, as its search drew them."""
    train, _ = load_datasets(data_root, state["num_points"])
    args = state.get("args", {})
    weight_idx, arch_idx = split_weight_arch(train.samples, args.get("arch_fraction", 0.2), args.get("seed", 0),
                                             train.list_path)
    return train, weight_idx, arch_idx


def data_paths(data_root):
    """The reference layout: DATA_ROOT/train_data/list.txt and DATA_ROOT/test_data/list.txt."""
    root = Path(data_root)
    return root / "train_data" / "list.txt", root / "test_data" / "list.txt"


def load_datasets(data_root, num_points=None, seed=0, jitter=DEFAULT_JITTER, occlusion=0.0):
    """Training (augmented) and test datasets of DATA_ROOT, with one point count checked across both."""
    train_list, test_list = data_paths(data_root)
    train = LandmarkDataset(train_list, data_root, num_points, augment=True, seed=seed, jitter=jitter,
                            occlusion=occlusion)
    test = LandmarkDataset(test_list, data_root, train.num_points, augment=False)
    return train, test


def load_test_set(data_root):
    return LandmarkDataset(data_paths(data_root)[1], data_root)


def set_loader_epoch(loader, epoch):
    """Reshuffle the sampler and re-seed the augmentation for ``epoch``."""
    loader.sampler.set_epoch(epoch)
    loader.dataset.set_epoch(epoch)
