"""The fast path every training loop uses (weight pass, theta pass, fine-tune, evaluation): channels-last
memory, ``torch.compile``, bf16 autocast on CPUs with native bf16, thread settings. Each part is
measured by ``python -m tools.bench_speed`` and switchable by a flag; the default is the fastest
setting that keeps accuracy (README, "Training speed").
"""

import os
import time
from typing import NamedTuple

import torch

PRECISIONS = ("fp32", "bf16")


def native_bf16():
    """True where oneDNN runs bf16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated and slow."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class FastPath(NamedTuple):
    """How a training loop runs its networks. ``EAGER`` is plain fp32 eager NCHW."""

    channels_last: bool = False
    precision: str = "fp32"
    compile: bool = False
    device_type: str = "cpu"

    def images(self, x):
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def autocast(self):
        return torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def prepare(self, module):
        """Memory format and compilation, in place (parameters and state_dict keys stay the same).

        A network may list ``compile_units()``: the supernet compiles its stem, head and each candidate
        once, and its per-step Python choice of candidate stays eager."""
        if self.channels_last:
            module.to(memory_format=torch.channels_last)
        if self.compile:
            for unit in getattr(module, "compile_units", lambda: [module])():
                unit.compile(dynamic=False)
        return module

    def describe(self):
        return (f"{'channels-last' if self.channels_last else 'NCHW'}, {self.precision}, "
                f"{'compiled' if self.compile else 'eager'}")


EAGER = FastPath()


def add_fastpath_args(parser):
    group = parser.add_argument_group("speed (defaults: the fastest setting that keeps accuracy)")
    group.add_argument("--precision", choices=PRECISIONS,
                       help="bf16 autocast (default where the CPU has native bf16, else fp32)")
    group.add_argument("--compile", action="store_true",
                       help="torch.compile each network (off by default: it did not speed up training on the "
                            "2-core development CPU, see README)")
    group.add_argument("--no_channels_last", action="store_true", help="keep NCHW memory")
    group.add_argument("--threads", type=int, help="torch threads (default: all cores of this process)")


def fastpath_from_args(args, device):
    """The fast path the flags ask for on ``device``; sets torch's thread count."""
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    elif device.type == "cpu":
        torch.set_num_threads(len(os.sched_getaffinity(0)))
    precision = args.precision or ("bf16" if device.type == "cuda" or native_bf16() else "fp32")
    return FastPath(channels_last=not args.no_channels_last, precision=precision, compile=args.compile,
                    device_type=device.type)


class CompileTimer:
    """Wall time of the first calls (where torch.compile compiles), reported in the log."""

    def __init__(self):
        self.started = time.perf_counter()

    def seconds(self):
        return time.perf_counter() - self.started
