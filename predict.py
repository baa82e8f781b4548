"""Landmarks on your own photos: image or folder -> face box -> crop as in preparation -> model ->
points in image pixels, drawn on a PNG and written as JSON.

    python predict.py photo.jpg --model output/subnet.onnx
    python predict.py photos/ --model ckpt_save/subnet/checkpoint_best.pth --out output/predict
    python predict.py photo.jpg --model output/subnet.onnx --box 120 80 260 240   # skip the detector

The face box comes from OpenCV's bundled Haar detector (the largest face), or from --box, which is
read as the box of the face's landmarks (what the training crops were centred on).
"""

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from blocks import INPUT_SIZE
from cli import Parser, exit_on_user_error
from data.prepare import IMAGE_EXTENSIONS
from dataset import TEST_CROP_SCALE, DataError, crop_face, face_crop_matrix, read_image, warp_points

# Haar box -> landmark box, measured on faces68/val (288 of 337 faces detected): the landmark box's
# centre lies 0.15 box heights below the detection's and its longer side is 0.94 detection widths.
HAAR_CENTRE_SHIFT = 0.15
HAAR_SIDE_SCALE = 0.94


class NoFaceError(DataError):
    pass


def detect_face(image, where):
    """(centre, side) of the landmark box of the largest face OpenCV's Haar detector finds."""
    detector = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    grey = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    faces = detector.detectMultiScale(grey, 1.1, 5, minSize=(30, 30))
    if len(faces) == 0:
        raise NoFaceError(f"{where}: no face found (give --box x1 y1 x2 y2)")
    x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
    return np.array([x + w / 2, y + h / 2 + HAAR_CENTRE_SHIFT * h]), HAAR_SIDE_SCALE * w


def box_face(box):
    x1, y1, x2, y2 = box
    if not np.isfinite(box).all() or x2 <= x1 or y2 <= y1:
        raise DataError(f"--box {x1:g} {y1:g} {x2:g} {y2:g}: expected x1 y1 x2 y2 with x2 > x1 and y2 > y1")
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2]), max(x2 - x1, y2 - y1)


class LandmarkPredictor:
    """An ONNX file (onnxruntime) or a retrain checkpoint (PyTorch): 112x112 BGR crops -> [N, 2K] in [0,1]."""

    def __init__(self, path):
        self.path = Path(path)
        if self.path.suffix == ".onnx":
            from deploy import OrtSession

            self.session = OrtSession(self.path, threads=1)
        else:
            from checkpoints import load_landmark_model

            self.model, _ = load_landmark_model(self.path)
            self.session = None

    def __call__(self, crops):
        batch = np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        if self.session is not None:
            return self.session.run({self.session.input_names[0]: batch})[0]
        with torch.no_grad():
            return self.model(torch.from_numpy(batch))[0].numpy()


def predict_image(predictor, image_path, box=None):
    """Landmarks of the face in ``image_path`` in image pixels, with the crop matrix used."""
    image = read_image(image_path, image_path)
    centre, side = box_face(box) if box else detect_face(image, image_path)
    matrix = face_crop_matrix(centre, TEST_CROP_SCALE * side)
    normalised = predictor([crop_face(image, matrix)])[0].reshape(-1, 2)
    points = warp_points(normalised * INPUT_SIZE, cv2.invertAffineTransform(matrix))
    return image, points, {"centre": centre.tolist(), "side": float(side)}


def draw_points(image, points):
    canvas = image.copy()
    radius = max(1, round(max(image.shape[:2]) / 250))
    for x, y in points:
        cv2.circle(canvas, (int(round(x)), int(round(y))), radius, (0, 255, 0), -1, cv2.LINE_AA)
    return canvas


def image_paths(source):
    source = Path(source)
    if source.is_dir():
        return sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not source.is_file():
        raise DataError(f"{source}: no such image or folder")
    return [source]


def output_stem(path):
    """``face.jpg`` -> ``face_jpg``: two images of one folder never write the same output file."""
    return f"{path.stem}_{path.suffix.lstrip('.')}" if path.suffix else path.stem


def parse_args(argv=None):
    parser = Parser(__doc__)
    parser.add_argument("source", help="an image or a folder of images")
    parser.add_argument("--model", default="output/subnet.onnx", help=".onnx file or retrain checkpoint (.pth)")
    parser.add_argument("--box", type=float, nargs=4, metavar=("X1", "Y1", "X2", "Y2"),
                        help="face landmark box in pixels instead of the detector")
    parser.add_argument("--out", default="output/predict", help="folder for NAME_EXT_landmarks.png and NAME_EXT.json")
    return parser.parse_args(argv)


def run(args):
    if args.box:
        box_face(args.box)  # checked before any work
    paths = image_paths(args.source)
    predictor = LandmarkPredictor(args.model)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    failures = []
    for path in paths:
        try:
            image, points, face = predict_image(predictor, path, args.box)
        except DataError as error:
            if len(paths) == 1:
                raise
            print(f"error: {error}", file=sys.stderr)
            failures.append(path)
            continue
        stem = output_stem(path)
        cv2.imwrite(str(out / f"{stem}_landmarks.png"), draw_points(image, points))
        (out / f"{stem}.json").write_text(json.dumps(
            {"image": str(path), "face": face, "landmarks": np.round(points, 2).tolist()}, indent=1) + "\n")
        print(f"{path}: {len(points)} landmarks -> {out / (stem + '_landmarks.png')}")
    if failures:
        sys.exit(f"error: {len(failures)} of {len(paths)} image(s) of {args.source} failed")


def main(argv=None):
    exit_on_user_error(run, parse_args(argv))


if __name__ == "__main__":
    main()
