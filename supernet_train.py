"""Stage 1: FBNet search. Train the supernet's weights and its architecture parameters theta together,
trading landmark accuracy against the lookup table's latency, and pick one op per layer.

    python supernet_train.py --data_root data/faces68 --snapshot ckpt_save --lut data/lut_x86_ort.json
    torchrun --nproc_per_node 2 supernet_train.py ...          # DistributedDataParallel

Writes SNAPSHOT/supernet/: checkpoint_best.pth, checkpoint_last.pth, arch.json, log.csv, train.log,
curves.png and theta.png.
"""

import argparse
import json
import math
import time
from pathlib import Path

import torch

from dataset import DataError, make_loader, set_loader_epoch, split_weight_arch
from engine import (
    average_gradients,
    broadcast_parameters,
    epochs_to_run,
    evaluate,
    load_datasets,
    make_eval_loader,
    max_rank_difference,
    pfld_loss,
    progress,
    run_stage,
    seed_stochastic_parts,
    train_weights,
    unwrap,
    wrap_model,
)
from lookup_table import LookupTable, LookupTableError
from models import AuxiliaryNet, Supernet, search_space_from_list, search_space_to_list
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

LOG_FIELDS = ["epoch", "phase", "temperature", "lr", "weight_loss", "weight_mse", "theta_loss", "expected_cost",
              "arch_cost", "nme_io", "nme_box", "fr_io", "auc_io", "arch", "theta_rank_diff", "seconds"]
CHECKPOINT_KEYS = ("supernet", "aux", "optimizer", "theta_optimizer", "scheduler", "epoch", "temperature", "rng",
                   "arch", "search_space", "num_points", "theta_history", "best_nme")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_root", default="data/faces68", help="DATA_ROOT with train_data/ and test_data/")
    parser.add_argument("--snapshot", default="ckpt_save", help="outputs go to SNAPSHOT/supernet/")
    parser.add_argument("--dev_id", default="0", help="'cpu', a GPU index, or '0,1' for DataParallel")
    parser.add_argument("--lut", default="data/lut_x86_ort.json", help="latency lookup table (JSON)")
    parser.add_argument("--num_points", type=int, help="landmarks per face (default: read from list.txt)")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--warmup_epochs", type=int, default=20, help="epochs training weights only")
    parser.add_argument("--sample", choices=["soft", "hard"], default="hard",
                        help="soft: Gumbel-Softmax mix of all candidates; hard: straight-through, one candidate")
    parser.add_argument("--mode", choices=["mul", "add"], default="mul",
                        help="mul: loss * alpha * (1 + log(lat/lat_min))^beta; add: loss + alpha * (lat/lat_min)^beta")
    parser.add_argument("--alpha", type=float, default=0.25)
    parser.add_argument("--beta", type=float, default=0.6)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate of the weights (cosine decay)")
    parser.add_argument("--weight_decay", type=float, default=1e-6)
    parser.add_argument("--theta_lr", type=float, default=0.01, help="AdamW learning rate of theta")
    parser.add_argument("--theta_weight_decay", type=float, default=5e-4)
    parser.add_argument("--temperature", type=float, default=5.0, help="initial Gumbel-Softmax temperature")
    parser.add_argument("--temperature_decay", type=float, default=0.045, help="T *= exp(-decay) per search epoch")
    parser.add_argument("--arch_fraction", type=float, default=0.2, help="share of TRAIN faces used to tune theta")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", default="", help="checkpoint_last.pth to continue exactly")
    parser.add_argument("--stop_after", type=int, help="stop after this many epochs of this run (time-limited "
                        "jobs); the schedule still spans --epochs, and --resume continues it")
    args = parser.parse_args(argv)
    if args.mode == "mul" and args.alpha <= 0:
        parser.error("--mode mul needs --alpha > 0 (it scales the whole loss); use --mode add --alpha 0 "
                     "for a search that ignores latency")
    if not 0 <= args.warmup_epochs <= args.epochs:
        parser.error("--warmup_epochs must be between 0 and --epochs")
    return args


def latency_loss(task_loss, cost, min_cost, mode, alpha, beta):
    """The search objective. ``cost / min_cost`` >= 1 (the cheapest architecture scores 1 in any unit),
    so ``1 + log(...)`` >= 1 and "mul" never takes a fractional power of a negative number (no NaN)."""
    ratio = cost / min_cost
    if mode == "mul":
        return task_loss * alpha * (1 + torch.log(ratio)) ** beta
    return task_loss + alpha * ratio ** beta


