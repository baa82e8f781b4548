"""Landmarks of every face in an image, from Python or the command line: the detector, the crop the model
was trained on, the model (ONNX or a checkpoint), refinement around its own first answer and test-time
flipping. ``Landmarker`` is the public API; predict.py and the video tracker use the same parts.

    from fbnet_pfld import Landmarker
    faces = Landmarker("released/subnet.onnx")("photo.jpg")   # [Face(box, score, landmarks), ...]
"""

from pathlib import Path

import cv2
import numpy as np
import torch

from fbnet_pfld.blocks import INPUT_SIZE
from fbnet_pfld.crops import TEST_CROP_SCALE, crop_face, face_crop_matrix, warp_points
from fbnet_pfld.dataset import read_image
from fbnet_pfld.detector import Calibration
from fbnet_pfld.errors import DataError
from fbnet_pfld.faces import Face, face_record, find_faces, point_box
from fbnet_pfld.images import as_bgr8
from fbnet_pfld.points import FLIP_PAIRS, flip_permutation, mirror_points

DEFAULT_CALIBRATION = Path(__file__).resolve().parent / "data" / "detector_yuface.json"  # shipped in the package


class NoFaceError(DataError):
    pass


MAX_REFINE = 10  # re-crops beyond a few change nothing; a huge count would only hang


def open_model(path, threads=1):
    """An engine session for an .onnx (onnxruntime) or .mnn (MNN) file; None for a checkpoint. A model
    that does not take 112x112 crops is refused with one line."""
    from fbnet_pfld.deploy import MnnSession, OrtSession

    if path.suffix == ".mnn":
        return MnnSession(None, threads=threads, mnn_path=path)
    if path.suffix != ".onnx":
        return None
    session = OrtSession(path, threads=threads)
    shape = session.session.get_inputs()[0].shape
    if len(shape) != 4 or any(isinstance(side, int) and side != INPUT_SIZE for side in shape[2:]) or \
            (isinstance(shape[1], int) and shape[1] != 3):
        raise DataError(f"{path}: takes inputs of shape {shape}; the landmark models here take "
                        f"[N, 3, {INPUT_SIZE}, {INPUT_SIZE}] BGR crops")
    return session


class LandmarkPredictor:
    """An ONNX file (onnxruntime), an MNN file or a retrain checkpoint (PyTorch): 112x112 BGR crops ->
    [N, 2K] in [0, 1].

    With ``flip``, each crop is also run mirrored and the two answers averaged (test-time flipping:
    twice the model's cost, steadier points)."""

    def __init__(self, path, flip=False, threads=1):
        self.path, self.flip = Path(path), flip
        if not self.path.is_file():
            raise DataError(f"{self.path}: no such model file")
        self.session = open_model(self.path, threads)
        if self.session is None:
            from fbnet_pfld.checkpoints import load_landmark_model

            self.model, _ = load_landmark_model(self.path)
        self.batch = fixed_batch(self.session)
        probe = self._run(np.zeros((1, 3, INPUT_SIZE, INPUT_SIZE), np.float32))
        if probe.ndim != 2 or probe.shape[1] % 2 or probe.shape[1] < 6:
            raise DataError(f"{self.path}: gives {list(probe.shape)}; a landmark model gives [N, 2K] (K >= 3)")
        if self.session is not None and self.session.output_names[0] != "landmarks":  # not exported here
            require_face_shaped(self._run(probe_faces()), self.path)
        if flip:  # a model without a left/right map fails here, before any image is read
            self.perm = mirror_permutation(probe, self.path)

    def _run(self, batch):
        if self.session is not None:
            step = self.batch or len(batch)  # a model exported with a fixed batch runs crops in its batches
            return np.concatenate([self.session.run({self.session.input_names[0]: batch[i:i + step]})[0]
                                   for i in range(0, len(batch), step)])
        with torch.no_grad():
            return self.model(torch.from_numpy(batch))[0].numpy()

    def __call__(self, crops):
        batch = np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        if not self.flip:
            return self._run(batch)
        both = self._run(np.concatenate([batch, batch[..., ::-1]]))
        return average_with_mirrored(both[:len(batch)], both[len(batch):], self.perm)


