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
landmarks and the detector runs only when a track is lost (and every --redetect frames for new faces).
"""

import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from blocks import INPUT_SIZE
from cli import Parser, exit_on_user_error
from data.prepare import IMAGE_EXTENSIONS
from dataset import (
    FLIP_PAIRS,
    TEST_CROP_SCALE,
    DataError,
    crop_face,
    face_crop_matrix,
    flip_permutation,
    landmark_box,
    mirror_points,
    read_image,
    warp_points,
)
from detector import Calibration, box_iou, detect_faces

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")
DEFAULT_CALIBRATION = Path(__file__).resolve().parent / "data" / "detector_yuface.json"
LOST_CHANGE = 0.08  # a track is lost when a refine pass moves its points by more than this x box side


class NoFaceError(DataError):
    pass


class LandmarkPredictor:
    """An ONNX file (onnxruntime) or a retrain checkpoint (PyTorch): 112x112 BGR crops -> [N, 2K] in [0,1].

    With ``flip``, each crop is also run mirrored and the two answers averaged (test-time flipping:
    twice the model's cost, steadier points)."""

    def __init__(self, path, flip=False):
        self.path, self.flip = Path(path), flip
        if self.path.suffix == ".onnx":
            from deploy import OrtSession

            self.session = OrtSession(self.path, threads=1)
        else:
            from checkpoints import load_landmark_model

            self.model, _ = load_landmark_model(self.path)
            self.session = None
        if flip:  # a model without a left/right map fails here, before any image is read
            self.perm = mirror_permutation(self._run(np.zeros((1, 3, INPUT_SIZE, INPUT_SIZE), np.float32)), self.path)

    def _run(self, batch):
        if self.session is not None:
            return self.session.run({self.session.input_names[0]: batch})[0]
        with torch.no_grad():
            return self.model(torch.from_numpy(batch))[0].numpy()

    def __call__(self, crops):
        batch = np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        if not self.flip:
            return self._run(batch)
        both = self._run(np.concatenate([batch, batch[..., ::-1]]))
        return average_with_mirrored(both[:len(batch)], both[len(batch):], self.perm)


def mirror_permutation(output, source):
    """The left/right point map for a model's [N, 2K] output, or a clear error when none is known."""
    count = output.shape[1] // 2
    perm = flip_permutation(count)
    if perm is None:
        raise DataError(f"{source}: --flip needs a left/right map of the points; known for "
                        f"{', '.join(map(str, sorted(FLIP_PAIRS)))} points, this model has {count}")
    return perm


def average_with_mirrored(points, mirrored, perm):
    """Mean of [N, 2K] answers on crops and on their mirror images, the latter mapped back (x -> 1 - x,
    left and right points swapped, as training's flip augmentation does)."""
    back = mirror_points(mirrored.reshape(len(mirrored), len(perm), 2), perm)
    return (points + back.reshape(points.shape)) / 2


class FaceLandmarker:
    """Landmarks of faces given as (centre, side) landmark boxes, refined ``refine`` times by re-cropping
    around the previous answer's landmark box (how tracking apps run)."""

    def __init__(self, predictor, refine=1):
        self.predictor, self.refine = predictor, refine

    def _predict(self, image, boxes):
        matrices = [face_crop_matrix(centre, TEST_CROP_SCALE * side) for centre, side in boxes]
        normalised = self.predictor([crop_face(image, m) for m in matrices])
        return [warp_points(p.reshape(-1, 2) * INPUT_SIZE, cv2.invertAffineTransform(m))
                for p, m in zip(normalised, matrices)]

    def __call__(self, image, boxes, passes=None):
        """Landmarks (pixels) per box, and how far the last pass moved them (in box sides)."""
        if not boxes:
            return [], []
        points = self._predict(image, boxes)
        change = [0.0] * len(points)
        for _ in range(self.refine if passes is None else passes):
            boxes = [refined_box(p, box) for p, box in zip(points, boxes)]
            refined = self._predict(image, boxes)
            change = [float(np.linalg.norm(r - p, axis=1).mean() / side) for r, p, (_, side) in
                      zip(refined, points, boxes)]
            points = refined
        return points, change


def point_box(points):
    centre, extent = landmark_box(points)
    return centre, float(extent.max())


def refined_box(points, previous):
    """The landmark box of an answer, or the previous box when the answer collapsed (< 0.3x its size)."""
    centre, side = point_box(points)
    return (centre, side) if side >= 0.3 * previous[1] else previous


def box_face(box):
    """(centre, side) of a --box given as the face's landmark box x1 y1 x2 y2."""
    x1, y1, x2, y2 = box
    if not np.isfinite(box).all() or x2 <= x1 or y2 <= y1:
        raise DataError(f"--box {x1:g} {y1:g} {x2:g} {y2:g}: expected x1 y1 x2 y2 with x2 > x1 and y2 > y1")
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2]), max(x2 - x1, y2 - y1)


