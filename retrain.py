"""Stage 2: fine-tune the searched subnet (or train the baseline with the same recipe).

    python retrain.py --supernet ckpt_save/supernet/checkpoint_best.pth --data_root data/faces68
    python retrain.py --supernet ... --arch my_arch.json          # an edited architecture
    python retrain.py --supernet ... --from_scratch               # no weight transfer, to compare
    python retrain.py --model baseline --data_root data/faces68   # the hand-designed baseline

Writes SNAPSHOT/subnet/ (or SNAPSHOT/baseline/): checkpoint_best.pth (lowest test NME),
checkpoint_last.pth, log.csv, train.log, curves.png.
"""

import argparse
import json
import math
import time
from pathlib import Path

import torch

from dataset import DataError, make_loader, set_loader_epoch
from engine import (
    epochs_to_run,
    evaluate,
    load_datasets,
    make_eval_loader,
    run_stage,
    seed_stochastic_parts,
    train_weights,
    unwrap,
    wrap_model,
)
from models import AuxiliaryNet, Baseline, Subnet, Supernet, check_arch, search_space_from_list, search_space_to_list
from utils import (
    CheckpointError,
    CSVLog,
    format_metrics,
    get_logger,
    load_checkpoint,
    plot_curves,
    primary_nme,
    rng_state,
    save_checkpoint,
    seed_everything,
)

