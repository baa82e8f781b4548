"""Training speed on this machine: images/s of plain fp32 eager NCHW against the path ``--fastpath auto``
chooses (fastpath.py) for every pass training runs, measured interleaved (eager, auto, eager, auto, ...)
in one process so the ratio holds on a busy machine; the data loader; and, with --whole_epoch, whole search epochs.
A benchmark, not a test.

    python -m tools.bench_speed --data_root data/faces68
    python -m tools.bench_speed --data_root data/faces68 --whole_epoch --epoch_faces 600
"""

import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from fbnet_pfld.cli import Parser
from fbnet_pfld.dataset import LandmarkDataset, data_paths, make_loader
from fbnet_pfld.distributed import Runtime
from fbnet_pfld.engine import evaluate, train_weights
from fbnet_pfld.fastpath import CACHE_ENV, EAGER, PATHS, choose_fastpath, landmark_step_factory, native_bf16
from fbnet_pfld.lookup_table import LookupTable
from fbnet_pfld.losses import get_loss
from fbnet_pfld.models import Supernet, auxiliary_net_for, build_landmark_network
from fbnet_pfld.search import SearchObjective, train_theta
from fbnet_pfld.synthetic import make_synthetic_dataset
from fbnet_pfld.table_builders import build_flops_table
from fbnet_pfld.utils import read_csv_rows

CPU = Runtime(0, 1, torch.device("cpu"), [])
SUBNET_ARCH = ["gh_k3", "gh_k3", "gh_k5", "gh_k5", "gh_k5"]


def loader_speed(dataset, batch_size, workers, batches):
    loader = make_loader(dataset, batch_size=batch_size, shuffle=True, workers=workers)
    start, seen = time.perf_counter(), 0
    for i, (images, _, _) in enumerate(loader):
        if i == 1:  # the first batch pays the workers' start-up
            start, seen = time.perf_counter(), 0
        seen += len(images)
        if i == batches:
            break
    return seen / (time.perf_counter() - start)


class Pass:
    """One training pass on its own copy of the networks, run the way one fast-path setting runs it."""

    def __init__(self, kind, fast, num_points, table):
        torch.manual_seed(0)
        self.kind, self.fast = kind, fast
        self.loss_fn = get_loss("pfld")
        if kind.startswith(("weights", "theta")):
            self.network = Supernet(num_points)
        else:
            self.network = build_landmark_network(kind.split()[-1], num_points, SUBNET_ARCH)
        self.aux = auxiliary_net_for(self.network)
        fast.prepare(self.network)
        fast.prepare(self.aux)
        self.objective = SearchObjective(table, "mul", 0.25, 0.6)
        params = [p for n, p in self.network.named_parameters() if not n.endswith("theta")]
        self.optimizer = torch.optim.Adam(params + list(self.aux.parameters()), 1e-3)
        if isinstance(self.network, Supernet):
            self.theta_optimizer = torch.optim.AdamW(self.network.arch_parameters(), 0.01)

    def __call__(self, batches):
        net, fast = self.network, self.fast
        if self.kind.startswith("weights"):
            mode = self.kind.split()[-1]
            net.train()
            return train_weights(lambda x: net(x, mode, 5.0, arch_grad=False)[:2], self.aux, batches,
                                 self.optimizer, CPU, self.loss_fn, fast)
        if self.kind.startswith("theta"):
            net.train()
            return train_theta(net, self.aux, batches, self.theta_optimizer, self.objective, self.loss_fn,
                               self.kind.split()[-1], 5.0, CPU, fast)
        if self.kind.startswith("evaluation"):
            net.eval()
            return evaluate(lambda x: net(x)[0], batches, CPU, fast)
        net.train()
        return train_weights(net, self.aux, batches, self.optimizer, CPU, self.loss_fn, fast)


def interleaved(passes, batch, steps, rounds):
    """Median images/s of each pass over ``rounds`` interleaved rounds of ``steps`` batches; and the
    seconds each pass's first two batches took (where torch.compile compiles)."""
    warm = []
    for run_pass in passes:
        started = time.perf_counter()
        run_pass([batch] * 2)
        warm.append(time.perf_counter() - started)
    speeds = [[] for _ in passes]
    for _ in range(rounds):
        for run_pass, bucket in zip(passes, speeds):
            started = time.perf_counter()
            run_pass([batch] * steps)
            bucket.append(steps * len(batch[0]) / (time.perf_counter() - started))
    return [statistics.median(s) for s in speeds], warm


def auto_choice(kind, num_points, batch_size, table):
    """The path ``--fastpath auto`` picks for the network of ``kind`` (timed as the stages time it; the
    search times its weight pass, so both its passes run on that choice)."""
    network = Pass(kind, EAGER, num_points, table).network
    aux = auxiliary_net_for(network)
    mode = "soft" if kind.endswith("soft") else "hard"
    forward = (lambda net, x: net(x, mode, 5.0, arch_grad=False)) if isinstance(network, Supernet) else None
    make_step = landmark_step_factory(network, aux, batch_size, num_points, forward)
    return choose_fastpath("auto", torch.device("cpu"), network, make_step, batch_size, log=lambda _: None)


