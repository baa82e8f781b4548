"""Landmarks on your own photos and videos: every face the detector finds, cropped the way the model
was trained, refined from its own first answer, drawn and written as JSON.

    python predict.py photo.jpg --model released/subnet.onnx --out output/predict
    python predict.py photos/ --model ckpt_save/subnet/checkpoint_best.pth
    python predict.py clip.mp4 --model released/subnet.onnx        # annotated video + one JSON line a frame
    python predict.py 0 --model released/subnet.onnx --max_frames 300   # webcam 0
    python predict.py photo.jpg --model released/subnet.onnx --box 120 80 260 240   # a landmark box, no detector
    python predict.py photo.jpg --model released/subnet.onnx --flip   # average with the mirrored crop

Images: OUT/NAME_EXT_landmarks.png and OUT/NAME_EXT.json, ``{"image": ..., "faces": [{"box": [x1, y1,
x2, y2], "score": ..., "landmarks": [[x, y], ...]}, ...]}`` in image pixels. Videos: OUT/NAME_EXT_landmarks.mp4
and OUT/NAME_EXT.jsonl (one such JSON a frame, with "frame"); each face is tracked from its previous
landmarks and the detector runs only when a track is lost (and every --redetect frames for new faces);
each face's points are steadied by a One-Euro filter (--smooth off: raw points; photos never are).
An image where no face is found gets an empty "faces" list; the run goes on. From Python:
``fbnet_pfld.Landmarker``.
"""

import contextlib
import json
import sys
import time
from collections import deque
from pathlib import Path

import cv2
import numpy as np

from fbnet_pfld.cli import Parser, exit_on_user_error
from fbnet_pfld.dataset import read_image
from fbnet_pfld.errors import DataError, WriteError
from fbnet_pfld.faces import box_face, face_record
from fbnet_pfld.landmarker import DEFAULT_CALIBRATION, MAX_REFINE, Landmarker
from fbnet_pfld.prepare import IMAGE_EXTENSIONS
from fbnet_pfld.smoothing import DEFAULT, OneEuroParams
from fbnet_pfld.tracking import Lookahead, Tracker
from fbnet_pfld.writes import write_image, write_text

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")


def predict_image(landmarker, image_path, box=None):
    """The image and one JSON-ready dict per face (none when no face is found)."""
    image = read_image(image_path, image_path)
    return image, [face_record(face) for face in landmarker(image, box)]


def marker_radius(landmarks):
    """Dots sized by the face, not the image: a small face in a large photo stays readable."""
    points = np.asarray(landmarks, np.float64)
    side = float((points.max(axis=0) - points.min(axis=0)).max()) if len(points) else 0.0
    return max(1, round(side / 80))


