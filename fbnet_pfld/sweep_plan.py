"""What a latency sweep (``sweep.py``) trains and how: its budgets, the flags of its searches and trainings, the
order it trains in, where each step lives in its runs folder, and the flags every point of one sweep shares."""

import hashlib
from pathlib import Path

from fbnet_pfld.checkpoints import load_checkpoint
from fbnet_pfld.cli import DRAW_FLAGS, draw_flags

# What every point of a sweep computes: a rerun that changes one of these would mix two sweeps in one report.
SWEEP_FIXED = ("data_root", "lut", "mode", "search_weights", "sandwich", "bn_batches", "inplace_distill", "warmup",
               "search_epochs", "finetune_epochs", "batch_size", "loss", "seed", "theta_lr", "fastpath", *DRAW_FLAGS)

# retrain.py flags that say where and how fast a training ran, not what it trained
WHERE_AND_HOW = {"snapshot", "workers", "dev_id", "resume", "stop_after", "overwrite", "fastpath", "model",
                 "from_scratch", "num_points"}

TRAINING_ORDER = ("searched", "width", "baseline", "random")


def budgets_between(table, count):
    """``count`` budgets spread inside (cheapest, costliest): the ends need no search."""
    low, high = table.min_latency(), table.max_latency()
    return [round(low + (high - low) * k / (count + 1), 4) for k in range(1, count + 1)]


def sweep_targets(args, table):
    """The budgets in the table's unit: explicit, ratios to pfld_lite's latency, or spread in the range."""
    if args.ratios:
        return [round(ratio * table.reference_latency("pfld_lite"), 4) for ratio in args.ratios]
    return args.targets or budgets_between(table, args.budgets)


def search_flags(args):
    """supernet_train.py's flags for the shared warm-up and every budget's search."""
    return ["--data_root", args.data_root, "--lut", args.lut, "--epochs", str(args.warmup + args.search_epochs),
            "--warmup_epochs", str(args.warmup), "--batch_size", str(args.batch_size), "--loss", args.loss,
            "--workers", str(args.workers), "--seed", str(args.seed), "--dev_id", "cpu",
            "--theta_lr", str(args.theta_lr), *draw_flags(args),
            *(["--sandwich", "--inplace_distill", str(args.inplace_distill)] if args.sandwich else []),
            *(["--theta_only"] if args.search_weights == "frozen" else [])]


def training_flags(args, snapshot, model, seed, epochs):
    """retrain.py's flags for every training of a sweep (and of the length protocol): its data, batch, loss,
    workers, draws and fast path, the recipe's defaults for the rest."""
    return ["--data_root", args.data_root, "--snapshot", str(snapshot), "--epochs", str(epochs),
            "--batch_size", str(args.batch_size), "--loss", args.loss, "--workers", str(args.workers),
            "--seed", str(seed), "--dev_id", "cpu", "--model", model, "--fastpath", args.fastpath, *draw_flags(args)]


def same_flag(name, mine, theirs):
    """Whether two values of a training flag train the same way: data roots by their folder's name, as a record
    keeps them (a copy rebuilt on another machine is the same data), calibrations by content."""
    if name == "data_root" and mine and theirs:
        return Path(mine).resolve().name == Path(theirs).resolve().name
    if name == "jitter" and mine and theirs:
        return Path(mine).is_file() and Path(theirs).is_file() and Path(mine).read_bytes() == Path(theirs).read_bytes()
    return mine == theirs


def warmup_folder(out):
    """Where a sweep keeps the supernet of its shared warm-up."""
    return Path(out) / "warmup" / "supernet"


def arch_folder_name(arch):
    """A fine-tune's folder: the op names when short, else a digest of them (a whole-network space's names
    would pass the file system's limit)."""
    name = "arch_" + "-".join(arch)
    return name if len(name) <= 120 else "arch_" + hashlib.sha1(",".join(arch).encode()).hexdigest()[:12]


def training_order(points, first_seed):
    """The order to train in: every budget's searched model, then the hand-designed ones, the random controls,
    and second seeds last, so a sweep stopped part way has the points its comparisons need most."""
    return sorted(points, key=lambda p: (p["seed"] != first_seed, TRAINING_ORDER.index(p["kind"])))


def finished(args, point):
    """Whether a point's fine-tune has run all its epochs (a sweep stopped part way reports only those)."""
    if "recorded" in point:
        return True
    last = Path(point["checkpoint"])
    return last.is_file() and load_checkpoint(last)["epoch"] + 1 >= args.finetune_epochs


def describe_point(point):
    """One line naming a point: its kind, network, budget and seed."""
    name = point.get("model") or ",".join(point["arch"])
    return f"{point['kind']} {name}" + (f" (budget {point['target_ms']:g})" if "target_ms" in point else "") + \
        f" seed {point['seed']}"


def sweep_flags(args):
    """The flags in SWEEP_FIXED, paths made absolute (a runs folder's, which never leaves its machine)."""
    flags = {name: getattr(args, name) for name in SWEEP_FIXED}
    flags.update(data_root=str(Path(args.data_root).resolve()), lut=str(Path(args.lut).resolve()))
    return flags


def record_flags(args):
    """The flags in SWEEP_FIXED as a record keeps them, the same on any machine: the data by its folder's name
    (a rebuilt copy elsewhere continues the sweep), the lookup table by its content."""
    flags = sweep_flags(args)
    digest = hashlib.sha1(Path(args.lut).read_bytes()).hexdigest()[:12]
    flags.update(data_root=Path(args.data_root).resolve().name, lut=f"{Path(args.lut).name} (sha1 {digest})")
    return flags
