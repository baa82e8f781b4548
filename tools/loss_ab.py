"""The loss A/B: every (network, loss) arm fine-tuned with one recipe and one budget (same seed, same
epochs, same data, the default fast path), then one table of the last epoch's test NME (no epoch is
selected on the test split). Resumable: an arm whose run finished is read back, an unfinished one
continues from its checkpoint_last.pth.

    python -m tools.loss_ab --data_root data/faces68 --epochs 20 --out runs/loss_ab
"""

from pathlib import Path

import retrain
from fbnet_pfld.archfile import write_arch
from fbnet_pfld.cli import Parser, run_to_end
from fbnet_pfld.jsonfile import write_json
from fbnet_pfld.losses import LOSSES
from fbnet_pfld.utils import training_summary
from fbnet_pfld.writes import write_text

SUBNET_ARCH = "gh_k3,gh_k3,gh_k5,gh_k5,gh_k5"  # the architecture released before this A/B


def arm_dir(out, model, loss):
    return Path(out) / f"{model}_{loss}"


def run_arm(args, model, loss):
    """Train one arm to the end of its schedule (or resume it); returns its folder."""
    out = arm_dir(args.out, model, loss)
    flags = ["--data_root", args.data_root, "--snapshot", str(out), "--epochs", str(args.epochs), "--batch_size",
             str(args.batch_size), "--lr", str(args.lr), "--loss", loss, "--seed", str(args.seed), "--workers",
             str(args.workers), "--dev_id", "cpu"]
    if model == "subnet":
        arch = write_arch(out / "arch.json", SUBNET_ARCH.split(","))
        flags += ["--model", "subnet", "--arch", str(arch), "--from_scratch"]
    else:
        flags += ["--model", model]
    run_to_end(retrain.main, flags, out / model, args.epochs)
    return out / model


def summarise(folder, model, loss):
    """The arm's last epoch, how flat its curve ended and its wall time."""
    return {"model": model, "loss": loss, **training_summary(folder / "log.csv")}


def markdown(results):
    lines = ["| network | loss | NME io (%) | FR@0.1 (%) | NME box (%) | epochs | NME drop over the last 10% "
             "| train time (min) |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['model']} | {r['loss']} | {100 * r['nme_io']:.2f} | {100 * r['fr_io']:.1f} | "
                     f"{100 * r['nme_box']:.2f} | {r['epochs']} | {100 * r['last_10pct_drop']:+.1f}% | "
                     f"{r['seconds'] / 60:.0f} |")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = Parser(__doc__)
    parser.add_argument("--data_root", default="data/faces68")
    parser.add_argument("--out", default="runs/loss_ab")
    parser.add_argument("--models", nargs="+", default=["subnet", "pfld_lite"])
    parser.add_argument("--losses", nargs="+", default=list(LOSSES), choices=list(LOSSES))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    results = []
    for model in args.models:
        for loss in args.losses:
            results.append(summarise(run_arm(args, model, loss), model, loss))
            table = markdown(results)
            write_text(Path(args.out, "loss_ab.md"), table + "\n")
            write_json(results, Path(args.out, "loss_ab.json"))
    print(table)


if __name__ == "__main__":
    main()
