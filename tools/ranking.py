"""How well does a supernet rank architectures? Kendall tau between each architecture's NME with the
supernet's inherited weights and its NME after fine-tuning from scratch, over the architectures a sweep
has already fine-tuned (its pareto.csv). Supernets trained by different rules (plain, ``--sandwich``,
``--inplace_distill``) are compared on the same architectures without training any of them again.

    python -m tools.ranking --pareto runs/pareto/pareto.csv --data_root data/faces68 --out runs/ranking \\
        plain=runs/pareto/warmup/supernet/checkpoint_last.pth \\
        sandwich=runs/sandwich/warmup/supernet/checkpoint_last.pth

The inherited NME is measured on the search's held-out architecture split of TRAIN (what a choice
between training rules may use) and on the test split (what the sweep's summary reports); the
fine-tuned NME is pareto.csv's, the first seed of each architecture.
"""

from pathlib import Path

from fbnet_pfld.checkpoints import load_supernet
from fbnet_pfld.cli import Parser, exit_on_user_error
from fbnet_pfld.dataset import held_out_loader, load_datasets, load_test_set, make_loader, split_weight_arch
from fbnet_pfld.errors import DataError
from fbnet_pfld.utils import read_csv_rows
from sweep import kendall_tau, supernet_nme

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
    """The held-out architecture split of TRAIN as the search drew it (its seed), and the test split."""
    train, _ = load_datasets(data_root, state["num_points"])
    args = state.get("args", {})
    _, arch_idx = split_weight_arch(train.samples, args.get("arch_fraction", 0.2), args.get("seed", 0),
                                    train.list_path)
    return {SPLITS[0]: held_out_loader(train, arch_idx, workers=0),
            SPLITS[1]: make_loader(load_test_set(data_root), batch_size=64, workers=0)}


def rank(checkpoint, archs, pareto_csv, data_root):
    """{split: (Kendall tau, [inherited NME per arch])} of one supernet."""
    supernet, _, state = load_supernet(checkpoint)
    check_in_space(supernet, archs, pareto_csv, checkpoint)
    fine = [nme for _, nme, _ in archs]
    result = {}
    for split, loader in evaluation_loaders(data_root, state).items():
        inherited = [supernet_nme(supernet, arch, loader) for arch, _, _ in archs]
        result[split] = (kendall_tau(inherited, fine), inherited)
    return result


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
    parser.add_argument("--out", help="folder for ranking.md (default: print only)")
    args = parser.parse_args(argv)
    args.named = [spec.partition("=")[::2] for spec in args.supernets]
    if any(not name or not path for name, path in args.named) or len({n for n, _ in args.named}) != len(args.named):
        parser.error("supernets are NAME=CHECKPOINT with unique names")
    return args


def run(args):
    archs = finetuned_archs(args.pareto)
    results = {name: rank(path, archs, args.pareto, args.data_root) for name, path in args.named}
    text = report(results, len(archs))
    print(text, end="")
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "ranking.md").write_text(text)
    return results


def main(argv=None):
    exit_on_user_error(run, parse_args(argv))


if __name__ == "__main__":
    main()
