"""How a training loop runs its networks: plain fp32 eager NCHW, channels-last memory, bf16 autocast (only
where the CPU runs bf16 natively) or ``torch.compile``. No setting is fastest everywhere: on one 2-core
CPU with native bf16, bf16 made pfld_lite's training step 3.5x faster and the small subnet's 0.8x. So
``--fastpath auto`` (the default) times a few training steps of each candidate on the network at hand,
interleaved, and keeps the fastest only when it beats eager; the choice is cached per network and
machine. ``python -m tools.bench_speed`` measures every pass.
"""

import copy
import hashlib
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch
from tqdm import tqdm

from fbnet_pfld.argtypes import positive_int
from fbnet_pfld.blocks import INPUT_SIZE
from fbnet_pfld.jsonfile import write_json
from fbnet_pfld.machine import fingerprint, usable_cores

CACHE_ENV = "FBNET_PFLD_CACHE"
DEFAULT_ENV = "FBNET_PFLD_FASTPATH"  # the default of --fastpath (the tests set eager)
MIN_GAIN = 1.03  # a candidate must be this much faster than eager to be chosen (timings are noisy)
BUDGET_S = 15.0  # seconds of timed rounds before the choice (the warm-up steps come on top)


def native_bf16():
    """True where oneDNN runs bf16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated and slow."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class FastPath(NamedTuple):
    """One way of running the networks. ``EAGER`` is plain fp32 eager NCHW."""

    channels_last: bool = False
    precision: str = "fp32"
    compile: bool = False
    device_type: str = "cpu"
    name: str = "eager"

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
        return (f"{self.name}: {'channels-last' if self.channels_last else 'NCHW'}, {self.precision}, "
                f"{'compiled' if self.compile else 'eager'}")


PATHS = {
    "eager": FastPath(),
    "channels_last": FastPath(channels_last=True, name="channels_last"),
    "bf16": FastPath(channels_last=True, precision="bf16", name="bf16"),
    "bf16_nchw": FastPath(precision="bf16", name="bf16_nchw"),
    "compile": FastPath(compile=True, name="compile"),
}
EAGER = PATHS["eager"]
CHOICES = ("auto", *PATHS)


def auto_candidates(device_type):
    """What ``auto`` times: bf16 only where it is native (emulated bf16 ran at 0.12x); compile never, its
    first steps cost minutes on a small CPU (force it with ``--fastpath compile``)."""
    names = ["eager", "channels_last"]
    if device_type == "cuda" or native_bf16():
        names += ["bf16", "bf16_nchw"]
    return names


def pick_fastest(images_per_s, min_gain=MIN_GAIN):
    """The candidate with the most images/s, or eager unless it wins by ``min_gain``: never slower than eager."""
    best = max(images_per_s, key=images_per_s.get)
    return best if images_per_s[best] >= min_gain * images_per_s["eager"] else "eager"


def time_candidates(make_step, names, batch_size, rounds=3, budget_s=BUDGET_S):
    """Median images/s of each candidate's training step, interleaved (a, b, a, b, ...) so that a busy
    machine slows all alike: one step each to warm up, then up to ``rounds`` timed rounds, stopping after the
    first round that ends past ``budget_s`` seconds (a progress bar shows them). ``make_step(fast)`` returns a
    zero-argument step on its own network copies. The global RNG is left as it was (the run's Gumbel noise
    and shuffles do not depend on the timing)."""
    started = time.perf_counter()
    speeds = {name: [] for name in names}
    with torch.random.fork_rng(devices=[]), tqdm(total=len(names) * (rounds + 1), desc="timing fast paths",
                                                  unit="step", leave=False) as bar:
        steps_by_name = {name: make_step(PATHS[name]) for name in names}
        for step in steps_by_name.values():
            step()  # first call: allocation, oneDNN kernel choice
            bar.update()
        for _ in range(rounds):
            for name, step in steps_by_name.items():
                begun = time.perf_counter()
                step()
                speeds[name].append(batch_size / (time.perf_counter() - begun))
                bar.update()
            if time.perf_counter() - started > budget_s:
                break
    return {name: statistics.median(values) for name, values in speeds.items()}


def landmark_step_factory(network, aux, batch_size, num_points, forward=None):
    """``make_step`` for a landmark network and its auxiliary net: one Adam step on copies, random inputs."""
    forward = forward or (lambda net, x: net(x))

    def make_step(fast):
        net, pose = fast.prepare(copy.deepcopy(network).train()), fast.prepare(copy.deepcopy(aux).train())
        optimizer = torch.optim.Adam(list(net.parameters()) + list(pose.parameters()), lr=1e-9)
        images = fast.images(torch.rand(batch_size, 3, INPUT_SIZE, INPUT_SIZE))
        target = torch.rand(batch_size, 2 * num_points)

        def step():
            with fast.autocast():
                landmarks, feature = forward(net, images)[:2]
                angles = pose(feature)
            loss = (landmarks.float() - target).abs().mean() + angles.float().abs().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return step
    return make_step


def signature(network, batch_size, device_type):
    """What a timing depends on besides the machine: the network's layers and shapes, batch, threads."""
    shapes = [(name, tuple(p.shape)) for name, p in network.state_dict().items()]
    text = repr((type(network).__name__, shapes, batch_size, device_type, torch.__version__,
                 torch.get_num_threads()))
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def cache_path():
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "fbnet-pfld" / "fastpath.json")


