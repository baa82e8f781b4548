"""Training recipes compared by time to accuracy: each arm is a retrain.py run with its own flags; the arms
take turns, a few epochs at a time, in one process, so a busy machine slows them alike. An arm's wall time
is the sum of its epochs' seconds (training, validation and saving; not start-up). Prints, for each arm,
the minutes it took to first reach each NME and its last and lowest NME; writes OUT.csv, OUT.md and
OUT.png (NME io against wall minutes, every arm on one figure). Resumable: run it again to continue.

    python -m tools.time_to_accuracy --out runs/tta --nme 8 7 6.5 6.14 \\
        --common "--model subnet --arch released/arch.json --from_scratch --data_root data/faces68 --dev_id cpu" \\
        --arm "today=--lr 1e-3 --epochs 60" --arm "lr4e-3=--lr 4e-3 --epochs 60"
"""

import csv
import math
import shlex
from pathlib import Path

from fbnet_pfld.cli import Parser, run_to_end
from fbnet_pfld.utils import read_csv_rows
from fbnet_pfld.writes import write_text

CHUNK_EPOCHS = 5


def parse_arm(text):
    """``"NAME=FLAGS"`` -> (name, [flags]); the name must suit a folder."""
    name, sep, flags = text.partition("=")
    if not sep or not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ValueError(f"--arm {text!r}: expected NAME=FLAGS with a name of letters, digits, '-', '_', '.'")
    return name, shlex.split(flags)


def arm_plan(flags):
    """(model name, epochs) of an arm's retrain.py flags, read as retrain.py reads them (``--epochs=2``,
    defaults, the last of a repeated flag); bad flags are retrain.py's own one-line error."""
    import retrain

    args = retrain.parse_args(flags)
    return args.model, args.epochs


def arm_curve(folder):
    """[(wall minutes, NME io %)] of a retrain run folder, one point per epoch done."""
    log = Path(folder) / "log.csv"
    if not log.is_file():
        return []
    curve, seconds = [], 0.0
    for row in read_csv_rows(log):
        seconds += float(row["seconds"])
        curve.append((seconds / 60, 100 * float(row["nme_io"])))
    return curve


def minutes_to(curve, nme):
    """Wall minutes when the curve first reaches ``nme`` (%), or None."""
    return next((minutes for minutes, value in curve if value <= nme), None)


def run_arms(arms, common, out, chunk=CHUNK_EPOCHS):
    """Train every arm to its --epochs, ``chunk`` epochs a turn, round robin. An arm whose turn adds no epoch
    stops the run with one line (it would otherwise be asked again for ever)."""
    import retrain

    pending = dict(arms)
    while pending:
        for name, flags in list(pending.items()):
            all_flags = [*common, *flags, "--snapshot", str(Path(out) / name)]
            model, epochs = arm_plan(all_flags)
            folder = Path(out) / name / model
            done = len(arm_curve(folder))
            if done >= epochs:
                del pending[name]
                continue
            run_to_end(retrain.main, all_flags, folder, min(epochs, done + chunk))
            if len(arm_curve(folder)) <= done:
                raise SystemExit(f"error: arm {name}: {folder} gained no epoch this turn ({done} of {epochs} in "
                                 "its log.csv); is it another run's folder?")


def summarise(curves, thresholds):
    """Rows of the report: arm, epochs, wall minutes, last and lowest NME, minutes to each threshold."""
    rows = []
    for name, curve in curves.items():
        if not curve:
            continue
        row = {"arm": name, "epochs": len(curve), "wall_min": f"{curve[-1][0]:.1f}",
               "last_nme_io": f"{curve[-1][1]:.2f}", "lowest_nme_io": f"{min(v for _, v in curve):.2f}"}
        for nme in thresholds:
            reached = minutes_to(curve, nme)
            row[f"min_to_{nme:g}"] = "-" if reached is None else f"{reached:.1f}"
        rows.append(row)
    return rows


def write_report(rows, out):
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fields = list(rows[0])
    with open(out.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| " + " | ".join(fields) + " |", "|" + "---|" * len(fields)]
    lines += ["| " + " | ".join(str(row[k]) for k in fields) + " |" for row in rows]
    write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")
    return "\n".join(lines)


def plot(curves, thresholds, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for k, (name, curve) in enumerate(curves.items()):  # ten colours, then the same ten dashed
        ax.plot([m for m, _ in curve], [v for _, v in curve], label=name, linewidth=1.2,
                linestyle="-" if k < 10 else "--")
    for nme in thresholds:
        ax.axhline(nme, color="grey", linewidth=0.6, linestyle=":")
    finite = [v for curve in curves.values() for _, v in curve if math.isfinite(v)]
    if finite:
        ax.set_ylim(min(finite) * 0.95, min(max(finite), 3 * min(finite)))
    ax.set_xlabel("training wall time (min)")
    ax.set_ylabel("NME io (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_args(argv=None):
    parser = Parser(__doc__)
    parser.add_argument("--arm", action="append", required=True, help="NAME=FLAGS of one retrain.py run")
    parser.add_argument("--common", default="", help="flags every arm shares")
    parser.add_argument("--out", default="runs/time_to_accuracy", help="folder of the arms' runs and the report")
    parser.add_argument("--nme", type=float, nargs="+", default=[8.0, 7.0, 6.5], help="NME io thresholds (%%)")
    parser.add_argument("--chunk", type=int, default=CHUNK_EPOCHS, help="epochs an arm trains per turn")
    parser.add_argument("--report_only", action="store_true", help="report the runs as they are, train nothing")
    args = parser.parse_args(argv)
    try:
        args.arms = dict(parse_arm(text) for text in args.arm)
    except ValueError as error:
        parser.error(str(error))
    if args.chunk < 1 or len(args.arms) != len(args.arm):
        parser.error("--chunk must be >= 1 and arm names unique")
    return args


def main(argv=None):
    args = parse_args(argv)
    common = shlex.split(args.common)
    if not args.report_only:
        run_arms(args.arms, common, args.out, args.chunk)
    curves = {name: arm_curve(Path(args.out) / name / arm_plan([*common, *flags])[0])
              for name, flags in args.arms.items()}
    rows = summarise(curves, args.nme)
    if not rows:
        raise SystemExit(f"error: {args.out}: no arm has a log.csv yet")
    print(write_report(rows, Path(args.out) / "report"))
    plot(curves, args.nme, Path(args.out) / "report.png")
    print(f"report: {Path(args.out) / 'report.md'}, {Path(args.out) / 'report.csv'}, {Path(args.out) / 'report.png'}")


if __name__ == "__main__":
    main()
