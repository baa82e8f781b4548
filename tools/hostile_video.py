"""Hostile-input cases of video: a clip without frames, frames of changing size, filter parameters out of
range, a camera that does not open; and the same through the Python API (``Landmarker.track``)."""

import cv2
import numpy as np

import predict
from fbnet_pfld import Landmarker
from fbnet_pfld.cli import exit_on_user_error
from tools.hostile_fixtures import fresh, predict_with


def empty_video(ctx, name):
    """An .mp4 a writer opened and closed without a frame."""
    path = fresh(ctx, name) / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (64, 48))
    writer.release()
    return path


def video_main(ctx, source, *extra):
    return predict.main, [str(source), "--model", str(ctx["model"]), "--out", str(ctx["base"] / "vid"), *extra]


def track_main(argv):
    """``Landmarker(MODEL).track`` over generated frames as a command: MODEL KIND (sizes | dtype)."""
    model, kind = argv
    frame = np.full((48, 64, 3), 90, np.uint8)
    frames = {"sizes": [frame, frame[:40]], "dtype": [frame.astype(np.float64)]}[kind]
    exit_on_user_error(lambda: list(Landmarker(model).track(frames)))


CASES = {
    "video of zero frames": (lambda c: video_main(c, empty_video(c, "v0")), "clip.mp4"),
    "video camera that does not open": (lambda c: video_main(c, "97"), "97"),
    "video lookahead out of range": (lambda c: predict_with(c, "--lookahead", "11"), "--lookahead"),
    "video min_cutoff zero": (lambda c: predict_with(c, "--min_cutoff", "0"), "--min_cutoff"),
    "video beta negative": (lambda c: predict_with(c, "--beta", "-1"), "--beta"),
    "video max_frames zero": (lambda c: predict_with(c, "--max_frames", "0"), "--max_frames"),
    "track frames of changing size": (lambda c: (track_main, [str(c["model"]), "sizes"]), "frame 1"),
    "track float frames": (lambda c: (track_main, [str(c["model"]), "dtype"]), "frame 0"),
}
