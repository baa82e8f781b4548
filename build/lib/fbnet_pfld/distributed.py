"""Where training runs: one process (CPU, a GPU, DataParallel GPUs) or DistributedDataParallel under
torchrun; and the hand-made collectives that keep theta identical on every rank.
"""

import os
from typing import NamedTuple

import torch
import torch.distributed as dist

from fbnet_pfld.errors import DeviceError


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


def gpu_ids(dev_id):
    """The GPU indices ``--dev_id`` names ("0", "0,1"); None for "cpu" and "auto". A malformed value, or a
    GPU this machine does not have, is refused: a run never falls back to the CPU without a word."""
    if dev_id in ("cpu", "auto"):
        return None
    parts = [part.strip() for part in str(dev_id).split(",")]
    if not all(part.isdigit() for part in parts) or len(set(parts)) != len(parts):
        raise DeviceError(f"--dev_id {dev_id}: expected 'cpu', 'auto', a GPU index or distinct indices like 0,1")
    ids = [int(part) for part in parts]
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    missing = [i for i in ids if i >= count]
    if missing:
        raise DeviceError(f"--dev_id {dev_id}: this machine has {count} CUDA GPU(s), so no GPU "
                          f"{', '.join(map(str, missing))} (use --dev_id cpu or auto)")
    return ids


def setup_runtime(dev_id="auto"):
    """torchrun -> DistributedDataParallel (NCCL on GPU, gloo on CPU); otherwise ``--dev_id``: "auto" (the
    first GPU if there is one, else the CPU), "cpu", one GPU index, or "0,1" for DataParallel."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = torch.cuda.is_available() and dev_id != "cpu"
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if use_cuda else "gloo")
        device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
        return Runtime(dist.get_rank(), dist.get_world_size(), device, [])
    ids = gpu_ids(dev_id)
    if ids is None:
        ids = [0] if dev_id == "auto" and torch.cuda.is_available() else []
    if not ids:
        return Runtime(0, 1, torch.device("cpu"), [])
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
