"""How long must a comparison train to rank networks as convergence does? Trains each network from scratch at
every length (each length its own schedule: a 15-epoch run decays its learning rate over 15 epochs), shortest
lengths first, and reports each length's Kendall tau against the longest (fbnet_pfld/protocol.py).

    python -m tools.length_protocol --data_root data/faces_dev --lengths 5 15 50 150 \\
        --networks subnet=released/arch.json small=released/family/small_arch.json pfld_lite@0.25 pfld_lite \\
        --jitter fbnet_pfld/data/detector_yuface.json --epoch_size 4332 \\
        --source_weights "label:human=12,label:machine=1,label:teacher:dlib=1,label:*=0" \\
        --out runs/protocol --record docs/results/length_protocol.csv

A network is NAME=ARCH.json (an architecture trained from scratch, in the space its file names) or a
hand-designed model (pfld_lite, pfld_lite@0.5, ...). The ranking is by the last epoch's NME io on the data
root's test split: when the length it finds is to decide later comparisons, give a development split
(tools/dev_split.py), not the test set. Each finished training adds its row to --record at once (the runs
folder may be lost; the record is committed), and a network already in the record is not trained again.
--from_sweep counts a sweep's recorded trainings of these networks (sweep.py --record, same data and draws)
as done: the protocol then trains only the lengths the sweep did not. --within_runs trains nothing: it ranks
--from_sweep's recorded trainings after each of --lengths epochs of their own runs (their logs), against their end.
"""

import math
from pathlib import Path

import retrain
from fbnet_pfld import cli
from fbnet_pfld.archfile import read_arch
from fbnet_pfld.argtypes import non_negative_int, positive_int
from fbnet_pfld.checkpoints import load_checkpoint
from fbnet_pfld.engine import LAST
from fbnet_pfld.errors import DataError
from fbnet_pfld.fastpath import add_fixed_fastpath_arg
from fbnet_pfld.jsonfile import read_json
from fbnet_pfld.losses import DEFAULT_LOSS, LOSSES
from fbnet_pfld.models import parse_model_name
from fbnet_pfld.protocol import add_row, plot_lengths, read_record, recorded, report, within_run_report, within_run_rows
from fbnet_pfld.runfolder import remember_flags
from fbnet_pfld.sweep_plan import same_flag, training_flags
from fbnet_pfld.sweep_record import SweepRecord
from fbnet_pfld.utils import read_csv_rows, training_summary
from fbnet_pfld.writes import write_text

FIXED = ("data_root", "batch_size", "loss", "fastpath", *cli.DRAW_FLAGS)


def network_spec(text):
    """(name, arch file or None, model): NAME=ARCH.json or a hand-designed model's name."""
    if "=" in text:
        name, arch = text.split("=", 1)
        if not name or "/" in name or not Path(arch).is_file():
            raise DataError(f"--networks {text}: expected NAME=ARCH.json with an existing file")
        return name, arch, "subnet"
    parse_model_name(text)
    return text, None, text


def train_one(args, network, epochs):
    """Train one network at one length (resuming a partial run); returns its record row."""
    name, arch, model = network
    snapshot = Path(args.out) / f"{epochs}_epochs" / name
    flags = training_flags(args, snapshot, model, args.seed, epochs)
    if arch is not None:
        flags += ["--arch", arch, "--from_scratch"]
    cli.run_to_end(retrain.main, flags, snapshot / model, epochs)
    metrics = load_checkpoint(snapshot / model / LAST)["metrics"]
    seconds = training_summary(snapshot / model / "log.csv")["seconds"]
    return {"network": name, "spec": arch or model, "epochs": epochs, "seed": args.seed,
            "nme_io": float(metrics.get("nme_io", math.nan)), "nme_box": float(metrics.get("nme_box", math.nan)),
            "minutes": seconds / 60}


def check_same_draws(args, folder):
    """Refuse a sweep's record (sweep.py --record) that trained on other data, draws or fast path."""
    swept = read_json(Path(folder) / "sweep.json", DataError, "sweep record")
    for name in FIXED:
        mine = getattr(args, name)
        if not same_flag(name, mine, swept.get(name)):
            raise DataError(f"{folder}/sweep.json: the sweep ran with --{name} {swept.get(name)}, the protocol "
                            f"with {mine}: their rankings do not compare")


def recorded_network(arch, model):
    """How a sweep's record names a --networks entry: a searched architecture's layers, or the model's name."""
    return ",".join(read_arch(arch)[0]) if arch else model


