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
from engine import pfld_loss
from lookup_table import LookupTable, build_flops_table
from models import AuxiliaryNet, Supernet
from supernet_train import latency_loss


def images_per_second(step, batch, batch_size, steps, warmup=2):
    for _ in range(warmup):
        step(batch)
    start = time.perf_counter()
    for _ in range(steps):
        step(batch)
    return steps * batch_size / (time.perf_counter() - start)


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
    supernet, aux = Supernet(dataset.num_points), AuxiliaryNet()
    optimizer = torch.optim.Adam(supernet.weight_parameters() + list(aux.parameters()), 1e-3)
    thetas = supernet.arch_parameters()
    table = LookupTable(build_flops_table(dataset.num_points))

    def weight_step(mode):
        def step(b):
            images, landmarks, angles = b
            out, feature, _ = supernet(images, mode, 5.0, arch_grad=False)
            loss, _ = pfld_loss(out, landmarks, aux(feature), angles)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return step

    def theta_step(mode):
        def step(b):
            images, landmarks, angles = b
            out, feature, weights = supernet(images, mode, 5.0, arch_grad=True)
            with torch.no_grad():
                predicted = aux(feature)
            task, _ = pfld_loss(out, landmarks, predicted, angles)
            loss = latency_loss(task, table.expected_latency(weights), table.min_latency(), "mul", 0.25, 0.6)
            loss.backward(inputs=thetas)
        return step

    @torch.no_grad()
    def validate(b):
        supernet(b[0], "argmax")

    supernet.train()
    results = {}
    for name, step in [("weight pass, soft", weight_step("soft")), ("weight pass, hard", weight_step("hard")),
                       ("theta pass, soft", theta_step("soft")), ("theta pass, hard", theta_step("hard"))]:
        results[name] = images_per_second(step, batch, args.batch_size, args.steps)
        print(f"{name:24s} {results[name]:8.0f} images/s")
    supernet.eval()
    speed = images_per_second(validate, batch, args.batch_size, args.steps)
    print(f"{'validation (argmax)':24s} {speed:8.0f} images/s")
    print(f"hard / soft weight pass: {results['weight pass, hard'] / results['weight pass, soft']:.1f}x")


if __name__ == "__main__":
    main()