def draw_faces(image, faces):
    canvas = image.copy()
    for face in faces:
        radius = marker_radius(face["landmarks"])
        x1, y1, x2, y2 = (int(round(v)) for v in face["box"])
        cv2.rectangle(canvas, (x1, y1), (x2, y2), (255, 160, 0), max(1, radius // 2), cv2.LINE_AA)
        for x, y in face["landmarks"]:
            cv2.circle(canvas, (int(round(x)), int(round(y))), radius, (0, 255, 0), -1, cv2.LINE_AA)
    return canvas


def output_stem(path):
    """``face.jpg`` -> ``face_jpg``: two inputs of one folder never write the same output file."""
    return f"{path.stem}_{path.suffix.lstrip('.')}" if path.suffix else path.stem


def fresh_stem(out, stem, suffixes):
    """``stem``, else ``stem_2``, ``stem_3``, ...: the first whose output files do not exist yet, so that a run
    never writes over an earlier run's pictures."""
    candidate, number = stem, 1
    while any((out / f"{candidate}{suffix}").exists() for suffix in suffixes):
        number += 1
        candidate = f"{stem}_{number}"
    return candidate


def open_video(source):
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # OpenCV's warnings are not the user's line
    try:
        capture = cv2.VideoCapture(int(source) if str(source).isdigit() else str(source))
    finally:
        cv2.utils.logging.setLogLevel(level)
    if not capture.isOpened():
        raise DataError(f"{source}: cannot open the video (or camera)")
    return capture


def run_video(args, landmarker, out):
    """Annotated video and one JSON line per frame, written under temporary names and renamed when the video
    ends (a failure leaves nothing half written); prints frames per second."""
    capture = open_video(args.source)
    name = f"webcam{args.source}" if str(args.source).isdigit() else output_stem(Path(args.source))
    name = fresh_stem(out, name, ("_landmarks.mp4", ".jsonl"))
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    smoothing = None if args.smooth == "off" else smoothing_params(args)
    tracker = Tracker(landmarker.faces, landmarker.calibration, args.redetect, args.box, smoothing, fps)
    video, lines = out / f"{name}_landmarks.mp4", out / f"{name}.jsonl"
    temps = [out / f".{name}_landmarks.partial.mp4", out / f".{name}.partial.jsonl"]
    started = time.perf_counter()
    try:
        frames = track_video(args, capture, tracker, temps, fps)
    finally:
        capture.release()
    for temp, final in zip(temps, (video, lines)):
        temp.replace(final)
    seconds = time.perf_counter() - started
    print(f"{args.source}: {frames} frames in {seconds:.1f} s ({frames / seconds:.1f} frames/s), detector run on "
          f"{tracker.detector_runs}, smoothing {args.smooth} -> {video}, {lines}")


def track_video(args, capture, tracker, temps, fps):
    """Every frame through the tracker into the temporary video and JSON lines; the frame count. With a
    look-ahead a frame's faces come some frames later: the frames wait for them in ``pending``."""
    out = VideoOut(temps, fps)
    lookahead, pending, frames, size = Lookahead(tracker.lookahead), deque(), 0, None
    try:
        while args.max_frames is None or frames < args.max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            if size is not None and frame.shape != size:
                raise DataError(f"{args.source}: frame {frames} is {frame.shape[1]}x{frame.shape[0]}, the "
                                f"frames before {size[1]}x{size[0]}")
            size = frame.shape
            pending.append(frame)
            for faces in lookahead.push(tracker.step(frame)):
                out.write(pending.popleft(), faces)
            frames += 1
        for faces in lookahead.flush():
            out.write(pending.popleft(), faces)
        out.close()
        if frames == 0:
            raise DataError(f"{args.source}: no frame could be read")
    except BaseException:
        with contextlib.suppress(OSError):  # the first error is the one to report
            out.close()
        for temp in temps:
            temp.unlink(missing_ok=True)
        raise
    return frames


class VideoOut:
    """The annotated video and its JSON lines (one per frame), under the temporary names ``temps``."""

    def __init__(self, temps, fps):
        self.temps, self.fps, self.writer, self.count = temps, fps, None, 0
        self.log = open(temps[1], "w")

    def write(self, frame, faces):
        if self.writer is None:
            self.writer = cv2.VideoWriter(str(self.temps[0]), cv2.VideoWriter_fourcc(*"mp4v"), self.fps,
                                          (frame.shape[1], frame.shape[0]))
            if not self.writer.isOpened():
                raise WriteError(f"{self.temps[0]}: the video writer cannot open it (codec or disk)")
        self.writer.write(draw_faces(frame, faces))
        try:
            self.log.write(json.dumps({"frame": self.count, "faces": faces}) + "\n")
        except OSError as error:
            raise WriteError(f"{self.temps[1]}: cannot write ({error.strerror or error})") from None
        self.count += 1

    def close(self):
        """Close both files; the video must hold more than its header, as OpenCV's writer fails silently."""
        if self.writer is not None:
            self.writer.release()
            self.writer = None
            if self.count and self.temps[0].stat().st_size < 1024:
                raise WriteError(f"{self.temps[0]}: the video was not written (a full disk?)")
        try:
            self.log.close()
        except OSError as error:
            raise WriteError(f"{self.temps[1]}: cannot write ({error.strerror or error})") from None


def image_paths(source):
    source = Path(source)
    if source.is_dir():
        paths = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not paths:
            raise DataError(f"{source}: no image in this folder (read: {', '.join(IMAGE_EXTENSIONS)})")
        return paths
    if not source.is_file():
        raise DataError(f"{source}: no such image, video or folder")
    return [source]


def run_images(args, landmarker, out):
    paths = image_paths(args.source)
    failures = []
    for path in paths:
        try:
            image, faces = predict_image(landmarker, path, args.box)
        except DataError as error:
            if len(paths) == 1:
                raise
            print(f"error: {error}", file=sys.stderr)
            failures.append(path)
            continue
        stem = fresh_stem(out, output_stem(path), ("_landmarks.png", ".json"))
        write_image(out / f"{stem}_landmarks.png", draw_faces(image, faces))
        write_text(out / f"{stem}.json", json.dumps({"image": str(path), "faces": faces}, indent=1) + "\n")
        print(f"{path}: {len(faces)} face(s) -> {out / (stem + '_landmarks.png')}")
    if failures:
        sys.exit(f"error: {len(failures)} of {len(paths)} image(s) of {args.source} failed")


def is_video(source):
    return str(source).isdigit() or Path(source).suffix.lower() in VIDEO_EXTENSIONS


def smoothing_params(args):
    return OneEuroParams(args.min_cutoff, args.beta, lookahead=args.lookahead)


def parse_args(argv=None):
    parser = Parser(__doc__)
    parser.add_argument("source", help="an image, a folder of images, a video file, or a camera index")
    parser.add_argument("--model", default="released/subnet.onnx", help=".onnx file or retrain checkpoint (.pth)")
    parser.add_argument("--box", type=float, nargs=4, metavar=("X1", "Y1", "X2", "Y2"),
                        help="the face's landmark box in pixels instead of the detector (video: first frame)")
    parser.add_argument("--out", default="output/predict", help="folder for the drawn images/videos and JSON")
    parser.add_argument("--refine", type=int, default=1, help="re-crops around the previous answer")
    parser.add_argument("--flip", action="store_true",
                        help="also run each crop mirrored and average (test-time flip; 2x the model's cost)")
    parser.add_argument("--calibration", default=str(DEFAULT_CALIBRATION),
                        help="detector box -> landmark box map (tools/calibrate_detector.py)")
    parser.add_argument("--redetect", type=int, default=30, help="video: run the detector every N frames")
    parser.add_argument("--max_frames", type=int, help="video: stop after N frames")
    parser.add_argument("--smooth", choices=["on", "off"], default="on", help="video: steady each face's points "
                        "with a One-Euro filter (never applied to photos)")
    parser.add_argument("--min_cutoff", type=float, default=DEFAULT.min_cutoff, help="video: the filter's cut-off "
                        "for a still face, Hz (lower: steadier)")
    parser.add_argument("--beta", type=float, default=DEFAULT.beta, help="video: how fast the cut-off rises with "
                        "speed (higher: less lag)")
    parser.add_argument("--lookahead", type=int, default=DEFAULT.lookahead, help="video: average each frame's "
                        "points with N frames on either side; its points come N frames late (0: none)")
    args = parser.parse_args(argv)
    if not 0 <= args.refine <= MAX_REFINE or args.redetect < 1 or (args.max_frames is not None and args.max_frames < 1):
        parser.error(f"--refine must be within [0, {MAX_REFINE}], --redetect and --max_frames >= 1")
    try:
        smoothing_params(args).check()
    except DataError as error:
        parser.error(str(error))
    return args


def run(args):
    if args.box:
        box_face(args.box)  # checked before any work
    landmarker = Landmarker(args.model, args.flip, args.refine, args.calibration)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise WriteError(f"{out}: --out names a file; it must be a folder for the outputs")
    out.mkdir(parents=True, exist_ok=True)
    (run_video if is_video(args.source) else run_images)(args, landmarker, out)


def main(argv=None):
    exit_on_user_error(run, parse_args(argv))


if __name__ == "__main__":
    main()
