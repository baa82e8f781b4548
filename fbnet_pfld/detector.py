"""Face detection for photos and video, and the calibrated map from a detector's box to the crop the
landmark model was trained on.

The detector is libfacedetection's CNN (PyPI ``yuface``, BSD-3, weights compiled in, numpy only). On
the 337 whole images of faces68/val it found 337, against 311 for dlib's HOG detector and 295 for
OpenCV's Haar cascade (README). It runs on a copy downscaled to at most ``max_side`` pixels.

A detector's box is not the landmark box: its centre sits elsewhere and its size differs. ``calibrate``
learns the map (centre offset in box units, side ratio) on training faces, and the spread the map
leaves, which training uses as crop jitter (``crops.CropJitter``) so the model knows the crops the
detector gives.
"""

import functools
import importlib.util
import math
from typing import NamedTuple

import cv2
import numpy as np

from fbnet_pfld.crops import CropJitter, landmark_box
from fbnet_pfld.errors import DataError
from fbnet_pfld.jsonfile import read_json, write_json

MAX_SIDE = 640  # detect on a copy whose longer side is at most this


class Detection(NamedTuple):
    box: np.ndarray  # x1, y1, x2, y2 in image pixels
    score: float  # 0..1


def detect_faces(image, max_side=MAX_SIDE, threshold=0.5):
    """Every face the detector finds in a BGR image, best first."""
    import yuface

    scale = min(1.0, max_side / max(image.shape[:2]))
    small = image if scale == 1.0 else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    scores, boxes, _ = yuface.detect(np.ascontiguousarray(small), conf=threshold)
    found = [Detection(np.array([x, y, x + w, y + h], np.float64) / scale, float(s) / 100.0)
             for (x, y, w, h), s in zip(boxes.astype(np.float64), scores)]
    return sorted(found, key=lambda d: -d.score)


@functools.lru_cache(maxsize=1)
def _hog_detector():
    import dlib

    return dlib.get_frontal_face_detector()


def hog_available():
    """dlib is an optional peer for the benchmark (pip install dlib-bin), never needed to run the models."""
    return importlib.util.find_spec("dlib") is not None


def hog_faces(image, upsample=1):
    """dlib's HOG frontal-face detector, run as dlib's 68-point predictor's users run it, best first."""
    rects, scores, _ = _hog_detector().run(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), upsample, 0.0)
    found = [Detection(np.array([r.left(), r.top(), r.right(), r.bottom()], np.float64), float(s))
             for r, s in zip(rects, scores)]
    return sorted(found, key=lambda d: -d.score)


def box_iou(a, b):
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class Calibration(NamedTuple):
    """Detector box -> landmark box: centre = box centre + offset * (w, h); side = side_scale * w."""

    detector: str
    offset: tuple
    side_scale: float
    jitter: CropJitter
    faces: int = 0
    found: int = 0

    def landmark_box(self, box):
        """(centre, side) of the landmark box this detector box stands for."""
        x1, y1, x2, y2 = box
        width, height = x2 - x1, y2 - y1
        centre = np.array([(x1 + x2) / 2 + self.offset[0] * width, (y1 + y2) / 2 + self.offset[1] * height])
        return centre, self.side_scale * width

    def save(self, path):
        data = self._asdict()
        data["jitter"] = self.jitter._asdict()
        write_json(data, path)

    @classmethod
    def load(cls, path):
        data = read_json(path, DataError, "detector calibration")
        try:
            data["jitter"] = CropJitter(**data["jitter"])
            calibration = cls(**data)
            values = [*calibration.offset, calibration.side_scale, *calibration.jitter]
        except (KeyError, TypeError) as error:
            raise DataError(f"{path}: not a detector calibration ({type(error).__name__}: {error})") from None
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)
        if not numbers or len(calibration.offset) != 2 or calibration.side_scale <= 0 or min(calibration.jitter) < 0:
            raise DataError(f"{path}: a calibration needs a finite 2-value offset, side_scale > 0, jitter >= 0")
        return calibration


def match(detections, points, min_iou=0.3):
    """The detection covering the face whose landmarks are ``points`` (best IoU > min_iou), or None."""
    box = (*points.min(axis=0), *points.max(axis=0))
    scored = [(box_iou(d.box, box), d) for d in detections]
    best = max(scored, key=lambda s: s[0], default=(0.0, None))
    return best[1] if best[0] > min_iou else None


def calibrate(faces, detector="yuface", rotate=30.0, min_jitter=0.02):
    """Fit the map and its residual spread on ``faces`` ((image, landmark points) pairs)."""
    pairs = []
    for image, points in faces:
        found = match(detect_faces(image), points)
        if found is not None:
            pairs.append((found.box, *landmark_box(points)))
    if len(pairs) < 10:
        raise DataError(f"the detector found only {len(pairs)} of {len(faces)} calibration faces")
    boxes = np.array([b for b, _, _ in pairs])
    centres = np.array([c for _, c, _ in pairs])
    sides = np.array([e.max() for _, _, e in pairs])
    size = boxes[:, 2:] - boxes[:, :2]
    offsets = (centres - (boxes[:, :2] + boxes[:, 2:]) / 2) / size
    offset = offsets.mean(axis=0)
    log_scale = np.log(sides / size[:, 0])
    side_scale = float(np.exp(log_scale.mean()))
    predicted = (boxes[:, :2] + boxes[:, 2:]) / 2 + offset * size
    shift = float(np.std((centres - predicted) / sides[:, None]))
    scale = float(np.std(log_scale))
    jitter = CropJitter(max(shift, min_jitter), max(scale, min_jitter), rotate)
    return Calibration(detector, tuple(float(v) for v in offset), side_scale, jitter, len(faces), len(pairs))
