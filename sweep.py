"""The latency/accuracy trade-off, measured: search at several latency budgets, fine-tune each chosen
subnet and random architectures of the same predicted latency with one recipe, time them all, and
write pareto.csv and pareto.png. Also the one-shot ranking check (Kendall tau).

    python sweep.py --data_root data/faces68 --lut data/lut_x86_ort.json --budgets 3 --out runs/sweep
    python sweep.py --lut data/lut_whole.json --ratios 0.12 0.25 0.5 0.8 1.2 --width_family 0.3 0.5 0.75 1 \
        --reseed 2 --out runs/pareto     # budgets as ratios to pfld_lite; pfld_lite's width family beside
    python sweep.py ... --record results/my_sweep   # searches and finished trainings kept, to commit as it runs

Protocol (the same for every point): the supernet's warm-up (weights only, theta untouched) is run
once and shared by every budget, which resumes it with ``--target_latency T`` and tunes theta alone
(``--search_weights frozen``: one supernet, trained once, searched at every budget); every architecture,
searched or random, is then trained from scratch with the same recipe, seed and epochs; NME is that
of the last epoch (nothing is selected on the test split); latency is onnxruntime, 1 thread, batch 1,
the median of interleaved calls of all models in one run. Resumable: finished steps are read back, from
OUT or, with --record, from the record (on a machine that never held OUT).
"""

import shutil
from pathlib import Path

import retrain
import supernet_train
from fbnet_pfld.archfile import read_arch, write_arch
from fbnet_pfld.argtypes import non_negative_int, positive_float, positive_int
from fbnet_pfld.checkpoints import load_checkpoint
from fbnet_pfld.cli import Parser, add_draw_args, check_draw_args, exit_on_user_error, run_to_end
from fbnet_pfld.engine import LAST
from fbnet_pfld.errors import SearchError
from fbnet_pfld.fastpath import PATHS, add_fixed_fastpath_arg
from fbnet_pfld.lookup_table import LookupTable
from fbnet_pfld.losses import DEFAULT_LOSS, LOSSES
from fbnet_pfld.models import parse_model_name
from fbnet_pfld.one_shot import BN_BATCHES
from fbnet_pfld.pareto import plot_pareto, summary, write_csv
from fbnet_pfld.runfolder import remember_flags
from fbnet_pfld.sampling import matching_random_archs
from fbnet_pfld.search import BUDGETED
from fbnet_pfld.sweep_measure import measure_points, record_point
from fbnet_pfld.sweep_plan import (
    WHERE_AND_HOW,
    arch_folder_name,
    describe_point,
    finished,
    record_flags,
    same_flag,
    search_flags,
    sweep_flags,
    sweep_targets,
    training_flags,
    training_order,
    warmup_folder,
)
from fbnet_pfld.sweep_record import SweepRecord
from fbnet_pfld.writes import write_text


def warm_up(args, out):
    """The shared warm-up: ``args.warmup`` epochs of weights only."""
    folder = warmup_folder(out)
    run_to_end(supernet_train.main, search_flags(args) + ["--snapshot", str(out / "warmup")], folder, args.warmup)
    return folder / LAST


def search_budget(args, out, warm, target):
    """Resume the shared warm-up with a latency budget; returns the chosen architecture."""
    folder = out / f"search_{target:g}" / "supernet"
    if not (folder / LAST).is_file():
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(warm, folder / LAST)
    run_to_end(supernet_train.main, search_flags(args) + ["--snapshot", str(folder.parent),
                                                          "--target_latency", str(target), "--mode", args.mode],
               folder,
               args.warmup + args.search_epochs)
    return read_arch(folder / "arch.json")[0] if (folder / "arch.json").is_file() \
        else load_checkpoint(folder / LAST)["arch"]


def fine_tune(args, out, name, arch=None, model="subnet", search_space=None, seed=None):
    """Train one architecture of ``search_space`` (or a hand-designed network) from scratch; returns its last
    checkpoint."""
    seed = args.seed if seed is None else seed
    snapshot = out / "finetune" / (name if seed == args.seed else f"{name}_seed{seed}")
    flags = training_flags(args, snapshot, model, seed, args.finetune_epochs)
    if arch is not None:
        write_arch(snapshot / "arch.json", arch, search_space)
        flags += ["--arch", str(snapshot / "arch.json"), "--from_scratch"]
    if not args.report_only:
        run_to_end(retrain.main, flags, snapshot / model, args.finetune_epochs)
    return snapshot / model / LAST


