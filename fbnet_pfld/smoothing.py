"""Steady landmarks in video: the One-Euro filter (Casiez, Roussel and Vogel, CHI 2012) on every point of a
tracked face. A low-pass filter whose cut-off rises with the point's speed: smooth when the face is still
(where jitter shows), quick when it moves (where lag would). Per point and axis:

    cutoff = min_cutoff + beta * |filtered speed|,   alpha = 1 / (1 + fps / (2 pi cutoff))
    x_hat = x_hat + alpha * (x - x_hat)

Speeds are in face sizes per second (the points' box side), so one pair of parameters suits small and large
faces alike. ``DEFAULT`` was chosen on the video benchmark's moving clips of training faces
(tools/video_jitter.py, docs/prediction.md).
"""

import math
from typing import NamedTuple

import numpy as np

from fbnet_pfld.errors import DataError


class OneEuroParams(NamedTuple):
    min_cutoff: float = 1.0  # Hz: the cut-off of a still face
    beta: float = 2.0  # how fast the cut-off rises with speed (per face size per second)
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


class OneEuroFilter:
    """Filters a stream of [K, 2] point arrays at ``fps`` frames per second; the first frame passes as is."""

    def __init__(self, params=DEFAULT, fps=30.0):
        if not (math.isfinite(fps) and fps > 0):
            raise DataError(f"frame rate {fps}: must be a number above 0")
        self.params, self.fps = params.check(), float(fps)
        self.value = self.speed = None

    def __call__(self, points):
        points = np.asarray(points, np.float64)
        if self.value is None or self.value.shape != points.shape:
            self.value, self.speed = points.copy(), np.zeros_like(points)
            return points.copy()
        scale = max(float(np.ptp(points, axis=0).max()), 1e-6)  # speeds in face sizes per second
        raw_speed = (points - self.value) * self.fps / scale
        self.speed += _alpha(self.params.d_cutoff, self.fps) * (raw_speed - self.speed)
        cutoff = self.params.min_cutoff + self.params.beta * np.abs(self.speed)
        self.value = self.value + _alpha(cutoff, self.fps) * (points - self.value)
        return self.value.copy()


def smooth_series(series, params=DEFAULT, fps=30.0):
    """A whole [T, K, 2] series filtered (offline use: benchmarks, tests)."""
    filt = OneEuroFilter(params, fps)
    return np.stack([filt(points) for points in series])