def compare_passes(batch, num_points, steps, rounds, compiled):
    """Each pass in plain eager against the automatic choice, interleaved; ``compiled`` adds compile."""
    table = LookupTable(build_flops_table(num_points))
    kinds = ["weights soft", "weights hard", "theta soft", "theta hard", "fine-tune subnet", "fine-tune pfld_lite",
             "evaluation subnet"]
    results = {}
    os.environ[CACHE_ENV] = os.devnull  # measure afresh: a cached choice would not be a measurement
    for kind in kinds:
        chosen = auto_choice(kind, num_points, len(batch[0]), table)
        setups = {"eager": EAGER, f"auto ({chosen.name})": chosen}
        if compiled and kind.startswith(("fine-tune subnet", "evaluation")):
            setups["compile"] = PATHS["compile"]
        passes = [Pass(kind, setup, num_points, table) for setup in setups.values()]
        speeds, warm = interleaved(passes, batch, steps, rounds)
        results[kind] = dict(zip(setups, speeds))
        line = ", ".join(f"{name} {speed:6.0f} img/s" for name, speed in zip(setups, speeds))
        extra = f" (compile: first 2 batches {warm[2]:.1f} s vs {warm[1]:.1f} s)" if len(setups) > 2 else ""
        print(f"{kind:22s} {line}; auto/eager {speeds[1] / speeds[0]:.2f}x{extra}", flush=True)
    return results


def whole_epochs(data_root, num_points, faces, batch_size, workers, rounds):
    """ms per training image of a whole search epoch (weights + theta + validation + saving, the engine's
    ``seconds``): soft sampling in plain eager (NNI's way) against hard sampling on the automatic path. Each run
    has two epochs and its second is timed, so the once-per-run costs (start-up, the final plots) are
    reported apart; the arms alternate for ``rounds`` rounds and the medians are reported."""
    import supernet_train

    setups = {"soft, eager": ["--sample", "soft", "--fastpath", "eager"],
              "hard, automatic path": ["--sample", "hard"]}
    with tempfile.TemporaryDirectory() as tmp:
        root = subset_root(data_root, faces, Path(tmp) / "data")
        lut = Path(tmp) / "flops.json"
        LookupTable(build_flops_table(num_points)).save(lut)
        epoch_ms, run_extra_s = {name: [] for name in setups}, {name: [] for name in setups}
        for k in range(rounds):
            for name, flags in setups.items():
                snapshot = Path(tmp) / f"{name[:4]}{k}"
                started = time.perf_counter()
                supernet_train.main(["--data_root", str(root), "--lut", str(lut), "--snapshot", str(snapshot),
                                     "--epochs", "2", "--warmup_epochs", "0", "--batch_size", str(batch_size),
                                     "--workers", str(workers), "--dev_id", "cpu", *flags])
                wall = time.perf_counter() - started
                seconds = [float(row["seconds"]) for row in read_csv_rows(snapshot / "supernet" / "log.csv")]
                epoch_ms[name].append(seconds[-1] * 1000 / faces)
                run_extra_s[name].append(wall - sum(seconds))
        return {name: (statistics.median(epoch_ms[name]), statistics.median(run_extra_s[name])) for name in setups}


def subset_root(data_root, faces, out):
    """A DATA_ROOT with the first ``faces`` training lines and the whole test split; the image folders
    are linked, so list.txt paths stay relative to the root."""
    for split, limit in (("train_data", faces), ("test_data", None)):
        source, target = Path(data_root).resolve() / split, out / split
        target.mkdir(parents=True, exist_ok=True)
        (target / "imgs").symlink_to(source / "imgs")
        lines = (source / "list.txt").read_text().splitlines()[:limit]
        (target / "list.txt").write_text("".join(f"{line}\n" for line in lines))
    return out


def parse_args(argv=None):
    parser = Parser(__doc__)
    parser.add_argument("--data_root", help="a prepared DATA_ROOT (default: generated data)")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3, help="batches per pass per round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (the median is reported)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--whole_epoch", action="store_true", help="also time whole search epochs on DATA_ROOT")
    parser.add_argument("--epoch_faces", type=int, default=600, help="training lines used by --whole_epoch")
    parser.add_argument("--epoch_rounds", type=int, default=2, help="interleaved rounds of whole epochs")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.data_root) if args.data_root else make_synthetic_dataset(tmp, 68, 1024, 16)
        dataset = LandmarkDataset(data_paths(root)[0], root, augment=True)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
              f"{dataset.num_points} points, native bf16: {native_bf16()}")
        print(f"data loader ({args.workers} workers, augmenting): "
              f"{loader_speed(dataset, args.batch_size, args.workers, 20):8.0f} images/s")
        batch = next(iter(make_loader(dataset, batch_size=args.batch_size, shuffle=True, workers=0)))
    compare_passes(batch, dataset.num_points, args.steps, args.rounds, args.compile)
    if args.whole_epoch:
        timings = whole_epochs(root, dataset.num_points, args.epoch_faces, args.batch_size, args.workers,
                               args.epoch_rounds)
        (soft, (soft_ms, soft_extra)), (hard, (hard_ms, hard_extra)) = timings.items()
        print(f"whole search epoch ({args.epoch_faces} faces): {soft} {soft_ms:.2f} ms/image, {hard} {hard_ms:.2f} "
              f"ms/image; {soft_ms / hard_ms:.2f}x (once per run, outside the epochs: {soft_extra:.1f} s and "
              f"{hard_extra:.1f} s)")


if __name__ == "__main__":
    main()
