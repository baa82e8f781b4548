"""The One-Euro filter on known signals, and following faces through frames from Python."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from fbnet_pfld import Landmarker
from fbnet_pfld.errors import DataError
from fbnet_pfld.smoothing import DEFAULT, OneEuroFilter, OneEuroParams, smooth_series
from fbnet_pfld.synthetic import draw_face, random_pose

MODEL = Path(__file__).resolve().parents[1] / "released" / "subnet.onnx"
FACE = np.random.default_rng(0).uniform(0, 100, (68, 2))  # a 100-px face


def test_a_still_face_with_noise_is_steadied():
    noisy = FACE + np.random.default_rng(1).normal(0, 1.0, (120, 68, 2))
    steady = smooth_series(noisy, DEFAULT, fps=30)
    raw_jitter = np.sqrt((np.diff(noisy, axis=0) ** 2).mean())
    filtered_jitter = np.sqrt((np.diff(steady[30:], axis=0) ** 2).mean())
    assert filtered_jitter < 0.5 * raw_jitter
    assert np.abs(steady[30:].mean(axis=0) - FACE).max() < 0.5, "the filter must not move a still face"


def test_a_step_is_followed_within_three_frames():
    series = np.stack([FACE] * 30 + [FACE + 20.0] * 30)  # a jump of a fifth of the face
    followed = smooth_series(series, DEFAULT, fps=30)
    covered = (followed[30:, 0, 0] - FACE[0, 0]) / 20.0
    assert np.argmax(covered >= 0.9) <= 3


def test_filter_parameters_out_of_range_are_refused():
    for params in (OneEuroParams(min_cutoff=0), OneEuroParams(beta=-1), OneEuroParams(min_cutoff=float("nan"))):
        with pytest.raises(DataError, match="One-Euro"):
            OneEuroFilter(params)
    with pytest.raises(DataError, match="frame rate"):
        OneEuroFilter(DEFAULT, fps=0)


def face_frame(seed, offset, background=90):
    rng = np.random.default_rng(seed)
    frame = np.full((360, 480, 3), background, np.uint8)
    frame[offset[1]:offset[1] + 200, offset[0]:offset[0] + 200] = cv2.resize(draw_face(random_pose(rng), rng),
                                                                             (200, 200))
    return frame


def test_tracks_keep_their_id_and_a_cut_starts_a_new_one():
    frames = [face_frame(2, (40 + 2 * k, 60)) for k in range(8)] + [face_frame(5, (250, 150), background=170)] * 6
    landmarker = Landmarker(MODEL)
    per_frame = list(landmarker.track(frames, fps=25))
    assert len(per_frame) == len(frames) and all(faces for faces in per_frame)
    first = {face["track"] for faces in per_frame[:8] for face in faces}
    after = {face["track"] for faces in per_frame[9:] for face in faces}
    assert first == {0} and after and 0 not in after, f"track ids {first} then {after}"
    assert set(per_frame[0][0]) == {"box", "score", "landmarks", "track"}
    with pytest.raises(DataError, match="frame 1: .* one video has one frame size"):
        list(landmarker.track([frames[0], frames[0][:100]]))
    with pytest.raises(DataError, match="frame 0: expected an 8-bit BGR array"):
        list(landmarker.track([frames[0].astype(np.float32)]))
    assert list(landmarker.track([])) == []