LOG_FIELDS = ["epoch", "lr", "loss", "mse", "nme_io", "nme_box", "fr_io", "auc_io", "fr_box", "auc_box", "seconds"]
CHECKPOINT_KEYS = ("model", "aux", "optimizer", "scheduler", "epoch", "rng", "best_nme", "model_type", "num_points")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_root", default="data/faces68")
    parser.add_argument("--snapshot", default="ckpt_save", help="outputs go to SNAPSHOT/subnet/ or SNAPSHOT/baseline/")
    parser.add_argument("--supernet", help="supernet checkpoint: the architecture and the weights to start from")
    parser.add_argument("--arch", help="arch.json (or a JSON list of op names) overriding the checkpoint's choice")
    parser.add_argument("--model", choices=["subnet", "baseline"], default="subnet")
    parser.add_argument("--from_scratch", action="store_true", help="random init instead of the supernet's weights")
    parser.add_argument("--dev_id", default="0", help="'cpu', a GPU index, or '0,1' for DataParallel")
    parser.add_argument("--num_points", type=int)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (cosine decay)")
    parser.add_argument("--weight_decay", type=float, default=1e-6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", default="", help="checkpoint_last.pth to continue exactly")
    parser.add_argument("--stop_after", type=int, help="stop after this many epochs of this run")
    args = parser.parse_args(argv)
    if args.model == "subnet" and not args.supernet and not (args.arch and args.from_scratch):
        parser.error("a subnet needs --supernet (architecture and weights), or --arch with --from_scratch")
    return args


def read_arch(path):
    """Op names from an arch.json written by the search (``{"arch": [...]}``) or a plain JSON list."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DataError(f"{path}: cannot read the architecture ({error})") from None
    arch = data["arch"] if isinstance(data, dict) else data
    if not isinstance(arch, list) or not all(isinstance(name, str) for name in arch):
        raise DataError(f"{path}: expected a list of op names or {{\"arch\": [...]}}")
    return arch


def build_models(args, num_points):
    """The network to train and its auxiliary net, initialised from the supernet unless told otherwise."""
    if args.model == "baseline":
        return Baseline(num_points), AuxiliaryNet(), None
    state = load_checkpoint(args.supernet, ("supernet", "aux", "arch", "search_space", "num_points")) \
        if args.supernet else None
    search_space = search_space_from_list(state["search_space"]) if state else None
    arch = read_arch(args.arch) if args.arch else state["arch"]
    if state and state["num_points"] != num_points:
        raise CheckpointError(f"{args.supernet}: supernet has {state['num_points']} points, the data {num_points}")
    aux = AuxiliaryNet()
    if args.from_scratch:
        return (Subnet(arch, num_points, search_space) if search_space else Subnet(arch, num_points)), aux, arch
    supernet = Supernet(num_points, search_space)
    supernet.load_state_dict(state["supernet"])
    check_arch(arch, search_space)
    aux.load_state_dict(state["aux"])
    return Subnet.from_supernet(supernet, arch), aux, arch


def run_retrain(args, runtime):
    out_dir = Path(args.snapshot) / args.model
    log = get_logger("retrain", out_dir / "train.log" if runtime.is_main else None)
    seed_everything(args.seed)
    train_set, test_set = load_datasets(args.data_root, args.num_points, args.seed)
    loader = make_loader(train_set, seed=args.seed, batch_size=args.batch_size, shuffle=True, rank=runtime.rank,
                         world_size=runtime.world_size, workers=args.workers, drop_last=True)
    eval_loader = make_eval_loader(test_set, args.batch_size, args.workers)
    network, aux, arch = build_models(args, train_set.num_points)
    network, aux = network.to(runtime.device), aux.to(runtime.device)
    optimizer = torch.optim.Adam(list(network.parameters()) + list(aux.parameters()), lr=args.lr,
                                 weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    start_epoch, best_nme = 0, math.inf
    resumed = None
    if args.resume:
        resumed = load_checkpoint(args.resume, CHECKPOINT_KEYS)
        network.load_state_dict(resumed["model"])
        aux.load_state_dict(resumed["aux"])
        optimizer.load_state_dict(resumed["optimizer"])
        scheduler.load_state_dict(resumed["scheduler"])
        start_epoch, best_nme = resumed["epoch"] + 1, resumed["best_nme"]
        log.info(f"resumed from {args.resume} after epoch {resumed['epoch']}")
    seed_stochastic_parts(args.seed, runtime, start_epoch, resumed)
    model, aux_model = wrap_model(network, runtime), wrap_model(aux, runtime)
    csv_log = CSVLog(out_dir / "log.csv", LOG_FIELDS, resume_epoch=start_epoch) if runtime.is_main else None
    if runtime.is_main:
        what = "baseline" if args.model == "baseline" else \
            f"subnet {','.join(arch)} ({'from scratch' if args.from_scratch else 'weights from ' + args.supernet})"
        log.info(f"retrain {what}: {len(train_set)} train / {len(test_set)} test faces of {args.data_root}, "
                 f"{train_set.num_points} points, {runtime.world_size} process(es) on {runtime.device}")

    for epoch in epochs_to_run(start_epoch, args.epochs, args.stop_after):
        started = time.time()
        set_loader_epoch(loader, epoch)
        model.train()
        aux_model.train()
        lr = optimizer.param_groups[0]["lr"]
        loss, mse = train_weights(model, aux_model, loader, optimizer, runtime, desc=f"epoch {epoch}")
        scheduler.step()
        if runtime.is_main:
            network.eval()
            metrics = evaluate(lambda x: network(x)[0], eval_loader, runtime)
            nme = primary_nme(metrics)
            is_best = nme < best_nme
            best_nme = min(best_nme, nme)
            state = {"model": network.state_dict(), "aux": aux.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "epoch": epoch, "rng": rng_state(), "best_nme": best_nme,
                     "metrics": metrics, "model_type": args.model, "arch": arch, "num_points": train_set.num_points,
                     "search_space": search_space_to_list(network.search_space) if arch else None,
                     "args": vars(args)}
            save_checkpoint(state, out_dir / "checkpoint_last.pth")
            if is_best:
                save_checkpoint(state, out_dir / "checkpoint_best.pth")
            csv_log.append({"epoch": epoch, "lr": f"{lr:.6g}", "loss": f"{loss:.6g}", "mse": f"{mse:.6g}",
                            **{k: f"{v:.6f}" for k, v in metrics.items()}, "seconds": f"{time.time() - started:.1f}"})
            plot_curves(csv_log.read(), {"loss": ["loss", "mse"], "NME": ["nme_io", "nme_box"]},
                        out_dir / "curves.png", f"retrain {args.model}")
            log.info(f"epoch {epoch} lr {lr:.2e} loss {loss:.5f} mse {mse:.5f} | {format_metrics(metrics)}"
                     f"{' best' if is_best else ''} | {time.time() - started:.0f}s")
        if runtime.distributed:
            torch.distributed.barrier()
    return unwrap(model)


def main(argv=None):
    run_stage(run_retrain, parse_args(argv), (CheckpointError, DataError, ValueError))


if __name__ == "__main__":
    main()
