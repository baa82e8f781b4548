"""Head pose (pitch, yaw, roll in degrees) from 2D landmarks by cv2.solvePnP against a generic 3D
face: the auxiliary net's labels, computed for every crop the training sees.
"""

import cv2
import numpy as np

from blocks import INPUT_SIZE

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
