"""The video filter seen on a real photo: a still clip of the photo (fbnet_pfld/clips.py: the same frame with
fresh sensor noise and JPEG compression every frame, so every movement of the points is jitter), tracked raw
and filtered, written as OUT.mp4 (the clip) and OUT.gif (an eye, raw left, filtered right, zoomed), with
the points' mean movement from frame to frame printed for both.

    python -m tools.play_filter fbnet_pfld/data/astronaut.jpg --model released/subnet.onnx --out output/filter
"""

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from fbnet_pfld import Landmarker
from fbnet_pfld.argtypes import positive_int
from fbnet_pfld.cli import Parser, exit_on_user_error
from fbnet_pfld.clips import make_clip
from fbnet_pfld.dataset import read_image
from fbnet_pfld.writes import replacing

ZOOM = 160  # pixels: the side of each half of the GIF


def tracked(landmarker, frames, smooth):
    """[T, K, 2] points of the first face in each frame (the frames all show one face)."""
    return np.array([faces[0]["landmarks"] for faces in landmarker.track(frames, smooth=smooth)])


def movement(points):
    """Mean distance a point moves from one frame to the next, in pixels."""
    return float(np.linalg.norm(np.diff(points, axis=0), axis=2).mean())


def panel(frame, points, box, colour):
    """The box's part of the frame, zoomed to ZOOM pixels, with the points drawn at sub-pixel precision."""
    x1, y1, side = box
    zoom = ZOOM / side
    canvas = cv2.resize(frame[y1:y1 + side, x1:x1 + side], (ZOOM, ZOOM), interpolation=cv2.INTER_CUBIC)
    for x, y in (points - (x1, y1)) * zoom:
        cv2.circle(canvas, (int(round(16 * x)), int(round(16 * y))), 16 * 3, colour, -1, cv2.LINE_AA, shift=4)
    return canvas


def write_gif(path, frames, raw, smooth, fps=30):
    """Raw left, filtered right: the right eye's region (points 36-41 of the 68) zoomed, one GIF frame a frame."""
    eye = raw[0][36:42]
    side = int(2 * np.ptp(eye[:, 0]))
    x1, y1 = (eye.mean(axis=0) - side / 2).astype(int).clip(0)
    box = (int(x1), int(y1), side)
    pictures = [Image.fromarray(cv2.cvtColor(np.hstack([panel(f, r, box, (0, 0, 255)), panel(f, s, box, (0, 200, 0))]),
                                             cv2.COLOR_BGR2RGB)).quantize(64) for f, r, s in zip(frames, raw, smooth)]
    with replacing(path) as temp:
        pictures[0].save(temp, format="GIF", save_all=True, append_images=pictures[1:], duration=int(1000 / fps),
                         loop=0)


def run(args):
    image = read_image(args.photo, args.photo)
    landmarker = Landmarker(args.model)
    found = landmarker(image)
    if not found:
        raise SystemExit(f"error: {args.photo}: no face found to make a clip of")
    clip = make_clip(image, found[0].landmarks, "still", args.frames, seed=0)
    raw, smooth = tracked(landmarker, clip.frames, False), tracked(landmarker, clip.frames, True)
    out = Path(args.out)
    with replacing(out.with_suffix(".mp4")) as temp:
        writer = cv2.VideoWriter(str(temp), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, clip.frames[0].shape[1::-1])
        for frame in clip.frames:
            writer.write(frame)
        writer.release()
    write_gif(out.with_suffix(".gif"), clip.frames, raw, smooth)
    print(f"{args.photo}, still for {args.frames} frames at 30 fps: the points move {movement(raw):.2f} px a frame "
          f"raw, {movement(smooth):.2f} filtered ({movement(smooth) / movement(raw):.2f}x) -> "
          f"{out.with_suffix('.mp4')}, {out.with_suffix('.gif')} (raw left, filtered right)")


def main(argv=None):
    parser = Parser(__doc__)
    parser.add_argument("photo", help="a photo with one face")
    parser.add_argument("--model", default="released/subnet.onnx")
    parser.add_argument("--frames", type=positive_int, default=30)
    parser.add_argument("--out", default="output/filter", help="writes OUT.mp4 and OUT.gif")
    exit_on_user_error(run, parser.parse_args(argv))


if __name__ == "__main__":
    main()