def train_theta(supernet, aux, loader, optimizer, table, args, temperature, runtime):
    """One pass over the architecture split updating theta only: backward reaches theta alone, so no
    weight gradient is computed; theta's gradients are averaged over ranks by hand."""
    thetas = supernet.arch_parameters()
    min_cost = table.min_latency()
    aux.eval()
    totals, batches = torch.zeros(2), 0
    for images, landmarks_gt, angles_gt in progress(loader, runtime, "theta"):
        images, landmarks_gt, angles_gt = (t.to(runtime.device) for t in (images, landmarks_gt, angles_gt))
        landmarks, feature, weights = supernet(images, args.sample, temperature, arch_grad=True)
        with torch.no_grad():
            angles = aux(feature)
        task, _ = pfld_loss(landmarks, landmarks_gt, angles, angles_gt)
        cost = table.expected_latency(weights)
        loss = latency_loss(task, cost, min_cost, args.mode, args.alpha, args.beta)
        optimizer.zero_grad(set_to_none=True)
        loss.backward(inputs=thetas)
        average_gradients(thetas, runtime)
        optimizer.step()
        totals += torch.tensor([float(loss.detach()), float(cost.detach())])
        batches += 1
    aux.train()
    return (totals / max(1, batches)).tolist()


def write_arch_json(path, supernet, table, epoch, lut_path):
    arch = supernet.chosen_arch()
    data = {"arch": arch, "predicted_cost": table.predict(arch), "unit": table.unit, "lut": str(lut_path),
            "lut_device": table.meta.get("device"), "epoch": epoch, "num_points": supernet.num_points,
            "op_probabilities": {f"layer{i}": dict(zip(layer.op_names, probs)) for i, (layer, probs) in
                                 enumerate(zip(supernet.layers, supernet.op_probabilities()))}}
    Path(path).write_text(json.dumps(data, indent=1) + "\n")


