"""Steady landmarks in video: the One-Euro filter (Casiez, Roussel and Vogel, CHI 2012) on a tracked face. A
low-pass filter whose cut-off rises with speed: smooth when the face is still (where jitter shows), quick when
it moves (where lag would). Per value:

    cutoff = min_cutoff + beta * |filtered speed|,   alpha = 1 / (1 + fps / (2 pi cutoff))
    x_hat = x_hat + alpha * (x - x_hat)

It runs on the face's pose and shape rather than on raw points (``OneEuroFilter``), with speeds in face sizes
per second, so one pair of parameters suits small and large faces alike. A causal filter cannot tell a moving
face's noise from its motion without lagging; a look-ahead can: each frame's filtered points are then averaged
with the ``lookahead`` frames on either side (``centred_mean``), so a frame's points come out that many frames
late (tracking.Lookahead streams it). ``DEFAULT`` was chosen on the video benchmark's moving clips of training
faces (tools/video_jitter.py, docs/prediction.md).
"""

import math
from typing import NamedTuple

import numpy as np

from fbnet_pfld.errors import DataError

MAX_LOOKAHEAD = 10  # frames


class OneEuroParams(NamedTuple):
    # The defaults were chosen on clips of HELEN training photos (tools.video_jitter --choose), docs/prediction.md.
    min_cutoff: float = 1.0  # Hz: the cut-off of a still face
    beta: float = 120.0  # how fast the cut-off rises with speed (per face size per second)
    d_cutoff: float = 1.0  # Hz: the cut-off of the speed estimate
    lookahead: int = 1  # frames averaged on either side of each frame (its points come out this many frames late)

    def check(self):
        """The parameters, or a DataError naming the one out of range."""
        for name, value, low, high in (("min_cutoff", self.min_cutoff, 1e-3, 100.0), ("beta", self.beta, 0.0, 1e3),
                                       ("d_cutoff", self.d_cutoff, 1e-3, 100.0),
                                       ("lookahead", self.lookahead, 0, MAX_LOOKAHEAD)):
            whole = name != "lookahead" or float(value).is_integer()
            if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high and whole):
                raise DataError(f"--{name} {value}: the One-Euro filter's {name} must be within [{low:g}, {high:g}]")
        return self


DEFAULT = OneEuroParams()


def _alpha(cutoff, fps):
    return 1.0 / (1.0 + fps / (2.0 * np.pi * cutoff))


class _Channel:
    """One-Euro filtering of one value (a float, or an array of values that share one cut-off) whose speed is
    measured in ``unit`` per second; ``predict`` moves the previous value on by its filtered speed before
    blending in the new one."""

    def __init__(self, params, fps, predict=False):
        self.params, self.fps, self.value, self.speed, self.predict = params, fps, None, None, predict
        self.speed_alpha = _alpha(params.d_cutoff, fps)
        self.still_alpha = _alpha(params.min_cutoff, fps) if params.beta == 0 else None

    def __call__(self, value, unit=1.0):
        if self.value is None or np.shape(self.value) != np.shape(value):
            self.value, self.speed = value + 0, value * 0  # copies, of floats or arrays alike
            return self.value
        predicted = self.value + self.speed * (unit / self.fps) if self.predict else self.value
        self.speed += self.speed_alpha * ((value - self.value) * (self.fps / unit) - self.speed)
        if self.still_alpha is not None:  # beta 0: one cut-off
            self.value = predicted + self.still_alpha * (value - predicted)
        else:
            cutoff = self.params.min_cutoff + self.params.beta * abs(self.speed)
            self.value = predicted + (value - predicted) / (1.0 + self.fps / (2.0 * math.pi * cutoff))
        return self.value


def pose_and_shape(points, reference=None):
    """Points (complex x + iy, [K]) = centre + scale * e^(i angle) * shape: the face's pose (centre x, y; log
    scale; angle, radians: the rotation that best maps ``reference`` onto the shape) and its shape, centred and
    of unit RMS size. Complex numbers make each step one array operation, which is what a frame's time pays."""
    centre = points.sum() / len(points)
    offsets = points - centre
    scale = max(math.sqrt(np.vdot(offsets, offsets).real / len(points)), 1e-6)
    shape = offsets / scale
    angle = 0.0
    if reference is not None:
        turn = np.vdot(reference, shape)  # sum of conj(reference) * shape
        angle = math.atan2(turn.imag, turn.real)
        shape = shape * complex(math.cos(angle), -math.sin(angle))
    return (centre.real, centre.imag, math.log(scale), angle), shape


class OneEuroFilter:
    """Filters a stream of [K, 2] point arrays at ``fps`` frames per second; the first frame passes as is.

    The points are split into the face's pose (where it is, how big, how turned in the image: four numbers,
    each an average over every point, so little jitter) and its shape in the face's own frame (which hardly
    moves when the head does). Both are One-Euro filtered with the same cut-off for a still face; only the pose's
    cut-off rises with speed, and the pose is predicted from its filtered speed before each update, so a face
    moving steadily is followed without lag while its shape stays smoothed."""

    def __init__(self, params=DEFAULT, fps=30.0):
        if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
            raise DataError(f"fps={fps!r}: the frame rate must be a number above 0")
        self.params, self.fps = params.check(), float(fps)
        self.pose = [_Channel(self.params, self.fps, predict=True) for _ in range(4)]  # x, y, log size, angle
        self.shape, self.reference = _Channel(self.params._replace(beta=0.0), self.fps), None

    def __call__(self, points):
        points = np.asarray(points, np.float64)
        if self.reference is not None and len(self.reference) != len(points):
            self.__init__(self.params, self.fps)
        pose, shape = pose_and_shape(np.ascontiguousarray(points).view(np.complex128).ravel(), self.reference)
        size = math.exp(pose[2])  # the centre's speed is measured in face sizes
        pose = [channel(value, unit) for channel, value, unit in zip(self.pose, pose, (size, size, 1.0, 1.0))]
        shape = self.shape(shape)
        self.reference = shape
        turn = math.exp(pose[2]) * complex(math.cos(pose[3]), math.sin(pose[3]))
        out = complex(pose[0], pose[1]) + turn * shape
        return out.view(np.float64).reshape(-1, 2)


def centred_mean(series, half):
    """Each frame of a [T, ...] series averaged with the ``half`` frames on either side of it; near either end
    the window shrinks to what both sides hold (the first and last frames pass as they are)."""
    series = np.asarray(series, np.float64)
    sums = np.concatenate([np.zeros_like(series[:1]), np.cumsum(series, axis=0)])
    out = series.copy()
    for t in range(len(series)):
        h = min(int(half), t, len(series) - 1 - t)
        out[t] = (sums[t + h + 1] - sums[t - h]) / (2 * h + 1)
    return out


def smooth_series(series, params=DEFAULT, fps=30.0):
    """A whole [T, K, 2] series filtered as the tracker does, look-ahead included (offline use: benchmarks,
    tests)."""
    filt = OneEuroFilter(params, fps)
    return centred_mean(np.stack([filt(points) for points in series]), params.lookahead)
