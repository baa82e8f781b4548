"""Are a collection's points hand labels or a heatmap network's? A network that reads points off a coarse
heatmap leaves them on a lattice: every coordinate near a multiple of one period (the heatmap's cell in the
image). This tool scans periods and measures, per face, how strongly its x and y coordinates gather on
one lattice (the Rayleigh statistic |mean exp(2 pi i v / P)|, 0 for spread values, 1 for all on the lattice,
about 0.12 for 68 random values), and reports per collection the share of faces whose best period scores
above --threshold, with that period in units of the face's jaw width (68-point faces).

    python -m tools.label_grid ../shared/data/faces68/train --out docs/results/label_grid
"""

from collections import defaultdict
from pathlib import Path

import numpy as np

from fbnet_pfld.cli import Parser, exit_on_user_error
from fbnet_pfld.errors import DataError
from fbnet_pfld.prepare import read_pts
from fbnet_pfld.sources import source_of
from fbnet_pfld.writes import write_text

PERIODS = np.linspace(1.6, 12.0, 521)  # pixels


def lattice_score(points, periods=PERIODS):
    """(best score, its period) of a face: the mean over x and y of the Rayleigh statistic, best period."""
    phases = 2j * np.pi * points[None, :, :] / periods[:, None, None]  # [P, K, 2]
    scores = np.abs(np.exp(phases).mean(axis=1)).mean(axis=1)
    best = int(scores.argmax())
    return float(scores[best]), float(periods[best])


def scan(folder, threshold):
    """Per collection: faces, faces on a lattice, median period over the jaw width of those faces."""
    files = sorted(Path(folder).glob("*.pts"))
    if not files:
        raise DataError(f"{folder}: no .pts files")
    by = defaultdict(lambda: {"faces": 0, "lattice": 0, "periods": [], "scores": []})
    for pts in files:
        points = read_pts(pts)
        score, period = lattice_score(points)
        entry = by[source_of(pts)]
        entry["faces"] += 1
        entry["scores"].append(score)
        if score > threshold:
            entry["lattice"] += 1
            if len(points) == 68:
                entry["periods"].append(period / np.linalg.norm(points[16] - points[0]))
    return by


def report(by, threshold):
    lines = [f"| collection | faces | on a lattice (score > {threshold:g}) | median score | median period / jaw |",
             "|---|---:|---:|---:|---:|"]
    for name, e in sorted(by.items()):
        period = f"1/{1 / np.median(e['periods']):.1f}" if e["periods"] else "-"
        lines.append(f"| {name} | {e['faces']} | {e['lattice']} ({100 * e['lattice'] / e['faces']:.0f}%) | "
                     f"{np.median(e['scores']):.2f} | {period} |")
    return "\n".join(lines)


def main(argv=None):
    parser = Parser(__doc__)
    parser.add_argument("folder", help="a folder of images with 300-W .pts files beside them")
    parser.add_argument("--threshold", type=float, default=0.5, help="lattice score above which a face counts")
    parser.add_argument("--out", help="write OUT.md with the table")
    args = parser.parse_args(argv)
    if not 0 < args.threshold < 1:
        parser.error(f"--threshold must be within (0, 1), got {args.threshold}")
    table = report(exit_on_user_error(scan, args.folder, args.threshold), args.threshold)
    print(table)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        write_text(Path(args.out).with_suffix(".md"), table + "\n")


if __name__ == "__main__":
    main()
