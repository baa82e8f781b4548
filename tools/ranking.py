"""How well does a supernet rank architectures? Kendall tau between each architecture's NME with the
supernet's inherited weights and its NME after fine-tuning from scratch, over the architectures a sweep
has already fine-tuned (its pareto.csv). Supernets trained by different rules (plain, ``--sandwich``,
``--inplace_distill``) are compared on the same architectures without training any of them again.

    python -m tools.ranking --pareto runs/pareto/pareto.csv --data_root data/faces68 --out runs/ranking \\
        plain=runs/pareto/warmup/supernet/checkpoint_last.pth \\
        sandwich=runs/sandwich/warmup/supernet/checkpoint_last.pth

The inherited NME is measured on the search's held-out architecture split of TRAIN (what a choice
between training rules may use) and on the test split (what the sweep's summary reports); the
fine-tuned NME is pareto.csv's, the first seed of each architecture. ``--out`` writes ranking.md (the
taus), ranking.csv (every architecture's NMEs) and ranking.png (inherited against fine-tuned NME).
"""

import csv
from pathlib import Path

from fbnet_pfld.argtypes import non_negative_int
from fbnet_pfld.checkpoints import load_supernet
from fbnet_pfld.cli import Parser, exit_on_user_error
from fbnet_pfld.dataset import held_out_loader, load_test_set, make_loader, search_split_of
from fbnet_pfld.errors import DataError
from fbnet_pfld.one_shot import BN_BATCHES, supernet_nme
from fbnet_pfld.pareto import kendall_tau
from fbnet_pfld.search import path_batchnorm
from fbnet_pfld.utils import log_y_axis, read_csv_rows
from fbnet_pfld.writes import write_text

SPLITS = ("held-out split of TRAIN", "test")


def finetuned_archs(pareto_csv):
    """[(arch, fine-tuned NME io)] of a sweep's searched and random points, first seed of each."""
    rows = read_csv_rows(pareto_csv)
    if rows and not {"kind", "arch", "nme_io", "seed"} <= set(rows[0]):
        raise DataError(f"{pareto_csv}: not a sweep's pareto.csv (needs the columns kind, arch, nme_io, seed)")
    first_seed = {}
    for line, row in enumerate(rows, start=2):
        if row["kind"] not in ("searched", "random"):
            continue
        try:
            seed, nme = int(row["seed"]), float(row["nme_io"])
        except ValueError:
            raise DataError(f"{pareto_csv}:{line}: seed {row['seed']!r} or nme_io {row['nme_io']!r} is not a "
                            "number") from None
        arch = tuple(row["arch"].split(","))
        if arch not in first_seed or seed < first_seed[arch][0]:
            first_seed[arch] = (seed, nme, line)
    archs = [(list(arch), nme, line) for arch, (_, nme, line) in first_seed.items()]
    if len(archs) < 3:
        raise DataError(f"{pareto_csv}: {len(archs)} fine-tuned architectures; a ranking needs at least 3")
    return archs


def check_in_space(supernet, archs, pareto_csv, checkpoint):
    """Every architecture must be a path of the supernet (same layers, known op names)."""
    for arch, _, line in archs:
        if len(arch) != len(supernet.layers):
            raise DataError(f"{pareto_csv}:{line}: {len(arch)} layers, the supernet {checkpoint} has "
                            f"{len(supernet.layers)}: not the same search space")
        for k, (name, layer) in enumerate(zip(arch, supernet.layers)):
            if name not in layer.op_names:
                raise DataError(f"{pareto_csv}:{line}: layer {k} op {name!r} is not a candidate of the supernet "
                                f"{checkpoint}")


def evaluation_loaders(data_root, state):
    """The held-out architecture split of TRAIN as the search drew it (its seed), the test split, and the
    weight split (shuffled, un-augmented) that BatchNorm statistics are re-estimated on."""
    train, weight_idx, arch_idx = search_split_of(data_root, state)
    return ({SPLITS[0]: held_out_loader(train, arch_idx, workers=0),
             SPLITS[1]: make_loader(load_test_set(data_root), batch_size=64, workers=0)},
            held_out_loader(train, weight_idx, workers=0, shuffle=True))


