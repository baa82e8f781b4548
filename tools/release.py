"""Package trained results under released/: slim checkpoints (no optimiser state), ONNX and MNN files,
arch.json, the lookup table used, logs and plots (fine_tunes.png: every fine-tune's test NME on one axis),
training.md (each run's epochs, flatness, wall time), so that a fresh clone runs predict.py and the
benchmark without training.

    python -m tools.release --run ckpt_save --lut data/lut_x86_ort.json --out released --data_root data/faces68

    # the search and the fine-tunes in separate folders, with a sweep's Pareto front:
    python -m tools.release --run runs/final --supernet runs/sweep/search_0.35/supernet --sweep runs/sweep \
        --lut data/lut_x86_ort.json \
        --models subnet pfld_lite --data_root data/faces68

    # one model retrained, the released search and subnet kept:
    python -m tools.release --keep_search --keep subnet --models pfld_lite=FOLDER --data_root data/faces68

    # fine-tunes alone (a family of a sweep's searched models), or a sweep's Pareto front alone:
    python -m tools.release --no_search --models small=FOLDER large=FOLDER --out released/family
    python -m tools.release --no_search --sweep runs/pareto --models --out released

    # a sweep's trainings from its record (sweep.py --record): NAME=ARCH_JSON (a searched architecture) or
    # NAME=MODEL (a hand-designed one), their ONNX files and logs as recorded, MNN converted from the ONNX
    python -m tools.release --no_search --record docs/results/converged --data_root data/faces_plus \
        --models small=docs/results/converged/searches/budget_0.2.json --out released/family
"""

import shutil
from collections import defaultdict
from pathlib import Path

from fbnet_pfld.archfile import read_arch
from fbnet_pfld.checkpoints import landmark_network_from_state, load_checkpoint, save_checkpoint, slim
from fbnet_pfld.cli import Parser, exit_on_user_error
from fbnet_pfld.engine import LAST
from fbnet_pfld.errors import DeployError
from fbnet_pfld.exporting import export_landmark_model, export_mnn, parity_images
from fbnet_pfld.fastpath import PATHS
from fbnet_pfld.jsonfile import read_json
from fbnet_pfld.lookup_table import LookupTable
from fbnet_pfld.retrain_stage import RetrainStage
from fbnet_pfld.sweep_plan import warmup_folder
from fbnet_pfld.sweep_record import SweepRecord
from fbnet_pfld.utils import plot_curves, read_csv_rows, training_summary
from fbnet_pfld.writes import staged_folder, write_text


def release_copy(source, target):
    """Save the slim form of a checkpoint; returns its full state."""
    state = load_checkpoint(source)
    save_checkpoint(slim(state), target)
    return state


def release_supernet(folder, out, lut):
    """The search: its supernet (slim), the chosen arch.json, its log and plots, and the table the release
    command names (``lut``, which must be a lookup table): a checkpoint's own ``lut`` field never chooses a
    file to copy, since a downloaded checkpoint could name any file."""
    if not lut:
        raise DeployError(f"{folder}: releasing a search needs --lut, the table it searched with")
    LookupTable.load(lut)  # a lookup table, or a one-line refusal
    release_copy(folder / "checkpoint_best.pth", out / "supernet.pth")
    shutil.copy(folder / "arch.json", out / "arch.json")
    for name in ("log.csv", "theta.png", "curves.png"):
        shutil.copy(folder / name, out / f"supernet_{name}")
    shutil.copy(lut, out / Path(lut).name)


def release_sweep(folder, out):
    """The sweep's Pareto front: searched against random against hand-designed models."""
    for name, released_name in (("pareto.csv", "pareto.csv"), ("pareto.png", "pareto.png"),
                                ("summary.txt", "pareto_summary.txt")):
        shutil.copy(folder / name, out / released_name)


def training_table(runs):
    """Markdown: each released run's epochs, last and best test NME, how flat it ended, its wall time."""
    lines = ["| run | epochs | NME io, last epoch (%) | lowest NME io (%) | NME change over the last 10% of epochs "
             "| wall time (min) |", "|---|---|---|---|---|---|"]
    for name, log_csv in runs:
        r = training_summary(log_csv)
        lines.append(f"| {name} | {r['epochs']} | {100 * r['nme_io']:.2f} | {100 * r['best_nme_io']:.2f} | "
                     f"{-100 * r['last_10pct_drop']:+.1f}% | {r['seconds'] / 60:.1f} |")
    lines.append(f"\n{LOG_NOTE}")
    return "\n".join(lines) + "\n"


LOG_NOTE = ("NME as each training log measured it, in its fast path's precision (bf16 where chosen): benchmark.md's "
            "fp32 figures of the same checkpoints can differ by a few hundredths.")