def sweep_rows(args, networks, folder):
    """Rows of a sweep's record (sweep.py --record) for these networks at the protocol's seed, as the protocol
    records them; refused when the sweep trained on other data, draws or fast path."""
    check_same_draws(args, folder)
    swept, rows = SweepRecord(folder).rows(), []
    for name, arch, model in networks:
        network = recorded_network(arch, model)
        rows += [{"network": name, "spec": arch or model, "epochs": r["epochs"], "seed": r["seed"],
                  "nme_io": r["nme_io"], "nme_box": r["nme_box"], "minutes": r["minutes"]}
                 for r in swept if r["network"] == network and r["seed"] == args.seed]
    return rows


def recorded_curve(record, rows, name, network, seed):
    """NME io after each epoch of the sweep record's training of ``network`` with ``seed`` (``rows``: the
    record's rows), from its kept log."""
    row = next((r for r in rows if r["network"] == network and r["seed"] == seed), None)
    if row is None:
        raise DataError(f"{record.points_csv}: no training of {name} ({network}) with seed {seed}")
    log = record.log_path(row)
    if not log.is_file():
        raise DataError(f"{log}: the record keeps no log of {name}'s training")
    curve = []
    for line, entry in enumerate(read_csv_rows(log), start=2):
        try:
            curve.append(float(entry["nme_io"]))
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{log}: line {line}: no number in column nme_io") from None
    return curve


def within_runs(args, networks):
    """The named networks' recorded trainings in --from_sweep ranked after each of --lengths epochs of their
    own runs (trains nothing): how soon a long run's curve ranks as its end does."""
    check_same_draws(args, args.from_sweep)
    record = SweepRecord(args.from_sweep)
    rows = record.rows()
    curves = {name: recorded_curve(record, rows, name, recorded_network(arch, model), args.seed)
              for name, arch, model in networks}
    text = within_run_report(within_run_rows(curves, args.lengths, args.seed), args.seed)
    print(text, end="")
    return text


def run_protocol(args):
    networks = [network_spec(text) for text in args.networks]
    if len({n[0] for n in networks}) < len(networks):
        raise DataError("--networks: two networks share a name")
    if args.within_runs:
        return within_runs(args, networks)
    record = Path(args.record or Path(args.out) / "length_protocol.csv")
    flags = {name: getattr(args, name) for name in FIXED} | {"data_root": str(Path(args.data_root).resolve())}
    remember_flags(record.with_suffix(".json"), flags, DataError, "length protocol")
    for row in sweep_rows(args, networks, args.from_sweep) if args.from_sweep else []:
        add_row(record, row)
    for epochs in sorted(args.lengths):
        for network in networks:
            if args.report_only or recorded(read_record(record), network[0], epochs, args.seed):
                continue
            add_row(record, train_one(args, network, epochs))
    rows = read_record(record)
    text = report(rows, args.seed, args.threshold, args.min_networks)
    write_text(record.with_suffix(".md"), text)
    plot_lengths(rows, args.seed, record.with_suffix(".png"), f"{Path(args.data_root).name}: NME by training length")
    print(text, end="")
    return rows


def parse_args(argv=None):
    parser = cli.Parser(__doc__)
    parser.add_argument("--data_root", required=True, help="DATA_ROOT whose test split ranks (a development split)")
    parser.add_argument("--networks", nargs="+", required=True, help="NAME=ARCH.json or a hand-designed model")
    parser.add_argument("--lengths", type=positive_int, nargs="+", required=True, help="epochs of each length")
    parser.add_argument("--out", default="runs/protocol", help="where the trainings run")
    parser.add_argument("--record", help="the CSV of finished trainings (default: OUT/length_protocol.csv); "
                        "its .json, .md and .png lie beside it")
    parser.add_argument("--threshold", type=float, default=0.8, help="the Kendall tau a length must reach")
    parser.add_argument("--min_networks", type=positive_int, default=6, help="networks a verdict needs")
    parser.add_argument("--batch_size", type=positive_int, default=64)
    parser.add_argument("--loss", choices=list(LOSSES), default=DEFAULT_LOSS, help="training loss (losses.py)")
    parser.add_argument("--workers", type=non_negative_int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report_only", action="store_true", help="train nothing: report the record")
    add_fixed_fastpath_arg(parser)
    parser.add_argument("--from_sweep", help="a sweep's record (sweep.py --record) whose finished trainings of "
                        "these networks count as trained (the longest length, typically), same data and draws")
    parser.add_argument("--within_runs", action="store_true", help="train nothing: rank --from_sweep's trainings "
                        "after each of --lengths epochs of their own runs (mid-schedule), against their end")
    cli.add_draw_args(parser)
    args = parser.parse_args(argv)
    cli.check_draw_args(parser, args)
    if args.within_runs and not args.from_sweep:
        parser.error("--within_runs reads the trainings of --from_sweep: give it")
    if not -1 <= args.threshold <= 1:
        parser.error(f"--threshold must be in [-1, 1], got {args.threshold}")
    return args


def main(argv=None):
    cli.exit_on_user_error(run_protocol, parse_args(argv))


if __name__ == "__main__":
    main()
