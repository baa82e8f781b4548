"""A face found in an image: where it is (the detector's box or a given landmark box, as the (centre, side)
the crops are cut around), its landmarks, and its JSON record. Shared by the photo API and the video tracker.
"""

from typing import NamedTuple

import numpy as np

from fbnet_pfld.crops import landmark_box
from fbnet_pfld.detector import detect_faces
from fbnet_pfld.errors import DataError


def point_box(points):
    centre, extent = landmark_box(points)
    return centre, float(extent.max())


def box_face(box):
    """(centre, side) of a --box given as the face's landmark box x1 y1 x2 y2."""
    x1, y1, x2, y2 = box
    if not np.isfinite(box).all() or x2 <= x1 or y2 <= y1:
        raise DataError(f"--box {x1:g} {y1:g} {x2:g} {y2:g}: expected x1 y1 x2 y2 with x2 > x1 and y2 > y1")
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2]), max(x2 - x1, y2 - y1)


def find_faces(image, calibration, box=None):
    """[(detector box, score, landmark-box centre, side)] of every face: from --box or the detector."""
    if box is not None:
        centre, side = box_face(box)
        height, width = image.shape[:2]
        x1, y1, x2, y2 = box
        if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height or side > 4 * max(width, height):
            raise DataError(f"--box {x1:g} {y1:g} {x2:g} {y2:g}: not a face in this {width}x{height} image "
                            "(outside it, or far larger)")
        return [(np.asarray(box, np.float64), 1.0, centre, side)]
    return [(d.box, d.score, *calibration.landmark_box(d.box)) for d in detect_faces(image)]


class Face(NamedTuple):
    """One face: its detector box (x1, y1, x2, y2, pixels), the detector's score and [K, 2] landmarks (pixels)."""

    box: np.ndarray
    score: float
    landmarks: np.ndarray


def face_record(face: Face) -> dict:
    """A face as JSON: box, score and landmarks in image pixels."""
    return {"box": np.round(face.box, 1).tolist(), "score": round(face.score, 3),
            "landmarks": np.round(face.landmarks, 2).tolist()}
