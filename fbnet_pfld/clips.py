"""Video clips with known truth, made from labelled photos, and the measures of steadiness on them.

A clip shows one photo in a 640x480 frame, moved by a smooth seeded path (translation, scale, in-plane
rotation), with fresh sensor noise and JPEG compression every frame; its true points move with the same warp.
Four kinds: ``moving`` (the path), ``still`` (one pose: every movement of the points is jitter), ``step``
(still, then one jump of a fifth of the face at ``STEP_AT``: how many frames a filter lags) and ``mouth`` (still,
then the jaw drops by an eighth of the face at ``STEP_AT``, the image below the nose stretched down with it: how
many frames a filter lags behind a change of expression, which moving the whole photo never shows).

Measures (docs/metrics.md): NME io per frame; NMJ, the RMS over frames and points of the frame-to-frame change
of the error over the eye-corner distance; and the lag, frames after the step until the points cover 90% of it.
"""

from typing import NamedTuple

import cv2
import numpy as np

from fbnet_pfld.crops import landmark_box
from fbnet_pfld.points import EYE_CORNERS

FRAME = (640, 480)  # width, height
FACE_SIDE = 170  # pixels: the landmark box's longer side in the frame
STEP_AT = 20
STEP = 0.2  # of the face's side
JAW_DROP = 0.125  # of the face's side
NOSE_TIP, LIP_CENTRE = 33, 66  # 68-point indices between which the jaw's drop fades in


class Clip(NamedTuple):
    frames: list  # BGR uint8 [H, W, 3]
    truth: np.ndarray  # [T, K, 2] pixels


def path_matrices(kind, frames, rng):
    """[T] 2x3 affines (about the frame's centre) for a clip kind."""
    phases, speeds = rng.uniform(0, 2 * np.pi, 4), rng.uniform(0.15, 0.5, 4)  # cycles per second at 30 fps
    out = []
    for t in range(frames):
        if kind == "moving":
            wave = np.sin(2 * np.pi * speeds * t / 30.0 + phases)
            shift, scale, angle = wave[:2] * np.array([60.0, 35.0]), 1.0 + 0.1 * wave[2], 10.0 * wave[3]
        else:
            jump = STEP * FACE_SIDE if kind == "step" and t >= STEP_AT else 0.0
            shift, scale, angle = np.array([jump, 0.0]), 1.0, 0.0
        matrix = cv2.getRotationMatrix2D((FRAME[0] / 2, FRAME[1] / 2), angle, scale)
        matrix[:, 2] += shift
        out.append(matrix)
    return out


def make_clip(image, points, kind, frames=60, seed=0, noise=3.0, quality=75):
    """A clip of ``image`` (its face's ``points``) placed at the frame's centre at FACE_SIDE pixels."""
    rng = np.random.default_rng(seed)
    centre, extent = landmark_box(points)
    place = FACE_SIDE / extent.max()
    base = np.array([[place, 0, FRAME[0] / 2 - place * centre[0]], [0, place, FRAME[1] / 2 - place * centre[1]]])
    backdrop = cv2.GaussianBlur(cv2.resize(image, FRAME), (0, 0), 25)  # the photo's colours, no second face
    shown, truth = [], []
    cv2.setRNGSeed(seed)
    grain = np.empty((FRAME[1], FRAME[0], 3), np.int16)
    for matrix in path_matrices(kind, frames, rng):
        full = np.vstack([matrix, [0, 0, 1]]) @ np.vstack([base, [0, 0, 1]])
        frame = cv2.warpAffine(image, full[:2], FRAME, dst=backdrop.copy(), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_TRANSPARENT)
        cv2.randn(grain, 0, noise)
        frame = cv2.add(frame, grain, dtype=cv2.CV_8U)
        _, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
        shown.append(cv2.imdecode(data, cv2.IMREAD_COLOR))
        truth.append(points @ full[:2, :2].T + full[:2, 2])
    if kind == "mouth":
        shown, truth = drop_jaw(shown, np.array(truth))
    return Clip(shown, np.array(truth))


def jaw_weight(y, truth):
    """0 above the nose tip, 1 below the inner lips' centre, smooth between (per image row ``y``)."""
    top, bottom = truth[NOSE_TIP, 1], truth[LIP_CENTRE, 1]
    u = np.clip((y - top) / max(bottom - top, 1.0), 0.0, 1.0)
    return u * u * (3 - 2 * u)


def drop_jaw(frames, truth):
    """From STEP_AT on, every pixel and point below the nose moves down by JAW_DROP of the face's side times its
    jaw_weight (a remap of each frame, after its noise: the drop is the only change)."""
    if truth.shape[1] != 68:
        raise ValueError("the mouth clip needs the 68-point order")
    drop = JAW_DROP * np.ptp(truth[0], axis=0).max()
    rows = np.arange(FRAME[1], dtype=np.float32)
    shift = (drop * jaw_weight(rows, truth[0])).astype(np.float32)  # output row y shows input row y - shift
    map_x = np.tile(np.arange(FRAME[0], dtype=np.float32), (FRAME[1], 1))
    map_y = np.repeat((rows - shift)[:, None], FRAME[0], axis=1)
    moved = truth.copy()
    moved[STEP_AT:, :, 1] += drop * jaw_weight(truth[STEP_AT:, :, 1], truth[0])
    return frames[:STEP_AT] + [cv2.remap(f, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                               for f in frames[STEP_AT:]], moved


def inter_ocular(truth):
    a, b = EYE_CORNERS[truth.shape[1]]
    return np.linalg.norm(truth[:, a] - truth[:, b], axis=1)  # [T]


def nme(points, truth):
    """Mean NME io over the frames of a clip ([T, K, 2] each)."""
    return float((np.linalg.norm(points - truth, axis=2).mean(axis=1) / inter_ocular(truth)).mean())


def nmj(points, truth):
    """Normalised mean jitter: RMS over frames and points of the change of the error from frame to frame,
    over the eye-corner distance."""
    error = (points - truth) / inter_ocular(truth)[:, None, None]
    return float(np.sqrt((np.diff(error, axis=0) ** 2).sum(axis=2).mean()))


def lag(points, truth, delay=0, response=None):
    """Frames after STEP_AT until the points that move at STEP_AT have covered 90% of it on average (inf: never),
    counted from when they come out: a filter that gives each frame's points ``delay`` frames late (a look-ahead)
    adds those, and the step is measured from the last frame its look-ahead had not seen. ``response``: the
    unfiltered points, whose own settled change (the last 5 frames) is then the step to cover, so that a filter's
    lag is not confused with a model that never follows the truth all the way (a jaw drop it reads short)."""
    jump = truth[STEP_AT] - truth[STEP_AT - 1]
    axis = int(np.abs(jump).sum(axis=0).argmax())  # x for a step, y for the jaw's drop
    moving = np.abs(jump[:, axis]) > 0.5 * np.abs(jump[:, axis]).max()
    moved = (points[STEP_AT:, moving, axis].mean(axis=1) - points[STEP_AT - 1 - delay, moving, axis].mean())
    target = 0.9 * (jump[moving, axis].mean() if response is None else
                    response[-5:, moving, axis].mean() - response[STEP_AT - 1 - delay, moving, axis].mean())
    reached = np.nonzero(moved >= target)[0]
    return float(reached[0]) + delay if len(reached) else float("inf")
