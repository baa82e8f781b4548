"""Teachers: programs that label a face's context crop with landmarks, and say how sure they are.

``EnsembleTeacher``: the project's own models (ONNX, onnxruntime), each run on the crop and its mirror,
refined around their own first answer, averaged; its confidence is how closely the members agree.
``DlibTeacher``: dlib's 68-point predictor on dlib's HOG box, as its users run it (the optional extra
``pip install .[teacher]``: ``dlib-bin`` and ``face_recognition_models``); its confidence is the HOG
detector's score. dlib's model was trained on 300-W (non-commercial terms): a model trained on its labels
says so in its card.

A teacher maps a batch of context crops (CONTEXT_SIZE square, the face's landmark box about half the side
and centred, as prepare.py cuts them) to points normalised to the crop, or None for a face it cannot label.
"""

import importlib.util
import os
from pathlib import Path

import cv2
import numpy as np

from fbnet_pfld.crops import CONTEXT_SCALE, CONTEXT_SIZE
from fbnet_pfld.errors import DataError
from fbnet_pfld.landmarker import FaceLandmarker, LandmarkPredictor
from fbnet_pfld.metrics import normalised_errors

DLIB_POINTS = 68
DLIB_MODEL = "shape_predictor_68_face_landmarks.dat"


class EnsembleTeacher:
    """The mean of several landmark models (each with test-time flip and ``refine`` re-crops)."""

    def __init__(self, models, refine=2):
        if not models:
            raise DataError("an ensemble teacher needs at least one model (--models)")
        threads = os.cpu_count() or 1  # it runs alone, once: every core
        self.members = [FaceLandmarker(LandmarkPredictor(path, flip=True, threads=threads), refine) for path in models]
        self.name = "ensemble"

    def label(self, crops):
        """[(points [K, 2] normalised, confidence)] per crop; confidence 1 / (1 + 10 x the members' spread in
        inter-ocular units)."""
        start = [(np.full(2, CONTEXT_SIZE / 2), CONTEXT_SIZE / CONTEXT_SCALE)] * len(crops)
        answers = np.stack([np.stack(member.run(crops, start)[0]) for member in self.members])  # [M, N, K, 2]
        mean = answers.mean(axis=0)
        spread = np.mean([primary_errors(member, mean) for member in answers], axis=0)
        return [(points / CONTEXT_SIZE, float(1.0 / (1.0 + 10.0 * s))) for points, s in zip(mean, spread)]


def primary_errors(pred, gt):
    """Per-face errors, inter-ocular where the point scheme has eye corners, else box-normalised."""
    errors = normalised_errors(pred, gt)
    return errors.get("io", errors["box"])


def dlib_model_path():
    """dlib's 68-point model file from ``face_recognition_models`` (found without importing it: the package
    imports pkg_resources, gone from new setuptools)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if importlib.util.find_spec("dlib") is None or spec is None:
        raise DataError("the dlib teacher needs the optional extra: pip install .[teacher] (dlib-bin, "
                        "face_recognition_models)")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / DLIB_MODEL
    if not path.is_file():
        raise DataError(f"{path}: dlib's 68-point model is missing from face_recognition_models")
    return path


class DlibTeacher:
    """dlib's HOG detector, then its 68-point shape predictor on the box nearest the crop's centre."""

    def __init__(self):
        import dlib

        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(dlib_model_path()))
        self.name = "dlib"

    def label_one(self, crop):
        rgb = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
        rects, scores, _ = self.detector.run(rgb, 0, 0.0)
        centre = np.full(2, CONTEXT_SIZE / 2)
        near = [(r, s) for r, s in zip(rects, scores)
                if np.linalg.norm([(r.left() + r.right()) / 2 - centre[0], (r.top() + r.bottom()) / 2 - centre[1]])
                < 0.25 * CONTEXT_SIZE / CONTEXT_SCALE]
        if not near:
            return None
        rect, score = max(near, key=lambda n: n[1])
        shape = self.predictor(rgb, rect)
        points = np.array([(p.x, p.y) for p in shape.parts()], np.float64)
        return points / CONTEXT_SIZE, float(1.0 / (1.0 + np.exp(-2.0 * score)))

    def label(self, crops):
        return [self.label_one(crop) for crop in crops]


def make_teacher(name, models=(), refine=2):
    if name == "dlib":
        return DlibTeacher()
    if name == "ensemble":
        return EnsembleTeacher(models, refine)
    raise DataError(f"--teacher {name!r}: expected dlib or ensemble")
