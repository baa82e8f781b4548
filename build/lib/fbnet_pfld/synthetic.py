"""A small generated face-like dataset in the reference layout, for any point count.

For plumbing (tests, a first run on a fresh machine), not accuracy: each image is a drawn face
(head ellipse, eyes, nose, mouth) under a random pose, and its K landmarks are a fixed template
moved by the same pose, so a network can learn them from the pixels.

    python -m fbnet_pfld.synthetic --out data/synthetic --num_points 68 --train 512 --test 128
"""

import math
from pathlib import Path

import cv2
import numpy as np

from fbnet_pfld.cli import Parser
from fbnet_pfld.dataset import INPUT_SIZE, write_list_file
from fbnet_pfld.points import flip_permutation

GOLDEN_ANGLE = math.pi * (3 - math.sqrt(5))


def template(num_points):
    """K distinct points spread over the face disc (a sunflower pattern), mirror-symmetric under the
    point scheme's left/right pairs where it has them, so flip augmentation keeps labels right."""
    i = np.arange(num_points) + 0.5
    radius = np.sqrt(i / num_points)
    points = np.stack([0.34 * radius * np.cos(i * GOLDEN_ANGLE), 0.42 * radius * np.sin(i * GOLDEN_ANGLE)], axis=1)
    perm = flip_permutation(num_points)
    for a, b in enumerate(perm or []):
        if a == b:
            points[a, 0] = 0.0
        elif a < b:
            points[a, 0] = -abs(points[a, 0])
            points[b] = (-points[a, 0], points[a, 1])
    return points


def random_pose(rng):
    return {"roll": rng.uniform(-25, 25), "yaw": rng.uniform(-35, 35), "pitch": rng.uniform(-10, 10),
            "scale": rng.uniform(0.85, 1.1), "shift": rng.uniform(-0.06, 0.06, 2)}


def apply_pose(points, pose):
    """Face-frame points (unit = crop side, origin = face centre) -> normalised crop coordinates."""
    squeezed = points * np.array([math.cos(math.radians(pose["yaw"])), 1.0]) * pose["scale"]
    a = math.radians(pose["roll"])
    rotation = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return squeezed @ rotation.T + 0.5 + pose["shift"]


def draw_face(pose, rng):
    """A BGR 112x112 face whose drawn features move with ``pose`` exactly as the template does."""
    size = INPUT_SIZE
    image = np.full((size, size, 3), rng.integers(30, 200, 3), np.uint8)
    for _ in range(4):  # background clutter
        p1, p2 = rng.integers(0, size, 2), rng.integers(0, size, 2)
        cv2.line(image, tuple(int(v) for v in p1), tuple(int(v) for v in p2),
                 tuple(int(v) for v in rng.integers(0, 255, 3)), int(rng.integers(1, 4)))

    def px(points):
        return np.round(apply_pose(np.asarray(points, np.float64), pose) * size).astype(np.int32)

    outline = np.stack([0.40 * np.cos(np.linspace(0, 2 * np.pi, 48)), 0.50 * np.sin(np.linspace(0, 2 * np.pi, 48))], 1)
    skin = tuple(int(v) for v in rng.integers(90, 240, 3))
    cv2.fillPoly(image, [px(outline)], skin)
    dark = tuple(int(v) for v in rng.integers(0, 60, 3))
    for cx in (-0.15, 0.15):  # eyes: ellipses with pupils
        eye = np.stack([cx + 0.08 * np.cos(np.linspace(0, 2 * np.pi, 16)),
                        -0.13 + 0.035 * np.sin(np.linspace(0, 2 * np.pi, 16))], 1)
        cv2.fillPoly(image, [px(eye)], (235, 235, 235))
        cv2.circle(image, tuple(int(v) for v in px([[cx, -0.13]])[0]), 3, dark, -1)
    for side in (-1, 1):  # brows
        cv2.polylines(image, [px([[side * 0.07, -0.22], [side * 0.24, -0.23]])], False, dark, 2)
    cv2.polylines(image, [px([[0.0, -0.08], [0.04, 0.08], [-0.04, 0.08]])], True, dark, 2)  # nose
    mouth = np.stack([0.13 * np.cos(np.linspace(0, np.pi, 16)), 0.24 + 0.05 * np.sin(np.linspace(0, np.pi, 16))], 1)
    cv2.fillPoly(image, [px(mouth)], (40, 40, 170))
    return image


def make_split(out_root, split, count, num_points, rng):
    folder = Path(out_root) / f"{split}_data" / "imgs"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    base = template(num_points)
    for i in range(count):
        pose = random_pose(rng)
        relative = f"{split}_data/imgs/face{i:05d}__0.png"
        cv2.imwrite(str(Path(out_root) / relative), draw_face(pose, rng))
        rows.append((relative, apply_pose(base, pose), (pose["pitch"], pose["yaw"], pose["roll"])))
    write_list_file(Path(out_root) / f"{split}_data" / "list.txt", rows)


def make_synthetic_dataset(out_root, num_points=68, train=512, test=128, seed=0):
    """Write a generated dataset to ``out_root`` and return its path."""
    rng = np.random.default_rng(seed)
    make_split(out_root, "train", train, num_points, rng)
    make_split(out_root, "test", test, num_points, rng)
    return Path(out_root)


def main(argv=None):
    parser = Parser(__doc__)
    parser.add_argument("--out", default="data/synthetic")
    parser.add_argument("--num_points", type=int, default=68)
    parser.add_argument("--train", type=int, default=512)
    parser.add_argument("--test", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    root = make_synthetic_dataset(args.out, args.num_points, args.train, args.test, args.seed)
    print(f"wrote {args.train} train and {args.test} test faces with {args.num_points} points to {root}")


if __name__ == "__main__":
    main()