def rank(checkpoint, archs, pareto_csv, data_root, bn_batches=BN_BATCHES):
    """{split: (Kendall tau, [inherited NME per arch])} of one supernet; ``bn_batches`` training batches
    re-estimate each path's BatchNorm statistics first (0: the supernet's own)."""
    supernet, _, state = load_supernet(checkpoint)
    check_in_space(supernet, archs, pareto_csv, checkpoint)
    loaders, weight_loader = evaluation_loaders(data_root, state)
    inherited = {split: [] for split in loaders}
    for arch, _, _ in archs:
        with path_batchnorm(supernet, arch, weight_loader, bn_batches):
            for split, loader in loaders.items():
                inherited[split].append(supernet_nme(supernet, arch, loader))
    fine = [nme for _, nme, _ in archs]
    return {split: (kendall_tau(values, fine), values) for split, values in inherited.items()}


def report(results, count):
    """Markdown: one row per supernet, its tau on each split."""
    lines = [f"| supernet | Kendall tau, {SPLITS[0]} | Kendall tau, {SPLITS[1]} | architectures |",
             "|---|---:|---:|---:|"]
    for name, result in results.items():
        lines.append(f"| {name} | {result[SPLITS[0]][0]:.3f} | {result[SPLITS[1]][0]:.3f} | {count} |")
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    parser = Parser(__doc__)
    parser.add_argument("supernets", nargs="+", help="NAME=CHECKPOINT of each supernet to rank with")
    parser.add_argument("--pareto", required=True, help="a sweep's pareto.csv: the fine-tuned architectures")
    parser.add_argument("--data_root", default="data/faces68")
    parser.add_argument("--bn_batches", type=non_negative_int, default=BN_BATCHES,
                        help="re-estimate each path's BatchNorm statistics on this many training batches first "
                             "(0: the supernet's own)")
    parser.add_argument("--out", help="folder for ranking.md, ranking.csv and ranking.png (default: print only)")
    args = parser.parse_args(argv)
    args.named = [spec.partition("=")[::2] for spec in args.supernets]
    if any(not name or not path for name, path in args.named) or len({n for n, _ in args.named}) != len(args.named):
        parser.error("supernets are NAME=CHECKPOINT with unique names")
    return args


def write_table(archs, results, path):
    """ranking.csv: per architecture its fine-tuned NME and each supernet's inherited NME on each split."""
    columns = [(name, split) for name in results for split in SPLITS]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["arch", "finetuned_nme_io"] + [f"{name}: {split}" for name, split in columns])
        for k, (arch, nme, _) in enumerate(archs):
            writer.writerow([",".join(arch), f"{nme:.6g}"] +
                            [f"{results[name][split][1][k]:.6g}" for name, split in columns])


def plot(archs, results, path):
    """Inherited against fine-tuned NME io, one panel per split, one series per supernet."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fine = [100 * nme for _, nme, _ in archs]
    fig, axes = plt.subplots(1, len(SPLITS), figsize=(10, 4.2))
    for ax, split in zip(axes, SPLITS):
        for name, result in results.items():
            tau, inherited = result[split]
            ax.scatter(fine, [100 * v for v in inherited], label=f"{name} (tau {tau:.2f})")
        ax.set(xlabel="fine-tuned NME io (%)", ylabel="inherited NME io (%)", title=f"inherited on the {split}")
        log_y_axis(ax)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args):
    archs = finetuned_archs(args.pareto)
    results = {name: rank(path, archs, args.pareto, args.data_root, args.bn_batches) for name, path in args.named}
    text = report(results, len(archs))
    print(text, end="")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "ranking.md", text)
        write_table(archs, results, out / "ranking.csv")
        plot(archs, results, out / "ranking.png")
    return results


def main(argv=None):
    exit_on_user_error(run, parse_args(argv))


if __name__ == "__main__":
    main()