def plot_theta(history, supernet, path):
    """Per-layer op probabilities over epochs: where the search is heading, at a glance."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = supernet.layers
    fig, axes = plt.subplots(1, len(layers), figsize=(4 * len(layers), 3.6), squeeze=False, sharey=True)
    epochs = [h["epoch"] for h in history]
    for i, (ax, layer) in enumerate(zip(axes[0], layers)):
        for j, name in enumerate(layer.op_names):
            ax.plot(epochs, [h["probabilities"][i][j] for h in history], label=name)
        ax.set_title(f"layer {i}")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("softmax(theta)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_search(args, runtime):
    out_dir = Path(args.snapshot) / "supernet"
    log = get_logger("search", out_dir / "train.log" if runtime.is_main else None)
    seed_everything(args.seed)
    train_set, test_set = load_datasets(args.data_root, args.num_points, args.seed)
    weight_idx, arch_idx = split_weight_arch(train_set.samples, args.arch_fraction, args.seed)
    loader_args = dict(batch_size=args.batch_size, shuffle=True, rank=runtime.rank, world_size=runtime.world_size,
                       workers=args.workers, drop_last=True)
    weight_loader = make_loader(train_set, weight_idx, seed=args.seed, **loader_args)
    arch_loader = make_loader(train_set, arch_idx, seed=args.seed + 1, **loader_args)
    eval_loader = make_eval_loader(test_set, args.batch_size, args.workers)

    supernet, aux = Supernet(train_set.num_points).to(runtime.device), AuxiliaryNet().to(runtime.device)
    table = LookupTable.load(args.lut, supernet.search_space)
    optimizer = torch.optim.Adam(supernet.weight_parameters() + list(aux.parameters()), lr=args.lr,
                                 weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    theta_optimizer = torch.optim.AdamW(supernet.arch_parameters(), lr=args.theta_lr,
                                        weight_decay=args.theta_weight_decay)
    start_epoch, temperature, best_nme, history = 0, args.temperature, math.inf, []
    resumed = None
    if args.resume:
        resumed = load_checkpoint(args.resume, CHECKPOINT_KEYS)
        if resumed["num_points"] != train_set.num_points or \
                search_space_from_list(resumed["search_space"]) != supernet.search_space:
            raise CheckpointError(f"{args.resume}: made for {resumed['num_points']} points or another search space")
        supernet.load_state_dict(resumed["supernet"])
        aux.load_state_dict(resumed["aux"])
        optimizer.load_state_dict(resumed["optimizer"])
        theta_optimizer.load_state_dict(resumed["theta_optimizer"])
        scheduler.load_state_dict(resumed["scheduler"])
        start_epoch, temperature = resumed["epoch"] + 1, resumed["temperature"]
        best_nme, history = resumed["best_nme"], resumed["theta_history"]
        log.info(f"resumed from {args.resume} after epoch {resumed['epoch']}")
    seed_stochastic_parts(args.seed, runtime, start_epoch, resumed)
    thetas = supernet.arch_parameters()
    model = wrap_model(supernet, runtime, ignore=[f"layers.{i}.theta" for i in range(len(thetas))])
    aux_model = wrap_model(aux, runtime)
    broadcast_parameters(thetas, runtime)
    csv_log = CSVLog(out_dir / "log.csv", LOG_FIELDS, resume_epoch=start_epoch) if runtime.is_main else None
    if runtime.is_main:
        log.info(f"search: {len(weight_idx)} weight / {len(arch_idx)} architecture samples of {args.data_root}, "
                 f"{len(test_set)} test, {train_set.num_points} points, table {args.lut} ({table.unit}), "
                 f"{runtime.world_size} process(es) on {runtime.device}")

    for epoch in epochs_to_run(start_epoch, args.epochs, args.stop_after):
        started = time.time()
        set_loader_epoch(weight_loader, epoch)
        set_loader_epoch(arch_loader, epoch)
        searching = epoch >= args.warmup_epochs
        model.train()
        aux_model.train()
        lr = optimizer.param_groups[0]["lr"]
        weight_loss, weight_mse = train_weights(
            lambda x, t=temperature: model(x, mode=args.sample, temperature=t, arch_grad=False)[:2],
            aux_model, weight_loader, optimizer, runtime, desc=f"epoch {epoch} weights")
        theta_loss = expected_cost = math.nan
        if searching:
            theta_loss, expected_cost = train_theta(supernet, aux, arch_loader, theta_optimizer, table, args,
                                                    temperature, runtime)
            temperature *= math.exp(-args.temperature_decay)
        scheduler.step()
        rank_diff = max_rank_difference(thetas, runtime)
        history.append({"epoch": epoch, "probabilities": supernet.op_probabilities()})
        if runtime.is_main:
            supernet.eval()
            metrics = evaluate(lambda x: supernet(x, "argmax")[0], eval_loader, runtime, desc="validate")
            nme = primary_nme(metrics)
            arch = supernet.chosen_arch()
            # During warm-up theta is uniform and its argmax meaningless: "best" counts search epochs only.
            is_best = (searching or args.warmup_epochs == args.epochs) and nme < best_nme
            if is_best:
                best_nme = nme
            state = {"supernet": supernet.state_dict(), "aux": aux.state_dict(), "optimizer": optimizer.state_dict(),
                     "theta_optimizer": theta_optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                     "epoch": epoch, "temperature": temperature, "rng": rng_state(), "arch": arch,
                     "search_space": search_space_to_list(supernet.search_space), "num_points": supernet.num_points,
                     "theta_history": history, "best_nme": best_nme, "metrics": metrics, "lut_meta": table.meta,
                     "lut": str(args.lut), "args": vars(args)}
            save_checkpoint(state, out_dir / "checkpoint_last.pth")
            if is_best:
                save_checkpoint(state, out_dir / "checkpoint_best.pth")
                write_arch_json(out_dir / "arch.json", supernet, table, epoch, args.lut)
            csv_log.append({"epoch": epoch, "phase": "search" if searching else "warmup",
                            "temperature": f"{temperature:.4f}", "lr": f"{lr:.6g}", "weight_loss": f"{weight_loss:.6g}",
                            "weight_mse": f"{weight_mse:.6g}", "theta_loss": f"{theta_loss:.6g}",
                            "expected_cost": f"{expected_cost:.5g}", "arch_cost": f"{table.predict(arch):.5g}",
                            **{k: f"{metrics[k]:.6f}" for k in ("nme_io", "nme_box", "fr_io", "auc_io")
                               if k in metrics},
                            "arch": ",".join(arch), "theta_rank_diff": f"{rank_diff:.3g}",
                            "seconds": f"{time.time() - started:.1f}"})
            plot_curves(csv_log.read(), {"loss": ["weight_loss", "theta_loss"], "NME": ["nme_io", "nme_box"],
                                         f"cost ({table.unit})": ["expected_cost", "arch_cost"]},
                        out_dir / "curves.png", "supernet search")
            plot_theta(history, supernet, out_dir / "theta.png")
            log.info(f"epoch {epoch} {'search' if searching else 'warmup'} T={temperature:.3f} "
                     f"loss {weight_loss:.5f} | theta loss {theta_loss:.5f} cost {expected_cost:.4g} | "
                     f"{format_metrics(metrics)} | arch {','.join(arch)} ({table.predict(arch):.4g} {table.unit})"
                     f"{' best' if is_best else ''} | {time.time() - started:.0f}s")
        if runtime.distributed:
            torch.distributed.barrier()
    return unwrap(model)


def main(argv=None):
    run_stage(run_search, parse_args(argv), (CheckpointError, DataError, LookupTableError))


if __name__ == "__main__":
    main()