def nme_by_epoch(runs):
    """One row an epoch with each run's test NME io (%) under the run's name (runs of any lengths), so
    that the released fine-tunes can share one plot."""
    table = defaultdict(dict)
    for name, log_csv in runs:
        for row in read_csv_rows(log_csv):
            table[int(row["epoch"])][name] = 100 * float(row["nme_io"])
    return [{"epoch": epoch, **table[epoch]} for epoch in sorted(table)]


def release_model(folder, out, name, images):
    """The last epoch of a fine-tune (nothing chosen on the test split), slimmed, with ONNX and MNN."""
    state = release_copy(folder / LAST, out / f"{name}.pth")
    for file in ("log.csv", "curves.png"):
        shutil.copy(folder / file, out / f"{name}_{file}")
    network = landmark_network_from_state(state, folder / LAST)
    report = export_landmark_model(network, out / f"{name}.onnx", images)
    mnn = export_mnn(network, out / f"{name}.onnx", images)
    print(f"{name}: {name}.onnx {report['size_bytes'] / 1024:.0f} KB, parity {report['max_abs_diff']:.1e}; "
          f"{name}.mnn {mnn['size_bytes'] / 1024:.0f} KB, parity {mnn['max_abs_diff']:.1e}")
    return state


def recorded_row(record, spec, seed, epochs):
    """The record's training of SPEC: an arch.json file (a searched architecture, as the record's searches/
    keep them) or a hand-designed model's name, trained ``epochs`` with ``seed``."""
    network = ",".join(read_arch(spec)[0]) if spec.endswith(".json") else spec
    row = record.find(network, seed, epochs)
    if row is None:
        raise DeployError(f"{record.points_csv}: no training of {spec} with seed {seed} for {epochs} epochs is "
                          "recorded there")
    if not record.log_path(row).is_file():
        raise DeployError(f"{record.log_path(row)}: {spec}'s training log is not in the record")
    return row


def sweep_of(record):
    """The flags a record's sweep ran with (its sweep.json)."""
    flags = read_json(record.folder / "sweep.json", DeployError, "sweep record")
    if not isinstance(flags, dict) or type(flags.get("finetune_epochs")) is not int:
        raise DeployError(f"{record.folder / 'sweep.json'}: not a sweep's record (no finetune_epochs)")
    return flags


def release_recorded(record, flags, item, out, images, seed):
    """``NAME=SPEC`` of a sweep's record (its sweep's ``flags``): its ONNX file as recorded (proved against
    PyTorch when recorded), MNN converted from it and proved against it, its architecture and log; returns
    (name, log, training row)."""
    name, _, spec = item.partition("=")
    if not name or not spec:
        raise DeployError(f"--models {item}: with --record, name each model NAME=ARCH_JSON or NAME=MODEL")
    row = recorded_row(record, spec, seed, flags["finetune_epochs"])
    shutil.copy(record.onnx_path(row), out / f"{name}.onnx")
    mnn = export_mnn(None, out / f"{name}.onnx", images)
    print(f"{name}: {row['onnx']} as recorded; {name}.mnn {mnn['size_bytes'] / 1024:.0f} KB, "
          f"parity {mnn['max_abs_diff']:.1e}")
    if spec.endswith(".json"):
        shutil.copy(spec, out / f"{name}_arch.json")
    log = out / f"{name}_log.csv"
    shutil.copy(record.log_path(row), log)
    plot_curves(read_csv_rows(log), RetrainStage.plot_panels, out / f"{name}_curves.png", f"retrain {name}")
    trained = {"from_scratch": True, "data_root": flags["data_root"], "source_weights": flags.get("source_weights")}
    return name, log, how_trained({"args": trained, "fastpath": flags.get("fastpath")}, name)


def how_trained(state, name):
    """The training table's row name, from the checkpoint's own flags (or a sweep record's, as ``{"args": ...}``):
    a fine-tune from the supernet's weights or training from scratch, the data root's folder, the source
    weights it drew by and the precision it trained in (where the checkpoint or record names its fast path)."""
    args = state.get("args") or {}
    how = f"fine-tune {name} from the supernet" if args.get("supernet") and not args.get("from_scratch") \
        else f"train {name} from scratch"
    if args.get("data_root"):
        how += f" on {Path(str(args['data_root'])).name}"
        if args.get("source_weights"):
            how += f", drawn by {args['source_weights']}"
    if state.get("fastpath") in PATHS:
        how += f", {PATHS[state['fastpath']].precision}"
    return " ".join(how.replace("|", "/").split())  # one table cell, whatever a checkpoint's flags hold


def kept_model(out, name):
    """A model already released in OUT, kept as it is: (name, its released log, its training table row)."""
    checkpoint, log = out / f"{name}.pth", out / f"{name}_log.csv"
    if not checkpoint.is_file() or not log.is_file():
        raise DeployError(f"{out}: --keep {name} needs {checkpoint.name} and {log.name} there")
    return name, log, how_trained(load_checkpoint(checkpoint), name)