def adopt(args, out, record, item):
    """``--adopt MODEL=CHECKPOINT``: a finished training of the hand-designed point MODEL run elsewhere (the
    release's pfld_lite as pfld_lite@1), recorded as the sweep's when its checkpoint's flags are exactly those the
    sweep would train it with, so that nothing is trained twice."""
    model, _, checkpoint = item.partition("=")
    point = {"kind": "width", "model": model, "seed": args.seed}
    if record.finished(point, args.finetune_epochs):
        return
    state = load_checkpoint(checkpoint)
    name, width = parse_model_name(model)
    theirs = parse_model_name(state.get("model_type"))
    if (theirs[0], theirs[1] or 1.0) != (name, width or 1.0) or state["epoch"] + 1 != args.finetune_epochs:
        raise SearchError(f"{checkpoint}: {state.get('model_type')} trained {state['epoch'] + 1} epochs, not "
                          f"{model} for {args.finetune_epochs}")
    wanted = vars(retrain.parse_args(training_flags(args, out / "adopted", model, args.seed, args.finetune_epochs)))
    for flag, value in wanted.items():
        if flag not in WHERE_AND_HOW and not same_flag(flag, value, state["args"].get(flag)):
            raise SearchError(f"{checkpoint}: trained with --{flag} {state['args'].get(flag)}, the sweep trains "
                              f"{model} with {value}: not the same training")
    trained = PATHS[state["fastpath"]].precision if state.get("fastpath") in PATHS else "a precision it does not name"
    if trained != PATHS[args.fastpath].precision:
        raise SearchError(f"{checkpoint}: trained in {trained}, the sweep trains in {PATHS[args.fastpath].precision} "
                          f"(--fastpath {args.fastpath}): not the same training")
    sibling = Path(checkpoint).with_name(f"{Path(checkpoint).stem}_log.csv")
    point["checkpoint"] = checkpoint
    record_point(args.data_root, record, point, sibling if sibling.is_file() else Path(checkpoint).with_name("log.csv"))


def plan_points(args, out, table, record=None):
    """Search every budget not in the record (after the shared warm-up, run only when a search needs it);
    returns the warm-up checkpoint's path and the points."""
    warm = warmup_folder(out) / LAST
    points = []
    for k, target in enumerate(sweep_targets(args, table)):
        arch = record.searched(target) if record else None
        if arch is None:
            arch = search_budget(args, out, warm_up(args, out), target)
            if record:
                record.add_search(target, arch, table.search_space)
        if record:  # the run folders' logs, for the sweep's time (kept again when a run folder still has them)
            record.keep_log(f"search_{target:g}", out / f"search_{target:g}" / "supernet" / "log.csv")
        searched = {"kind": "searched", "arch": arch, "target_ms": target, "seed": args.seed,
                    "search": out / f"search_{target:g}" / "supernet" / LAST}
        points.append(searched)
        if k < args.reseed:
            points.append(dict(searched, seed=args.seed + 1))
        randoms = args.randoms if args.random_budgets is None or k < args.random_budgets else 0
        controls = [a for a in matching_random_archs(table, table.predict(arch), randoms + 1, args.seed + k)
                    if a != arch][:randoms]
        points += [dict(searched, kind="random", arch=a) for a in controls]
    if record:
        record.keep_log("warmup", warmup_folder(out) / "log.csv")
    points += [{"kind": "width", "model": f"pfld_lite@{m:g}", "seed": args.seed} for m in args.width_family]
    points += [{"kind": "baseline", "model": model, "seed": args.seed} for model in args.baselines]
    return warm, points


def train_points(args, out, points, search_space, record=None):
    """Fine-tune every point not in the record; each one finished is recorded at once (its ONNX and row)."""
    for point in training_order(points, args.seed):
        row = record.finished(point, args.finetune_epochs) if record else None
        if row is not None:
            point.update(recorded=row, onnx=record.onnx_path(row))
            continue
        if "model" in point:
            point["checkpoint"] = fine_tune(args, out, point["model"], model=point["model"], seed=point["seed"])
        else:
            point["checkpoint"] = fine_tune(args, out, arch_folder_name(point["arch"]), point["arch"],
                                            search_space=search_space, seed=point["seed"])
        if record and finished(args, point):
            record_point(args.data_root, record, point)


