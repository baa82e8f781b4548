"""Images per second of each training stage on this machine: the data loader, the supernet's weight
pass (soft and hard sampling), its theta pass, and argmax validation. A benchmark, not a test.

    python bench_speed.py                            # generated 68-point data, batch 64
    python bench_speed.py --data_root data/faces68 --batch_size 128
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch

from data.synthetic import make_synthetic_dataset
from dataset import LandmarkDataset, make_loader
from engine import Runtime, evaluate, train_weights
from lookup_table import LookupTable, build_flops_table
from models import AuxiliaryNet, Supernet
from supernet_train import parse_args, train_theta


def images_per_second(run_pass, batch, steps, warmup=2):
    """Images/s of ``run_pass`` (a training function taking an iterable of batches) on one fixed batch."""
    run_pass([batch] * warmup)
    start = time.perf_counter()
    run_pass([batch] * steps)
    return steps * len(batch[0]) / (time.perf_counter() - start)


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_root", help="a prepared DATA_ROOT (default: generated data)")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.data_root) if args.data_root else make_synthetic_dataset(tmp, 68, 1024, 16)
        dataset = LandmarkDataset(root / "train_data/list.txt", root, augment=True)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
              f"{dataset.num_points} points")
        print(f"data loader ({args.workers} workers, augmenting): "
              f"{loader_speed(dataset, args.batch_size, args.workers, 20):8.0f} images/s")
        batch = next(iter(make_loader(dataset, batch_size=args.batch_size, shuffle=True, workers=0)))
    # The passes time the functions training runs, fed one fixed batch repeatedly.
    supernet, aux = Supernet(dataset.num_points), AuxiliaryNet()
    optimizer = torch.optim.Adam(supernet.weight_parameters() + list(aux.parameters()), 1e-3)
    theta_optimizer = torch.optim.AdamW(supernet.arch_parameters(), 0.01)
    table = LookupTable(build_flops_table(dataset.num_points))
    runtime = Runtime(0, 1, torch.device("cpu"), [])

    def weight_pass(mode):
        return lambda batches: train_weights(lambda x: supernet(x, mode, 5.0, arch_grad=False)[:2], aux, batches,
                                             optimizer, runtime)

    def theta_pass(mode):
        search_args = parse_args(["--sample", mode])  # the search's defaults: mul, alpha 0.25, beta 0.6
        return lambda batches: train_theta(supernet, aux, batches, theta_optimizer, table, search_args, 5.0, runtime)

    supernet.train()
    results = {}
    for name, run_pass in [("weight pass, soft", weight_pass("soft")), ("weight pass, hard", weight_pass("hard")),
                           ("theta pass, soft", theta_pass("soft")), ("theta pass, hard", theta_pass("hard"))]:
        results[name] = images_per_second(run_pass, batch, args.steps)
        print(f"{name:24s} {results[name]:8.0f} images/s")
    supernet.eval()
    speed = images_per_second(lambda batches: evaluate(lambda x: supernet(x, "argmax")[0], batches, runtime),
                              batch, args.steps)
    print(f"{'validation (argmax)':24s} {speed:8.0f} images/s")
    print(f"hard / soft weight pass: {results['weight pass, hard'] / results['weight pass, soft']:.1f}x")


if __name__ == "__main__":
    main()
