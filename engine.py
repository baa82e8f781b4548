"""Training pieces shared by supernet_train.py and retrain.py: loss, devices and DDP, data, epochs, evaluation."""

import os
import sys
from pathlib import Path
from typing import NamedTuple

import torch
import torch.distributed as dist
from tqdm import tqdm

from dataset import LandmarkDataset, make_loader
from utils import landmark_metrics, set_rng_state


def pfld_loss(landmarks, landmarks_gt, angles, angles_gt):
    """PFLD's loss: per sample, sum over pitch/yaw/roll of (1 - cos(error)) times the summed squared
    landmark error, averaged. Angles are degrees in list.txt and enter cos in radians (the reference
    and PFLD-pytorch fed degrees to cos). Returns (loss, plain mean squared landmark error)."""
    angle_weight = torch.sum(1 - torch.cos(torch.deg2rad(angles - angles_gt)), dim=1)
    squared = torch.sum((landmarks_gt - landmarks) ** 2, dim=1)
    return torch.mean(angle_weight * squared), torch.mean(squared)


class Runtime(NamedTuple):
    """Where this process trains: its rank among ``world_size`` processes and its device."""

    rank: int
    world_size: int
    device: torch.device
    device_ids: list  # GPUs for DataParallel when launched without torchrun

    @property
    def is_main(self):
        return self.rank == 0

    @property
    def distributed(self):
        return self.world_size > 1


def setup_runtime(dev_id="0"):
    """torchrun -> DistributedDataParallel (NCCL on GPU, gloo on CPU); otherwise ``--dev_id`` as in the
    reference: "cpu", one GPU index, or "0,1" for DataParallel on a multi-GPU host."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = torch.cuda.is_available() and dev_id != "cpu"
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if use_cuda else "gloo")
        device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
        return Runtime(dist.get_rank(), dist.get_world_size(), device, [])
    if dev_id == "cpu" or not torch.cuda.is_available():
        return Runtime(0, 1, torch.device("cpu"), [])
    ids = [int(i) for i in str(dev_id).split(",") if i.strip()]
    return Runtime(0, 1, torch.device("cuda", ids[0]), ids if len(ids) > 1 else [])


def teardown_runtime(runtime):
    if runtime.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(module, runtime, ignore=()):
    """DDP under torchrun, DataParallel for several --dev_id GPUs, else the module itself.
    Parameters named in ``ignore`` (theta) are left out of DDP's gradient averaging."""
    module = module.to(runtime.device)
    if runtime.distributed:
        if ignore:
            torch.nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(module, list(ignore))
        ids = [runtime.device.index] if runtime.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)
    if runtime.device_ids:
        return torch.nn.DataParallel(module, device_ids=runtime.device_ids)
    return module


def unwrap(model):
    return model.module if hasattr(model, "module") else model


def average_gradients(parameters, runtime):
    """All-reduce the gradients of parameters kept out of DDP, so every rank takes the same step."""
    if not runtime.distributed:
        return
    for p in parameters:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad)
        p.grad /= runtime.world_size


def broadcast_parameters(parameters, runtime):
    if runtime.distributed:
        for p in parameters:
            dist.broadcast(p.data, 0)


def max_rank_difference(tensors, runtime):
    """Largest absolute difference of ``tensors`` between this rank and rank 0 (0 on one process)."""
    if not runtime.distributed:
        return 0.0
    flat = torch.cat([t.detach().flatten() for t in tensors])
    reference = flat.clone()
    dist.broadcast(reference, 0)
    difference = (flat - reference).abs().max()
    dist.all_reduce(difference, op=dist.ReduceOp.MAX)
    return float(difference)


def data_paths(data_root):
    root = Path(data_root)
    return root / "train_data" / "list.txt", root / "test_data" / "list.txt"


def load_datasets(data_root, num_points=None, seed=0):
    """Training (augmented) and test datasets of DATA_ROOT, with one point count checked across both."""
    train_list, test_list = data_paths(data_root)
    train = LandmarkDataset(train_list, data_root, num_points, augment=True, seed=seed)
    test = LandmarkDataset(test_list, data_root, train.num_points, augment=False)
    return train, test


def make_eval_loader(dataset, batch_size, workers):
    return make_loader(dataset, batch_size=batch_size, shuffle=False, workers=workers)


def progress(iterable, runtime, desc):
    return tqdm(iterable, desc=desc, leave=False, disable=not runtime.is_main, unit="batch", dynamic_ncols=True)


def train_weights(forward, aux, loader, optimizer, runtime, desc="weights"):
    """One pass over ``loader`` training network weights and the auxiliary net on the PFLD loss.

    ``forward(images) -> (landmarks, feature)``. Returns mean loss and mean squared error."""
    totals, batches = torch.zeros(2), 0
    for images, landmarks_gt, angles_gt in progress(loader, runtime, desc):
        images, landmarks_gt, angles_gt = (t.to(runtime.device, non_blocking=True)
                                           for t in (images, landmarks_gt, angles_gt))
        landmarks, feature = forward(images)
        loss, squared = pfld_loss(landmarks, landmarks_gt, aux(feature), angles_gt)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        totals += torch.stack([loss.detach().cpu(), squared.detach().cpu()])
        batches += 1
    return (totals / max(1, batches)).tolist()


@torch.no_grad()
def evaluate(predict, loader, runtime, desc="eval"):
    """Landmark metrics of ``predict(images) -> landmarks`` over a loader (run on one process)."""
    predictions, targets = [], []
    for images, landmarks_gt, _ in progress(loader, runtime, desc):
        predictions.append(predict(images.to(runtime.device)).float().cpu())
        targets.append(landmarks_gt)
    return landmark_metrics(torch.cat(predictions), torch.cat(targets))


def seed_stochastic_parts(seed, runtime, start_epoch, resumed=None):
    """Seed the RNG behind Gumbel noise and loader workers per rank; on resume, rank 0 restores the
    saved state instead, so one process continues exactly where it stopped."""
    torch.manual_seed(seed * 1000 + runtime.rank + 7919 * start_epoch)
    if resumed is not None and runtime.is_main:
        set_rng_state(resumed["rng"])


def epochs_to_run(start_epoch, epochs, stop_after=None):
    """The epochs of this run: to the end of the schedule, or ``stop_after`` of them (time-limited jobs)."""
    return range(start_epoch, epochs if stop_after is None else min(epochs, start_epoch + stop_after))


def run_stage(run, args, errors):
    """Set up devices, run a stage, turn expected input errors into one-line exits, always tear down."""
    runtime = setup_runtime(args.dev_id)
    try:
        return run(args, runtime)
    except errors as error:
        sys.exit(f"error: {error}")
    finally:
        teardown_runtime(runtime)