def parse_args(argv=None):
    parser = Parser(__doc__)
    parser.add_argument("--data_root", default="data/faces68")
    parser.add_argument("--lut", default="data/lut_x86_ort.json")
    parser.add_argument("--out", default="runs/sweep")
    parser.add_argument("--budgets", type=positive_int, default=3, help="budgets spread between cheapest and costliest")
    parser.add_argument("--targets", type=positive_float, nargs="+", help="explicit budgets (the table's unit)")
    parser.add_argument("--ratios", type=positive_float, nargs="+",
                        help="budgets as ratios to pfld_lite's latency in the table (its meta.references)")
    parser.add_argument("--width_family", type=positive_float, nargs="*", default=[],
                        help="width multipliers of pfld_lite to train beside (kind 'width')")
    parser.add_argument("--mode", choices=BUDGETED, default="absolute",
                        help="the search objective at each budget (docs/search.md): absolute spends the budget")
    parser.add_argument("--search_weights", choices=["frozen", "trained"], default="frozen",
                        help="frozen: the warm-up trains the one supernet and each budget's search tunes theta alone; "
                             "trained: each budget's search trains its own copy of the weights beside theta")
    parser.add_argument("--sandwich", action="store_true", help="train the supernet by the sandwich rule")
    parser.add_argument("--bn_batches", type=non_negative_int, default=BN_BATCHES,
                        help="batches re-estimating a path's BatchNorm statistics (0: the supernet's own)")
    parser.add_argument("--inplace_distill", type=float, default=0.0, help="with --sandwich: in-place distillation")
    parser.add_argument("--reseed", type=non_negative_int, default=0,
                        help="fine-tune the searched models of the first N budgets with a second seed too")
    parser.add_argument("--randoms", type=non_negative_int, default=3, help="random controls per budget")
    parser.add_argument("--random_budgets", type=non_negative_int,
                        help="random controls at the first N budgets only (default: every budget)")
    parser.add_argument("--baselines", nargs="*", default=["pfld_lite"], help="hand-designed networks to add")
    parser.add_argument("--warmup", type=positive_int, default=5,
                        help="epochs of the shared warm-up every budget's search resumes")
    parser.add_argument("--search_epochs", type=positive_int, default=10)
    parser.add_argument("--finetune_epochs", type=positive_int, default=15)
    parser.add_argument("--batch_size", type=positive_int, default=64)
    parser.add_argument("--loss", choices=list(LOSSES), default=DEFAULT_LOSS, help="training loss (losses.py)")
    parser.add_argument("--workers", type=non_negative_int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=positive_int, default=2000, help="timed calls per model")
    add_fixed_fastpath_arg(parser)
    parser.add_argument("--report_only", action="store_true",
                        help="fine-tune nothing more (the warm-up and searches still finish): report the points "
                             "whose fine-tunes are finished, name the rest")
    parser.add_argument("--theta_lr", type=float, default=0.01, help="the searches' theta learning rate")
    parser.add_argument("--adopt", nargs="*", default=[], metavar="MODEL=CHECKPOINT",
                        help="with --record: a finished training of a hand-designed point run elsewhere with exactly "
                             "the sweep's flags, recorded as the sweep's (pfld_lite@1=released/pfld_lite.pth)")
    parser.add_argument("--record", help="a folder keeping the searched architectures and each finished "
                        "training's row and ONNX file, to commit as it grows: the sweep continues from it on "
                        "another machine (fbnet_pfld/sweep_record.py)")
    add_draw_args(parser)
    args = parser.parse_args(argv)
    check_draw_args(parser, args)
    return args


def run_sweep(args):
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = LookupTable.load(args.lut)
    remember_flags(out / "sweep.json", sweep_flags(args), SearchError, "sweep")
    record = SweepRecord(args.record) if args.record else None
    if record:
        remember_flags(record.folder / "sweep.json", record_flags(args), SearchError, "sweep")
        record.rows()  # a broken record is named before anything trains
        for item in args.adopt:
            adopt(args, out, record, item)
    warm, points = plan_points(args, out, table, record)
    train_points(args, out, points, table.search_space, record)
    done = [finished(args, p) for p in points]
    missing = [p for p, d in zip(points, done) if not d]
    points = [p for p, d in zip(points, done) if d]
    measure_points(args, out, table, points, warm)
    write_csv(points, out / "pareto.csv")
    plot_pareto(points, out / "pareto.png", f"{Path(args.data_root).name}, table {Path(args.lut).name}, "
                f"{args.finetune_epochs} epochs each from scratch")
    text = summary(points) + "".join(f"\nnot trained yet (left out): {describe_point(p)}" for p in missing)
    if record:
        parts = record.minutes()
        text += "\nwall time kept in the record (min): " + ", ".join(f"{k} {v:.2f}" for k, v in parts.items()) + \
            f", in all {sum(parts.values()):.2f}"
    write_text(out / "summary.txt", text + "\n")
    print(text)
    return points


def main(argv=None):
    exit_on_user_error(run_sweep, parse_args(argv))


if __name__ == "__main__":
    main()