def fixed_batch(session):
    """The batch size an ONNX model was exported with when it is fixed, else None."""
    inner = getattr(session, "session", None)
    if inner is None or not hasattr(inner, "get_inputs"):
        return None
    size = inner.get_inputs()[0].shape[0]
    return size if isinstance(size, int) and size > 0 else None


def probe_faces(count=4):
    """Generated 112x112 faces, centred as a test crop centres a face, as a model's input batch."""
    from fbnet_pfld.synthetic import draw_face, random_pose

    rng = np.random.default_rng(0)
    faces = np.stack([draw_face(random_pose(rng), rng) for _ in range(count)])
    return faces.transpose(0, 3, 1, 2).astype(np.float32) / 255.0


def require_face_shaped(output, source):
    """Refuse a model whose [N, 2K] answer on centred faces is no face's points: their centre off the crop's
    middle, or spread over almost nothing or far beyond the crop (a classifier's scores, say)."""
    points = output.reshape(len(output), -1, 2)
    centre, spread = points.mean(axis=1), points.std(axis=1)
    if not (np.all(np.abs(centre - 0.5) < 0.25) and np.all((spread > 0.03) & (spread < 0.6))):
        raise DataError(f"{source}: its output on centred faces does not look like points of a face (centre "
                        f"{np.round(centre.mean(0), 2).tolist()}, spread {np.round(spread.mean(0), 3).tolist()} of "
                        "the crop); a landmark model gives [N, 2K] points in [0, 1] of the 112x112 crop")


def mirror_permutation(output, source):
    """The left/right point map for a model's [N, 2K] output, or a clear error when none is known."""
    count = output.shape[1] // 2
    perm = flip_permutation(count)
    if perm is None:
        raise DataError(f"{source}: --flip needs a left/right map of the points; known for "
                        f"{', '.join(map(str, sorted(FLIP_PAIRS)))} points, this model has {count}")
    return perm


def average_with_mirrored(points, mirrored, perm):
    """Mean of [N, 2K] answers on crops and on their mirror images, the latter mapped back (x -> 1 - x,
    left and right points swapped, as training's flip augmentation does)."""
    back = mirror_points(mirrored.reshape(len(mirrored), len(perm), 2), perm)
    return (points + back.reshape(points.shape)) / 2


class FaceLandmarker:
    """Landmarks of faces given as (centre, side) landmark boxes, refined ``refine`` times by re-cropping
    around the previous answer's landmark box (how tracking apps run)."""

    def __init__(self, predictor, refine=1):
        if not (isinstance(refine, int) and 0 <= refine <= MAX_REFINE):
            raise DataError(f"refine={refine!r}: re-crops must be a whole number within [0, {MAX_REFINE}]")
        self.predictor, self.refine = predictor, refine

    def _predict(self, images, boxes):
        matrices = [face_crop_matrix(centre, TEST_CROP_SCALE * side) for centre, side in boxes]
        normalised = self.predictor([crop_face(image, m) for image, m in zip(images, matrices)])
        return [warp_points(p.reshape(-1, 2) * INPUT_SIZE, cv2.invertAffineTransform(m))
                for p, m in zip(normalised, matrices)]

    def __call__(self, image, boxes, passes=None):
        """Landmarks (pixels) per box, and how far the last pass moved them (in box sides)."""
        return self.run([image] * len(boxes), boxes, passes)

    def run(self, images, boxes, passes=None):
        """As a call, for one box in each of several images, in one batch per pass."""
        if not boxes:
            return [], []
        points = self._predict(images, boxes)
        change = [0.0] * len(points)
        for _ in range(self.refine if passes is None else passes):
            boxes = [refined_box(p, box) for p, box in zip(points, boxes)]
            refined = self._predict(images, boxes)
            change = [float(np.linalg.norm(r - p, axis=1).mean() / side) for r, p, (_, side) in
                      zip(refined, points, boxes)]
            points = refined
        return points, change


