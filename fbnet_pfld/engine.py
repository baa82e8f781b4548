"""The training loop both stages share: the weight pass, evaluation, and the epoch skeleton (resume,
seed, train, validate, save best then last, log, plot), written once. A stage (search or fine-tune)
says only what differs, as a ``Stage`` subclass.
"""

import math
import time
from pathlib import Path
from typing import NamedTuple

import torch
from tqdm import tqdm

from fbnet_pfld.checkpoints import RESUME_KEYS, load_checkpoint, save_checkpoint
from fbnet_pfld.errors import CheckpointError, TrainingError
from fbnet_pfld.fastpath import EAGER
from fbnet_pfld.losses import distillation_loss
from fbnet_pfld.metrics import format_metrics, landmark_metrics, primary_nme
from fbnet_pfld.runfolder import BEST, LAST
from fbnet_pfld.seeding import rng_state, seed_stochastic_parts
from fbnet_pfld.utils import CSVLog, PlotCadence, plot_curves, read_csv_rows
from fbnet_pfld.writes import remove_stale_temps


def progress(iterable, runtime, desc):
    return tqdm(iterable, desc=desc, leave=False, disable=not runtime.is_main, unit="batch", dynamic_ncols=True)


def require_finite(values, what):
    if not all(math.isfinite(v) for v in values):
        raise TrainingError(f"{what} became {values}: stopping before anything is saved (lower --lr, check the "
                            "data, or resume from the last checkpoint)")


class StepExtras(NamedTuple):
    """What a fine-tune may add to each step: a teacher's points as a second target, and the weight
    average to update after the step."""

    teacher: object = None
    distill_weight: float = 0.0
    average: object = None
    averaged: object = None  # the network whose weights the average follows


NO_EXTRAS = StepExtras()

def train_weights(forward, aux, loader, optimizer, runtime, loss_fn, fast=EAGER, desc="weights",
                  extras=NO_EXTRAS):
    """One pass over ``loader`` training network weights and the auxiliary net on ``loss_fn``.

    ``forward(images) -> (landmarks, feature)``. Returns mean loss and mean squared error."""
    totals, batches = torch.zeros(2), 0
    for images, landmarks_gt, angles_gt in progress(loader, runtime, desc):
        images = fast.images(images.to(runtime.device, non_blocking=True))
        landmarks_gt, angles_gt = (t.to(runtime.device, non_blocking=True) for t in (landmarks_gt, angles_gt))
        with fast.autocast():
            landmarks, feature = forward(images)
            angles = aux(feature)
            if extras.teacher is not None:
                with torch.no_grad():
                    teacher_landmarks = extras.teacher(images)[0].float()
        loss, squared = loss_fn(landmarks.float(), landmarks_gt, angles.float(), angles_gt)
        if extras.teacher is not None:
            loss = loss + extras.distill_weight * distillation_loss(landmarks.float(), teacher_landmarks)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if extras.average is not None:
            extras.average.update(extras.averaged)
        totals += torch.stack([loss.detach().cpu(), squared.detach().cpu()])
        batches += 1
    result = (totals / max(1, batches)).tolist()
    require_finite(result, f"{desc}: the training loss")
    return result


@torch.no_grad()
def evaluate(predict, loader, runtime, fast=EAGER, desc="eval"):
    """Landmark metrics of ``predict(images) -> landmarks`` over a loader (run on one process)."""
    predictions, targets = [], []
    for images, landmarks_gt, _ in progress(loader, runtime, desc):
        with fast.autocast():
            predictions.append(predict(fast.images(images.to(runtime.device))).float().cpu())
        targets.append(landmarks_gt)
    return landmark_metrics(torch.cat(predictions), torch.cat(targets))


def epochs_to_run(start_epoch, epochs, stop_after=None):
    """The epochs of this run: to the end of the schedule, or ``stop_after`` of them (time-limited jobs)."""
    return range(start_epoch, epochs if stop_after is None else min(epochs, start_epoch + stop_after))


class Stage:
    """What a training stage adds to the shared skeleton; see SearchStage and RetrainStage."""

    kind = "landmark"
    title = "training"
    log_fields = ()
    plot_panels = {}

    def check_resume(self, state, path):
        """Raise CheckpointError when ``state`` belongs to another run."""

    def load_state(self, state):
        raise NotImplementedError

    def resume_may_change(self, state):
        """Flags a resume may change because they have not acted yet (e.g. a budget during warm-up)."""
        return ()

    def wrap(self, runtime):
        """Wrap the networks for DataParallel/DDP once the weights are final."""

    def train_epoch(self, epoch):
        """Train one epoch; returns the log row's values (floats or strings)."""
        raise NotImplementedError

    def validate(self):
        raise NotImplementedError

    def counts_for_best(self, epoch):
        return True

    def state(self):
        """The stage's part of the checkpoint (weights, optimisers, what describes the model)."""
        raise NotImplementedError

    def on_best(self, epoch, out_dir):
        """Extra files to write when ``epoch`` is the new best (e.g. arch.json)."""

    def plot(self, out_dir):
        """Extra plots beside curves.png (e.g. theta.png)."""

    def describe(self, epoch, row):
        return ""

    def summary(self):
        """What the run chose, for its closing line (e.g. the searched architecture)."""
        return ""


