"""The One-Euro filter and its look-ahead on known signals, and following faces through frames from Python."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from fbnet_pfld import Landmarker
from fbnet_pfld.clips import STEP_AT, lag
from fbnet_pfld.errors import DataError
from fbnet_pfld.smoothing import DEFAULT, OneEuroFilter, OneEuroParams, centred_mean, smooth_series
from fbnet_pfld.synthetic import draw_face, random_pose
from fbnet_pfld.tracking import Lookahead

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
    with pytest.raises(DataError, match=r"frame 0: a float image must hold finite values in \[0, 1\]"):
        list(landmarker.track([frames[0].astype(np.float32)]))
    assert list(landmarker.track([])) == []


def test_the_look_ahead_stream_equals_the_offline_centred_mean_per_track():
    """Two tracks, the second starting late and the first ending early: each frame comes out once, in order,
    averaged only with its own track's neighbours; first and last frames of a track pass as they are."""
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, (12, 68, 2)), rng.normal(5, 1, (9, 68, 2))
    frames = [[{"track": 0, "score": 1.0, "landmarks": a[t]}] + ([{"track": 1, "score": 0.5, "landmarks": b[t - 3]}]
                                                                if t >= 3 else []) for t in range(12)]
    frames = [[f for f in faces if not (f["track"] == 0 and t >= 10)] for t, faces in enumerate(frames)]
    stream = Lookahead(2)
    out = [faces for pushed in frames for faces in stream.push(pushed)] + stream.flush()
    assert len(out) == len(frames)
    expected_a, expected_b = centred_mean(a[:10], 2), centred_mean(b, 2)
    for t, faces in enumerate(out):
        by_track = {f["track"]: np.array(f["landmarks"]) for f in faces}
        if t < 10:
            np.testing.assert_allclose(by_track[0], expected_a[t], atol=0.01)
        if t >= 3:
            np.testing.assert_allclose(by_track[1], expected_b[t - 3], atol=0.01)
    np.testing.assert_allclose(out[0][0]["landmarks"], a[0], atol=0.01)


def test_the_look_ahead_steadies_a_still_face_further_and_follows_a_step_within_three_frames():
    noisy = FACE + np.random.default_rng(1).normal(0, 1.0, (120, 68, 2))
    jitter = {ahead: np.sqrt((np.diff(smooth_series(noisy, DEFAULT._replace(lookahead=ahead))[30:], axis=0) ** 2)
                             .mean()) for ahead in (0, 1)}
    assert jitter[1] < 0.8 * jitter[0]
    truth = np.stack([FACE] * STEP_AT + [FACE + 20.0] * 10)
    for ahead in (0, 1):
        assert lag(smooth_series(truth, DEFAULT._replace(lookahead=ahead)), truth, ahead) <= 3
    assert lag(truth, truth, 3) == 3  # a look-ahead's delay counts


@pytest.mark.parametrize("lookahead", [-1, 11, 1.5])
def test_a_look_ahead_out_of_range_is_refused(lookahead):
    with pytest.raises(DataError, match="lookahead"):
        OneEuroFilter(DEFAULT._replace(lookahead=lookahead))
