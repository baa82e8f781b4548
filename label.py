"""Label unlabelled faces (prepare.py --source images) with teachers, and keep the faces they agree on.

    python label.py run --data data/faces_plus --teacher dlib            # pip install .[teacher]
    python label.py run --data data/faces_plus --teacher ensemble --models released/subnet.onnx released/pfld_lite.onnx
    python label.py agreement --data runs/afw_teachers --teachers dlib ensemble   # against .pts ground truth
    python label.py merge --data data/faces_plus --teachers dlib ensemble --threshold 0.05

``run`` labels each face once into DATA/train_data/labels/TEACHER.jsonl with a confidence; run it again to
continue after a kill. ``merge`` writes the faces every teacher labelled, no two more than --threshold
apart (inter-ocular units), as the mean of their points, into DATA/train_data/list.txt with the label
source ``teacher:A+B``; the other lines stay, other merges' included, so one list can hold several
teachers' labels of the same faces and training chooses by ``--source_weights label:teacher:A=1,...``.
``agreement`` reports, on faces prepared from images with .pts files beside them, each teacher's NME and
the faces each threshold keeps (how --threshold is chosen).
"""

import math

from fbnet_pfld.cli import Parser, exit_on_user_error
from fbnet_pfld.labelling import agreement, label_folder, labels_path, merge
from fbnet_pfld.teachers import make_teacher

THRESHOLDS = (0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.10, math.inf)


def parse_args(argv=None):
    parser = Parser(__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="label every face not labelled yet by one teacher")
    run.add_argument("--teacher", choices=["dlib", "ensemble"], required=True)
    run.add_argument("--models", nargs="+", default=["released/subnet.onnx", "released/pfld_lite.onnx"],
                     help="the ensemble's landmark models (ONNX)")
    run.add_argument("--refine", type=int, default=2, help="the ensemble's re-crops around its own answer")
    run.add_argument("--batch", type=int, default=128, help="faces per batch")
    for name, helptext in (("merge", "write the faces the teachers agree on into the training list"),
                           ("agreement", "each teacher's NME against ground truth, per threshold")):
        command = sub.add_parser(name, help=helptext)
        command.add_argument("--teachers", nargs="+", required=True, help="teacher names (their labels files)")
        if name == "merge":
            command.add_argument("--threshold", type=float, required=True, help="largest disagreement kept, in "
                                 "inter-ocular units (0.05 = 5%%); chosen with 'agreement'")
    for command in sub.choices.values():
        command.add_argument("--data", required=True, help="DATA_ROOT prepared with --source images")
    args = parser.parse_args(argv)
    if args.command == "run" and not (0 <= args.refine <= 5 and 1 <= args.batch <= 4096):
        parser.error(f"--refine must be within [0, 5] and --batch within [1, 4096], got {args.refine}, {args.batch}")
    if args.command == "merge" and not (math.isfinite(args.threshold) and 0 < args.threshold <= 1):
        parser.error(f"--threshold must be within (0, 1] (inter-ocular units), got {args.threshold}")
    return args


def run(args):
    if args.command == "run":
        teacher = make_teacher(args.teacher, args.models, args.refine)
        labelled, failed = label_folder(args.data, teacher, args.batch)
        print(f"{teacher.name}: labelled {labelled - failed} faces now ({failed} it could not label) -> "
              f"{labels_path(args.data, teacher.name)}")
    elif args.command == "merge":
        report = merge(args.data, args.teachers, args.threshold)
        for collection in sorted({c for c, _ in report}):
            reasons = ", ".join(f"{n} {why}" for (c, why), n in sorted(report.items()) if c == collection)
            print(f"{collection}: {reasons}")
        kept = sum(n for (_, why), n in report.items() if why == "kept")
        print(f"kept {kept} faces -> {args.data}/train_data/list.txt")
    else:
        rows = agreement(args.data, args.teachers, THRESHOLDS)
        names = [k for k in rows[0] if k not in ("threshold", "kept", "faces")]
        print("| threshold | faces kept | " + " | ".join(f"NME {n} %" for n in names) + " |")
        print("|---:|---:|" + "---:|" * len(names))
        for row in rows:
            print(f"| {row['threshold']:g} | {row['kept']} of {row['faces']} | "
                  + " | ".join(f"{row[n]:.2f}" for n in names) + " |")


def main(argv=None):
    args = parse_args(argv)
    if len(getattr(args, "teachers", [])) != len(set(getattr(args, "teachers", []))):
        raise SystemExit("error: --teachers names a teacher twice")
    exit_on_user_error(run, args)


if __name__ == "__main__":
    main()
