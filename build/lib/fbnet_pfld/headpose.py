"""Head pose (pitch, yaw, roll in degrees) from 2D landmarks by cv2.solvePnP against a generic 3D
face: the auxiliary net's labels, computed for every crop the training sees.
"""

import cv2
import numpy as np

from fbnet_pfld.blocks import INPUT_SIZE
from fbnet_pfld.points import FACE_3D, POSE_POINTS


def euler_angles(points, image_size=INPUT_SIZE):
    """Pitch, yaw, roll (degrees) of a face from its 14 pose points by cv2.solvePnP; zeros when the
    point scheme has no pose points listed."""
    if len(points) not in POSE_POINTS:
        return np.zeros(3)
    image_points = np.ascontiguousarray(points[POSE_POINTS[len(points)]], np.float64)
    if not np.isfinite(image_points).all() or np.ptp(image_points, axis=0).min() < 1e-3:
        return np.zeros(3)  # degenerate points (a line or a dot) have no pose; solvePnP would fail
    camera = np.array([[image_size, 0, image_size / 2], [0, image_size, image_size / 2], [0, 0, 1]], np.float64)
    ok, rvec, _ = cv2.solvePnP(FACE_3D, image_points, camera, None, flags=cv2.SOLVEPNP_SQPNP)
    if not ok:
        return np.zeros(3)
    rotation, _ = cv2.Rodrigues(rvec)
    return np.array(cv2.RQDecomp3x3(rotation)[0])
