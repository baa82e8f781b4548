"""Learn how the detector's boxes sit relative to the landmark boxes the model was trained on, on
training faces (never the test split), and write the map and its spread as JSON.

    python -m tools.calibrate_detector --faces ../shared/data/faces68/train --out fbnet_pfld/data/detector_yuface.json

predict.py maps every detection through this file; retrain.py/supernet_train.py --jitter FILE train
with crops jittered by the spread it records.
"""

from pathlib import Path

from tqdm import tqdm

from fbnet_pfld.cli import Parser, exit_on_user_error
from fbnet_pfld.dataset import read_image
from fbnet_pfld.detector import calibrate
from fbnet_pfld.prepare import read_pts_folder


def parse_args(argv=None):
    parser = Parser(__doc__)
    parser.add_argument("--faces", required=True, help="a folder of images with .pts files (training faces)")
    parser.add_argument("--out", default="fbnet_pfld/data/detector_yuface.json")
    parser.add_argument("--rotate", type=float, default=30.0, help="rotation jitter to record (degrees)")
    return parser.parse_args(argv)


def run(args):
    faces = [(read_image(face.image, face.image), face.points)
             for face in tqdm(read_pts_folder(args.faces), desc="reading faces", unit="face")]
    calibration = calibrate(faces, rotate=args.rotate)
    calibration.save(args.out)
    print(f"{calibration.detector}: found {calibration.found} of {calibration.faces} faces of {args.faces}; "
          f"landmark box centre = box centre + ({calibration.offset[0]:+.3f} w, {calibration.offset[1]:+.3f} h), "
          f"side = {calibration.side_scale:.3f} w; residual spread: shift {calibration.jitter.shift:.3f} box sides, "
          f"log scale {calibration.jitter.scale:.3f} -> {Path(args.out)}")


def main(argv=None):
    exit_on_user_error(run, parse_args(argv))


if __name__ == "__main__":
    main()
