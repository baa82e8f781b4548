"""Crop geometry and augmentation: the model's 112x112 crop of a face, the jitter training crops are drawn
with, and the photometric, occlusion and mirror changes each training face gets. Pure functions of their
inputs and a random generator, so a training face is repeatable across workers and resumes.
"""

from typing import NamedTuple

import cv2
import numpy as np

from fbnet_pfld.blocks import INPUT_SIZE
from fbnet_pfld.points import mirror_points

TEST_CROP_SCALE = 1.2  # the model's crop: a square of 1.2x the landmark box's longer side
CONTEXT_SCALE = 2.0  # a stored training face: a square of 2x the box's longer side ...
CONTEXT_SIZE = 224  # ... at 224x224 (the box's longer side is 112 px there)


class CropJitter(NamedTuple):
    """How far a training crop strays from the centred test crop: centre shift (Gaussian, in box sides),
    side (log-normal around TEST_CROP_SCALE x box side), rotation (uniform, degrees). Both Gaussians are
    cut at 2.5 sigma. The default suits ground-truth boxes; a detector's calibration (predict.py) gives
    the spread its boxes leave."""

    shift: float = 0.05
    scale: float = 0.08
    rotate: float = 30.0


DEFAULT_JITTER = CropJitter()


def centred_crop_matrix(points, scale=TEST_CROP_SCALE):
    """The test crop of a face: a square of ``scale`` x its landmark box's longer side, centred on the box."""
    center, extent = landmark_box(points)
    return face_crop_matrix(center, scale * extent.max())


def jittered_crop_matrix(points, rng, jitter):
    """A training crop around the landmark box of ``points`` (pixels), drawn from ``jitter``."""
    center, extent = landmark_box(points)
    side = extent.max()
    shift = np.clip(rng.normal(0, jitter.shift, 2), -2.5 * jitter.shift, 2.5 * jitter.shift)
    scale = np.exp(np.clip(rng.normal(0, jitter.scale), -2.5 * jitter.scale, 2.5 * jitter.scale))
    angle = rng.uniform(-jitter.rotate, jitter.rotate)
    return face_crop_matrix(center + shift * side, TEST_CROP_SCALE * side * scale, angle)


def face_crop_matrix(center, size, angle=0.0, out_size=INPUT_SIZE):
    """2x3 affine taking a square of side ``size`` around ``center``, rotated by ``angle`` degrees
    (counter-clockwise in the image), to an ``out_size`` crop."""
    scale = out_size / size
    matrix = cv2.getRotationMatrix2D((float(center[0]), float(center[1])), angle, scale)
    matrix[:, 2] += np.array([out_size / 2 - center[0], out_size / 2 - center[1]])
    return matrix


def warp_points(points, matrix):
    points = np.asarray(points, np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def landmark_box(points):
    """Centre and (width, height) of the points' bounding box."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    return (lo + hi) / 2, hi - lo


def crop_face(image, matrix, out_size=INPUT_SIZE):
    """Warp with zero padding where the crop leaves the image."""
    return cv2.warpAffine(image, matrix, (out_size, out_size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def photometric(image, rng):
    """Contrast, brightness and gamma (one 256-entry lookup table), occasional blur, grey or noise:
    light, label-free jitter, cheap enough that two loader workers outrun training."""
    levels = np.arange(256, dtype=np.float32) * rng.uniform(0.7, 1.3) + rng.uniform(-25, 25)
    table = 255.0 * np.power(np.clip(levels, 0, 255) / 255.0, rng.uniform(0.75, 1.35))
    out = cv2.LUT(image, np.clip(table + 0.5, 0, 255).astype(np.uint8))
    if rng.random() < 0.2:
        out = cv2.GaussianBlur(out, (3, 3), rng.uniform(0.3, 1.2))
    if rng.random() < 0.1:
        out = np.repeat(cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)[:, :, None], 3, axis=2)
    if rng.random() < 0.2:
        noise = rng.normal(0, rng.uniform(2, 8), out.shape).astype(np.float32)
        out = np.clip(out.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return out


def occlude(image, rng):
    """A rectangle of 15-40% of each side filled with one random colour: a hand, a microphone, hair."""
    side = image.shape[0]
    height, width = (rng.uniform(0.15, 0.4, 2) * side).astype(int)
    top, left = rng.integers(0, side - height), rng.integers(0, side - width)
    out = image.copy()
    out[top:top + height, left:left + width] = rng.integers(0, 256, 3, dtype=np.uint8)
    return out


def hflip(image, landmarks, angles, perm):
    """Mirror image and points, swap left/right points, negate yaw and roll."""
    return image[:, ::-1].copy(), mirror_points(landmarks, perm), angles * np.array([1, -1, -1], np.float32)