def _format(value):
    return f"{value:.6g}" if isinstance(value, float) else str(value)


# Flags a resumed run may change: where and how fast it runs, not what it computes.
RESUME_MAY_CHANGE = {"resume", "stop_after", "snapshot", "overwrite", "workers", "dev_id", "fastpath", "threads",
                     "data_root"}


def check_same_flags(saved, current, path, may_change=()):
    """Refuse a resume whose flags would change the run (a longer --epochs, another --lr, ...), naming the
    first flag; exactness is the point of --resume. Flags the checkpoint does not record are not checked,
    nor ``may_change``: what the stage says cannot have acted yet."""
    for name, value in sorted(current.items()):
        if name in RESUME_MAY_CHANGE or name in may_change or name not in saved or saved[name] == value:
            continue
        raise CheckpointError(f"{path}: was trained with --{name} {saved[name]}, this run asks for {value}; a "
                              f"resumed run keeps its flags (start a new run with --overwrite to change them)")


def resume_stage(stage, path, log):
    """Load a checkpoint_last.pth into ``stage``; returns (start epoch, best NME, the saved RNG state)."""
    resumed = load_checkpoint(path, RESUME_KEYS[stage.kind])
    stage.check_resume(resumed, path)
    check_same_flags(resumed.get("args", {}), vars(stage.args), path, stage.resume_may_change(resumed))
    stage.load_state(resumed)
    log.info(f"resumed from {path} after epoch {resumed['epoch']}")
    return resumed["epoch"] + 1, resumed["best_nme"], resumed["rng"]


def run_epochs(stage, args, runtime, out_dir):
    """The shared skeleton. Saves best before last, so a kill between the two never loses a best."""
    out_dir, log = Path(out_dir), stage.log
    if runtime.is_main and out_dir.is_dir():
        for name in remove_stale_temps(out_dir):
            log.info(f"removed {out_dir / name}, left by a run killed while saving")
    start_epoch, best_nme, rng = resume_stage(stage, args.resume, log) if args.resume else (0, math.inf, None)
    seed_stochastic_parts(args.seed, runtime.rank, start_epoch, rng, runtime.is_main)
    stage.wrap(runtime)
    fields = ["epoch", *stage.log_fields, "nme_io", "nme_box", "fr_io", "auc_io", "fr_box", "auc_box", "seconds"]
    csv_log = CSVLog(out_dir / "log.csv", fields, resume_epoch=start_epoch) if runtime.is_main else None
    epochs = epochs_to_run(start_epoch, args.epochs, args.stop_after)
    cadence = PlotCadence()
    for epoch in epochs:
        started = time.time()
        row = {"epoch": epoch, **stage.train_epoch(epoch)}
        if runtime.is_main:
            metrics = stage.validate()
            nme = primary_nme(metrics)
            require_finite([nme], f"epoch {epoch}: the validation NME")
            is_best = stage.counts_for_best(epoch) and nme < best_nme
            best_nme = nme if is_best else best_nme
            state = {**stage.state(), "epoch": epoch, "rng": rng_state(), "best_nme": best_nme, "metrics": metrics,
                     "args": vars(args)}
            if is_best:
                save_checkpoint(state, out_dir / BEST)
                stage.on_best(epoch, out_dir)
            save_checkpoint(state, out_dir / LAST)
            row.update(metrics, seconds=time.time() - started)
            csv_log.append({k: _format(v) for k, v in row.items()})
            if cadence.due(final=epoch == epochs[-1]):
                plot_curves(csv_log.read(), stage.plot_panels, out_dir / "curves.png", stage.title)
                stage.plot(out_dir)
            log.info(f"epoch {epoch} {stage.describe(epoch, row)} | {format_metrics(metrics)}"
                     f"{' best' if is_best else ''} | {time.time() - started:.0f}s")
        if runtime.distributed:
            torch.distributed.barrier()
    if runtime.is_main and epochs:
        log.info(closing_line(stage, out_dir, epochs[-1], args.epochs))
    elif runtime.is_main:
        log.info(f"nothing to do: {args.resume} already holds all {args.epochs} epochs of its run (a longer "
                 "schedule is a new run: --overwrite, or another --snapshot)")
    return best_nme


def closing_line(stage, out_dir, epoch, total):
    """One line at a run's end: what it chose, its last and lowest NME, and where its outputs are."""
    rows = read_csv_rows(Path(out_dir) / "log.csv")
    nmes = [100 * float(r["nme_io"]) for r in rows]
    lowest = min(range(len(nmes)), key=nmes.__getitem__)
    status = "done" if epoch + 1 >= total else f"stopped after epoch {epoch} of {total} (--resume continues)"
    chose = f"{stage.summary()}; " if stage.summary() else ""
    return (f"{stage.title} {status}: {chose}NME io last {nmes[-1]:.2f}%, lowest {nmes[lowest]:.2f}% (epoch "
            f"{rows[lowest]['epoch']}); outputs in {out_dir}: {LAST}, {BEST}, log.csv, train.log, curves.png")