def find_faces(image, calibration, box=None):
    """[(detector box, score, landmark-box centre, side)] of every face: from --box or the detector."""
    if box is not None:
        centre, side = box_face(box)
        return [(np.asarray(box, np.float64), 1.0, centre, side)]
    return [(d.box, d.score, *calibration.landmark_box(d.box)) for d in detect_faces(image)]


def predict_image(landmarker, calibration, image_path, box=None):
    """The image and one dict per face: box, score and landmarks in image pixels."""
    image = read_image(image_path, image_path)
    found = find_faces(image, calibration, box)
    if not found:
        raise NoFaceError(f"{image_path}: no face found (give --box x1 y1 x2 y2)")
    points, _ = landmarker(image, [(centre, side) for _, _, centre, side in found])
    return image, [face_record(b, s, p) for (b, s, _, _), p in zip(found, points)]


def face_record(box, score, points):
    return {"box": np.round(np.asarray(box, np.float64), 1).tolist(), "score": round(float(score), 3),
            "landmarks": np.round(points, 2).tolist()}


def draw_faces(image, faces):
    canvas = image.copy()
    radius = max(1, round(max(image.shape[:2]) / 300))
    for face in faces:
        x1, y1, x2, y2 = (int(round(v)) for v in face["box"])
        cv2.rectangle(canvas, (x1, y1), (x2, y2), (255, 160, 0), max(1, radius // 2), cv2.LINE_AA)
        for x, y in face["landmarks"]:
            cv2.circle(canvas, (int(round(x)), int(round(y))), radius, (0, 255, 0), -1, cv2.LINE_AA)
    return canvas


def output_stem(path):
    """``face.jpg`` -> ``face_jpg``: two inputs of one folder never write the same output file."""
    return f"{path.stem}_{path.suffix.lstrip('.')}" if path.suffix else path.stem


class Tracker:
    """Faces followed from their previous landmarks, frame to frame. A track is lost when a refine pass
    moves its points by more than LOST_CHANGE box sides (the crop no longer holds a face the model
    agrees with) or it leaves the frame; the detector runs then, on the first frame, and every
    ``redetect`` frames to pick up new faces."""

    def __init__(self, landmarker, calibration, redetect=30, box=None):
        self.landmarker, self.calibration, self.redetect, self.box = landmarker, calibration, redetect, box
        self.tracks, self.frame, self.next_id, self.detector_runs = [], 0, 0, 0

    def _follow(self, frame):
        if not self.tracks:
            return False
        points, change = self.landmarker(frame, [point_box(t["points"]) for t in self.tracks], passes=1)
        height, width = frame.shape[:2]
        kept = [dict(t, points=p) for t, p, c in zip(self.tracks, points, change)
                if c <= LOST_CHANGE and 0 <= point_box(p)[0][0] < width and 0 <= point_box(p)[0][1] < height]
        lost = len(kept) < len(self.tracks)
        self.tracks = kept
        return lost

    def _detect(self, frame):
        self.detector_runs += 1
        found = find_faces(frame, self.calibration, self.box if self.frame == 0 else None)
        boxes = [landmark_xyxy(t["points"]) for t in self.tracks]
        fresh = [(b, s, c, e) for b, s, c, e in found
                 if all(box_iou(np.r_[c - e / 2, c + e / 2], other) <= 0.3 for other in boxes)]
        points, _ = self.landmarker(frame, [(c, e) for _, _, c, e in fresh])
        for (_, score, _, _), p in zip(fresh, points):
            self.tracks.append({"id": self.next_id, "score": score, "points": p})
            self.next_id += 1

    def step(self, frame):
        """This frame's faces (box = the landmark box of the tracked points)."""
        lost = self._follow(frame)
        if lost or not self.tracks or self.frame % self.redetect == 0:
            self._detect(frame)
        self.frame += 1
        return [dict(face_record(landmark_xyxy(t["points"]), t["score"], t["points"]), track=t["id"])
                for t in self.tracks]


def landmark_xyxy(points):
    return np.r_[points.min(axis=0), points.max(axis=0)]


def open_video(source):
    capture = cv2.VideoCapture(int(source) if str(source).isdigit() else str(source))
    if not capture.isOpened():
        raise DataError(f"{source}: cannot open the video (or camera)")
    return capture


def run_video(args, landmarker, calibration, out):
    """Annotated video and one JSON line per frame; prints frames per second."""
    capture = open_video(args.source)
    name = f"webcam{args.source}" if str(args.source).isdigit() else output_stem(Path(args.source))
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    tracker, writer, frames = Tracker(landmarker, calibration, args.redetect, args.box), None, 0
    started = time.perf_counter()
    with open(out / f"{name}.jsonl", "w") as log:
        while args.max_frames is None or frames < args.max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            faces = tracker.step(frame)
            if writer is None:
                writer = cv2.VideoWriter(str(out / f"{name}_landmarks.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                         (frame.shape[1], frame.shape[0]))
            writer.write(draw_faces(frame, faces))
            log.write(json.dumps({"frame": frames, "faces": faces}) + "\n")
            frames += 1
    capture.release()
    if writer is not None:
        writer.release()
    if frames == 0:
        raise DataError(f"{args.source}: no frame could be read")
    seconds = time.perf_counter() - started
    print(f"{args.source}: {frames} frames in {seconds:.1f} s ({frames / seconds:.1f} frames/s), detector run on "
          f"{tracker.detector_runs} -> {out / (name + '_landmarks.mp4')}, {out / (name + '.jsonl')}")


def image_paths(source):
    source = Path(source)
    if source.is_dir():
        return sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not source.is_file():
        raise DataError(f"{source}: no such image, video or folder")
    return [source]


def run_images(args, landmarker, calibration, out):
    paths = image_paths(args.source)
    failures = []
    for path in paths:
        try:
            image, faces = predict_image(landmarker, calibration, path, args.box)
        except DataError as error:
            if len(paths) == 1:
                raise
            print(f"error: {error}", file=sys.stderr)
            failures.append(path)
            continue
        stem = output_stem(path)
        cv2.imwrite(str(out / f"{stem}_landmarks.png"), draw_faces(image, faces))
        (out / f"{stem}.json").write_text(json.dumps({"image": str(path), "faces": faces}, indent=1) + "\n")
        print(f"{path}: {len(faces)} face(s) -> {out / (stem + '_landmarks.png')}")
    if failures:
        sys.exit(f"error: {len(failures)} of {len(paths)} image(s) of {args.source} failed")


def is_video(source):
    return str(source).isdigit() or Path(source).suffix.lower() in VIDEO_EXTENSIONS


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
    args = parser.parse_args(argv)
    if args.refine < 0 or args.redetect < 1 or (args.max_frames is not None and args.max_frames < 1):
        parser.error("--refine must be >= 0, --redetect and --max_frames >= 1")
    return args


def run(args):
    if args.box:
        box_face(args.box)  # checked before any work
    calibration = Calibration.load(args.calibration)
    landmarker = FaceLandmarker(LandmarkPredictor(args.model, args.flip), args.refine)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (run_video if is_video(args.source) else run_images)(args, landmarker, calibration, out)


def main(argv=None):
    exit_on_user_error(run, parse_args(argv))


if __name__ == "__main__":
    main()
