"""Steady landmarks in video: the One-Euro filter (Casiez, Roussel and Vogel, CHI 2012) on a tracked face. A
low-pass filter whose cut-off rises with speed: smooth when the face is still (where jitter shows), quick when
it moves (where lag would). Per value:

    cutoff = min_cutoff + beta * |filtered speed|,   alpha = 1 / (1 + fps / (2 pi cutoff))
    x_hat = x_hat + alpha * (x - x_hat)

It runs on the face's pose and shape rather than on raw points (``OneEuroFilter``), with speeds in face sizes
per second, so one pair of parameters suits small and large faces alike. ``DEFAULT`` was chosen on the video
benchmark's moving clips of training faces (tools/video_jitter.py, docs/prediction.md).
"""

import math
from typing import NamedTuple

import numpy as np

from fbnet_pfld.errors import DataError


class OneEuroParams(NamedTuple):
    min_cutoff: float = 3.0  # Hz: the cut-off of a still face
    beta: float = 8.0  # how fast the cut-off rises with speed (per face size per second)
    d_cutoff: float = 1.0  # Hz: the cut-off of the speed estimate

    def check(self):
        """The parameters, or a DataError naming the one out of range."""
        for name, value, low, high in (("min_cutoff", self.min_cutoff, 1e-3, 100.0), ("beta", self.beta, 0.0, 1e3),
                                       ("d_cutoff", self.d_cutoff, 1e-3, 100.0)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high):
                raise DataError(f"--{name} {value}: the One-Euro filter's {name} must be within [{low:g}, {high:g}]")
        return self


DEFAULT = OneEuroParams()


def _alpha(cutoff, fps):
    return 1.0 / (1.0 + fps / (2.0 * np.pi * cutoff))


class _Channel:
    """One-Euro filtering of one array of values whose speed is measured in ``unit`` per second; ``predict``
    moves the previous value on by its filtered speed before blending in the new one."""

    def __init__(self, params, fps, predict=False):
        self.params, self.fps, self.value, self.speed, self.predict = params, fps, None, None, predict

    def __call__(self, value, unit=1.0):
        if self.value is None or self.value.shape != value.shape:
            self.value, self.speed = value.copy(), np.zeros_like(value)
            return self.value.copy()
        predicted = self.value + self.speed * unit / self.fps if self.predict else self.value
        raw_speed = (value - self.value) * self.fps / unit
        self.speed += _alpha(self.params.d_cutoff, self.fps) * (raw_speed - self.speed)
        cutoff = self.params.min_cutoff + self.params.beta * np.abs(self.speed)
        self.value = predicted + _alpha(cutoff, self.fps) * (value - predicted)
        return self.value.copy()


def pose_and_shape(points, reference=None):
    """Points = centre + scale * R(angle) @ shape: the face's pose (centre x, y; log scale; angle, radians: the
    rotation that best maps ``reference`` onto the shape) and its shape, centred and of unit RMS size."""
    centre = points.mean(axis=0)
    scale = max(float(np.sqrt(((points - centre) ** 2).sum(axis=1).mean())), 1e-6)
    shape = (points - centre) / scale
    angle = 0.0
    if reference is not None:
        cross = (reference[:, 0] * shape[:, 1] - reference[:, 1] * shape[:, 0]).sum()
        angle = float(np.arctan2(cross, (reference * shape).sum()))
    cos, sin = np.cos(angle), np.sin(angle)
    unrotated = shape @ np.array([[cos, -sin], [sin, cos]])  # R(angle)^T applied to each row
    return np.array([*centre, np.log(scale), angle]), unrotated


class OneEuroFilter:
    """Filters a stream of [K, 2] point arrays at ``fps`` frames per second; the first frame passes as is.

    The points are split into the face's pose (where it is, how big, how turned in the image: four numbers,
    each an average over every point, so little jitter) and its shape in the face's own frame (which hardly
    moves when the head does). Both are One-Euro filtered with the same cut-off for a still face; only the pose's
    cut-off rises with speed, and the pose is predicted from its filtered speed before each update, so a face
    moving steadily is followed without lag while its shape stays smoothed."""

    def __init__(self, params=DEFAULT, fps=30.0):
        if not (math.isfinite(fps) and fps > 0):
            raise DataError(f"frame rate {fps}: must be a number above 0")
        self.params, self.fps = params.check(), float(fps)
        shape_params = self.params._replace(beta=0.0)
        self.pose, self.shape = _Channel(self.params, self.fps, predict=True), _Channel(shape_params, self.fps)
        self.reference = None

    def __call__(self, points):
        points = np.asarray(points, np.float64)
        if self.reference is not None and self.reference.shape != points.shape:
            self.__init__(self.params, self.fps)
        pose, shape = pose_and_shape(points, self.reference)
        pose = self.pose(pose, np.array([np.exp(pose[2])] * 2 + [1.0, 1.0]))  # centre speed in face sizes
        shape = self.shape(shape)
        self.reference = shape
        cos, sin = np.cos(pose[3]), np.sin(pose[3])
        return pose[:2] + np.exp(pose[2]) * shape @ np.array([[cos, sin], [-sin, cos]])


def smooth_series(series, params=DEFAULT, fps=30.0):
    """A whole [T, K, 2] series filtered (offline use: benchmarks, tests)."""
    filt = OneEuroFilter(params, fps)
    return np.stack([filt(points) for points in series])