def refined_box(points, previous):
    """The landmark box of an answer, or the previous box when the answer collapsed (< 0.3x its size)."""
    centre, side = point_box(points)
    return (centre, side) if side >= 0.3 * previous[1] else previous


def predict_image(landmarker, calibration, image_path, box=None):
    """The image and one dict per face: box, score and landmarks in image pixels."""
    image = read_image(image_path, image_path)
    found = find_faces(image, calibration, box)
    if not found:
        raise NoFaceError(f"{image_path}: no face found (give --box x1 y1 x2 y2)")
    points, _ = landmarker(image, [(centre, side) for _, _, centre, side in found])
    return image, [face_record(b, s, p) for (b, s, _, _), p in zip(found, points)]


class Landmarker:
    """Every face's landmarks in an image, in one call.

    ``model``: an .onnx file (onnxruntime) or a retrain checkpoint (.pth). ``flip`` averages each crop with
    its mirror image (2x the model's cost, steadier points); ``refine`` re-crops around the previous answer.
    """

    def __init__(self, model: str | Path, flip: bool = False, refine: int = 1,
                 calibration: str | Path = DEFAULT_CALIBRATION):
        self.calibration = Calibration.load(calibration)
        self.faces = FaceLandmarker(LandmarkPredictor(model, flip), refine)

    def __call__(self, image: np.ndarray | str | Path, box: tuple | None = None) -> list[Face]:
        """``image``: a BGR array (as cv2.imread gives; grayscale, BGRA, 16-bit and float in [0, 1] are converted,
        see ``images.as_bgr8``) or a path. ``box``: the face's landmark box x1 y1 x2 y2 instead of the detector.
        No face found gives an empty list; an array it cannot read is a DataError naming its shape and dtype."""
        image = read_image(image, image) if isinstance(image, (str, Path)) else as_bgr8(image)
        found = find_faces(image, self.calibration, box)
        points, _ = self.faces(image, [(centre, side) for _, _, centre, side in found])
        return [Face(np.asarray(b, np.float64), float(s), p) for (b, s, _, _), p in zip(found, points)]

    def track(self, frames, smooth=True, fps=30.0, redetect=30, box=None):
        """Follow faces through ``frames`` (BGR arrays of one size, in order): yields, per frame, one dict per
        face, as predict.py's JSON lines hold them: box, score, landmarks (pixels) and its track id, which a
        face keeps while it is followed and a new face (or one found again after a cut) gets anew.
        ``smooth``: True (the One-Euro filter's defaults), False, or ``smoothing.OneEuroParams``; with its
        look-ahead (1 frame by default) a frame's faces come that many frames later, every frame's in order."""
        from fbnet_pfld.smoothing import DEFAULT, OneEuroParams
        from fbnet_pfld.tracking import Lookahead, Tracker

        params = DEFAULT if smooth is True else (smooth or None)
        if params is not None and not isinstance(params, OneEuroParams):
            raise DataError(f"smooth={smooth!r}: expected True, False or smoothing.OneEuroParams")
        tracker = Tracker(self.faces, self.calibration, redetect, box, params, fps)
        lookahead, size = Lookahead(tracker.lookahead), None
        for index, frame in enumerate(frames):
            frame = as_bgr8(frame, f"frame {index}")
            if size is not None and frame.shape != size:
                raise DataError(f"frame {index}: {frame.shape[1]}x{frame.shape[0]}, the frames before "
                                f"{size[1]}x{size[0]}: one video has one frame size")
            size = frame.shape
            yield from lookahead.push(tracker.step(frame))
        yield from lookahead.flush()