def read_cache(path):
    """The cache's entries, or None when PATH holds something else (a file never to write over); a missing
    or unreadable cache reads as empty (it is only a cache)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return None if Path(path).exists() else {}
    looks_like_cache = isinstance(data, dict) and all(isinstance(v, dict) and "choice" in v for v in data.values())
    return data if looks_like_cache else None


def write_cache(path, entries):
    try:
        write_json(entries, path)
    except OSError:
        pass  # a read-only home only costs a new measurement next time


def cached_choice(entry, names, machine):
    """The cached name when ``entry`` was measured on this machine among the same candidates, else None."""
    if not isinstance(entry, dict) or entry.get("machine") != machine or entry.get("candidates") != names:
        return None
    choice = entry.get("choice")
    return choice if choice in names else None


def choose_fastpath(requested: str, device: torch.device, network, make_step: Callable, batch_size: int,
                    log: Callable[[str], None] = print) -> FastPath:
    """The fast path for ``network``: the one ``requested``, or for ``auto`` the measured fastest (cached)."""
    if requested != "auto":
        emulated = PATHS[requested].precision == "bf16" and device.type == "cpu" and not native_bf16()
        log(f"fast path {requested} (forced by --fastpath)" + ("; warning: this CPU has no native bf16, emulated "
                                                              "bf16 ran about 8x slower than fp32" if emulated else ""))
        return PATHS[requested]._replace(device_type=device.type)
    names = auto_candidates(device.type)
    key, machine, path = signature(network, batch_size, device.type), fingerprint(), cache_path()
    entries = read_cache(path)
    if entries is None:
        log(f"fast path: {path} ({CACHE_ENV}) is not a fast-path cache; left as it is, nothing cached")
    cached = (entries or {}).get(key)
    choice = cached_choice(cached, names, machine)
    if choice is not None:
        log(f"fast path {choice} (cached choice for this network on this machine, {path})")
        return PATHS[choice]._replace(device_type=device.type)
    if cached is not None:
        log(f"fast path: the cached choice in {path} was measured on another machine or candidates; ignored")
    log(f"fast path: timing {', '.join(names)} on this machine (at most ~{BUDGET_S:g} s, once; cached in {path}; "
        "--fastpath eager skips it)")
    speeds = time_candidates(make_step, names, batch_size)
    choice = pick_fastest(speeds)
    if entries is not None:
        write_cache(path, {**entries, key: {"machine": machine, "candidates": names, "choice": choice,
                                            "images_per_s": speeds}})
    timed = ", ".join(f"{name} {speed:.0f}" for name, speed in speeds.items())
    log(f"fast path {choice} (timed training steps, images/s: {timed}; chosen only if >= {MIN_GAIN:g}x eager)")
    return PATHS[choice]._replace(device_type=device.type)


def add_fastpath_args(parser):
    group = parser.add_argument_group("speed")
    default = os.environ.get(DEFAULT_ENV, "auto")
    group.add_argument("--fastpath", choices=CHOICES, default=default if default in CHOICES else "auto",
                       help="how the networks run: 'auto' times each candidate on this network and machine and "
                            "keeps the fastest (never slower than eager); or force one. A resumed run keeps its "
                            f"path. Default: ${DEFAULT_ENV}, else auto")
    group.add_argument("--threads", type=positive_int, help="torch threads (default: all cores of this process)")


def add_fixed_fastpath_arg(parser):
    """``--fastpath`` of a comparison (a sweep, the length protocol): one path for every training it runs. No
    ``auto``: networks timed apart could train in different precisions, and precision is part of a recipe."""
    parser.add_argument("--fastpath", choices=list(PATHS), default="channels_last",
                        help="how every training runs, the same for all (bf16 only where the CPU runs it natively: "
                             "elsewhere it is emulated, ~8x slower). Default: channels_last (fp32)")


def set_threads(args, device):
    """torch's thread count: --threads, else every core this process may use."""
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    elif device.type == "cpu":
        torch.set_num_threads(usable_cores())