def model_folder(run_dir, item):
    """``NAME`` is the retrain folder RUN/NAME; ``NAME=FOLDER`` names any retrain folder."""
    name, _, folder = item.partition("=")
    return name, Path(folder) if folder else run_dir / name


def parse_args(argv=None):
    parser = Parser(__doc__)
    parser.add_argument("--run", default="ckpt_save", help="SNAPSHOT of the search and retrain runs")
    parser.add_argument("--out", default="released")
    parser.add_argument("--supernet", help="the search's folder (default: RUN/supernet)")
    parser.add_argument("--keep_search", action="store_true",
                        help="keep the search already in OUT (supernet.pth, arch.json, its log) and release new "
                             "fine-tunes of its architecture beside it")
    parser.add_argument("--no_search", action="store_true", help="release no search, only fine-tunes or a sweep")
    parser.add_argument("--keep", nargs="*", default=[], metavar="NAME",
                        help="released models to keep as they are (NAME.pth, NAME_log.csv in OUT) beside the new "
                             "--models, in the training table and the fine-tunes' plot")
    parser.add_argument("--sweep", help="a sweep.py output folder whose pareto.csv/png to release")
    parser.add_argument("--lut", help="the lookup table the search used, copied beside it (a search's release)")
    parser.add_argument("--models", nargs="*", default=["subnet", "pfld_lite"],
                        help="retrain folders to release: NAME (RUN/NAME) or NAME=FOLDER")
    parser.add_argument("--data_root", help="test faces for the export parity check")
    parser.add_argument("--record", help="a sweep's record (sweep.py --record): --models NAME=ARCH_JSON or "
                        "NAME=MODEL are its recorded trainings")
    parser.add_argument("--seed", type=int, default=0, help="with --record: the seed of the trainings to release")
    return parser.parse_args(argv)


HELD_OUT = "NME on the held-out architecture split of TRAIN"


def search_logs(supernet, sweep):
    """The search's log.csv, after the sweep's shared warm-up when the search is one of the sweep's
    (a search run on its own has its warm-up in its own log)."""
    runs = [(f"search ({HELD_OUT})", supernet / "log.csv")]
    in_sweep = sweep and Path(supernet).resolve().is_relative_to(Path(sweep).resolve())
    warmup = warmup_folder(sweep) / "log.csv" if in_sweep else None
    if warmup and warmup.is_file():
        runs.insert(0, (f"search warm-up, shared by the sweep's budgets ({HELD_OUT})", warmup))
    return runs


def build(args, out):
    """Write the release into ``out`` (a copy of the previous release, swapped in whole when done)."""
    run_dir = Path(args.run)
    supernet = Path(args.supernet) if args.supernet else run_dir / "supernet"
    if args.no_search:
        searches = []
    elif args.keep_search:
        if not (out / "supernet_log.csv").is_file():
            raise DeployError(f"{args.out}: --keep_search needs a released search there (supernet_log.csv)")
        searches = [(f"search ({HELD_OUT})", out / "supernet_log.csv")]
    else:
        release_supernet(supernet, out, args.lut)
        searches = search_logs(supernet, args.sweep)
    if args.sweep:
        release_sweep(Path(args.sweep), out)
    images = parity_images(args.data_root)
    named = [model_folder(run_dir, item)[0] for item in args.models]
    if set(args.keep) & set(named):
        raise DeployError(f"--keep {' '.join(sorted(set(args.keep) & set(named)))}: also in --models; keep a "
                          "model or release it anew, not both")
    fine_tunes = [kept_model(out, name) for name in args.keep]
    record = SweepRecord(args.record) if args.record else None
    flags = sweep_of(record) if record and args.models else None
    for item in args.models:
        if record:
            fine_tunes.append(release_recorded(record, flags, item, out, images, args.seed))
            continue
        name, folder = model_folder(run_dir, item)
        state = release_model(folder, out, name, images)
        fine_tunes.append((name, folder / "log.csv", how_trained(state, name)))
    runs = searches + [(row, log) for _, log, row in fine_tunes]
    if runs:
        write_text(out / "training.md", training_table(runs))
    if fine_tunes:
        plot_curves(nme_by_epoch([(n, log) for n, log, _ in fine_tunes]),
                    {"NME io on the test faces (%), log scale": [n for n, _, _ in fine_tunes]},
                    out / "fine_tunes.png", "the released fine-tunes, one recipe and one budget", log_y=True)


def run(args):
    """Build the release aside, then swap it in whole: a release that fails half way leaves the previous
    one as it was."""
    out = Path(args.out)
    with staged_folder(out) as stage:
        build(args, stage)
    for path in sorted(out.iterdir()):
        print(f"{path}  {path.stat().st_size / 1024:.0f} KB")


def main(argv=None):
    exit_on_user_error(run, parse_args(argv))


if __name__ == "__main__":
    main()
