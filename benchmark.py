"""The results table: size, cost, latency and accuracy of each model, measured in one process.

    python benchmark.py --data_root data/faces68 \\
        subnet=released/subnet.pth baseline=released/baseline.pth --out released/benchmark

Each model is a retrain checkpoint (.pth) or an ONNX file (.onnx), optionally labelled ``NAME=PATH``.
Per model: parameters, multiply-adds, ONNX size, onnxruntime CPU latency at batch 1 with 1 thread
and with all threads (median of --runs calls after warm-up, models interleaved), PyTorch latency,
and NME / failure rate / AUC on DATA_ROOT's test split computed with the ONNX model. Prints a
Markdown table and writes OUT.md and OUT.json.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dataset import LandmarkDataset
from export import export_landmark_model, parity_images
from lookup_table import cpu_model
from models import count_macs, count_parameters, landmark_model_from_checkpoint
from onnx_tools import latency_stats, make_session, time_sessions
from utils import CheckpointError, landmark_metrics, load_checkpoint


def parse_model_arg(text):
    name, _, path = text.rpartition("=")
    return (name or Path(path).stem), Path(path)


def onnx_parameters(path):
    import onnx

    return int(sum(np.prod(t.dims) for t in onnx.load(str(path)).graph.initializer))


def torch_latency(models, runs, warmup=20, rounds=10):
    """Median ms per batch-1 forward of each PyTorch model, interleaved like the onnxruntime timing."""
    x = torch.rand(1, 3, 112, 112)
    times = [[] for _ in models]
    with torch.no_grad():
        for model in models:
            for _ in range(warmup):
                model(x)
        for _ in range(rounds):
            for model, bucket in zip(models, times):
                for _ in range(max(1, runs // rounds)):
                    start = time.perf_counter()
                    model(x)
                    bucket.append((time.perf_counter() - start) * 1000)
    return [latency_stats(t)["median"] for t in times]


def onnx_metrics(session, dataset, batch_size=64):
    predictions, targets = [], []
    for start in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(start, min(len(dataset), start + batch_size))]
        images = torch.stack([item[0] for item in items]).numpy()
        predictions.append(session.run(None, {"input": images})[0])
        targets.append(torch.stack([item[1] for item in items]).numpy())
    return landmark_metrics(np.concatenate(predictions), np.concatenate(targets))


def load_entries(specs, workdir):
    """(name, ONNX path, PyTorch model or None) per model; checkpoints are exported to ``workdir``."""
    entries = []
    for spec in specs:
        name, path = parse_model_arg(spec)
        if path.suffix == ".onnx":
            if not path.is_file():
                raise CheckpointError(f"{path}: no such ONNX file")
            entries.append((name, path, None))
            continue
        model = landmark_model_from_checkpoint(load_checkpoint(path, ("model", "model_type", "num_points")))
        onnx_path = Path(workdir) / f"{name}.onnx"
        export_landmark_model(model, onnx_path, parity_images())
        entries.append((name, onnx_path, model))
    return entries


def run_benchmark(specs, data_root=None, runs=300):
    threads_all = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        entries = load_entries(specs, tmp)
        one = time_sessions([make_session(p, 1) for _, p, _ in entries], runs=runs, warmup=30)
        many = time_sessions([make_session(p, threads_all) for _, p, _ in entries], runs=runs, warmup=30)
        models = [m for _, _, m in entries if m is not None]
        torch_ms = iter(torch_latency(models, runs) if models else [])
        dataset = LandmarkDataset(Path(data_root) / "test_data/list.txt", data_root) if data_root else None
        rows = []
        for (name, path, model), lat1, latn in zip(entries, one, many):
            row = {"model": name, "parameters": count_parameters(model) if model else onnx_parameters(path),
                   "macs": count_macs(model) if model else None, "onnx_bytes": path.stat().st_size,
                   "ort_1thread_ms": lat1["median"], f"ort_{threads_all}threads_ms": latn["median"],
                   "torch_ms": next(torch_ms) if model else None}
            if dataset is not None:
                row.update(onnx_metrics(make_session(path, threads_all), dataset))
            rows.append(row)
    meta = {"cpu": cpu_model(), "arch": platform.machine(), "threads_all": threads_all, "runs": runs,
            "torch": torch.__version__, "onnxruntime": __import__("onnxruntime").__version__,
            "test_set": str(data_root) if data_root else None, "test_faces": len(dataset) if dataset else None,
            "date": time.strftime("%Y-%m-%d")}
    return {"meta": meta, "rows": rows}


def markdown(result):
    meta, rows = result["meta"], result["rows"]
    n = meta["threads_all"]
    head = ["model", "params", "MACs (M)", "ONNX (KB)", "ORT 1 thread (ms)", f"ORT {n} threads (ms)",
            "PyTorch (ms)"]
    has_io = any("nme_io" in r for r in rows)
    has_box = any("nme_box" in r for r in rows)
    head += ["NME io (%)", "FR@0.1 (%)", "AUC@0.1"] if has_io else []
    head += ["NME box (%)"] if has_box else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["model"], f"{r['parameters']:,}", f"{r['macs'] / 1e6:.2f}" if r["macs"] else "n/a",
                 f"{r['onnx_bytes'] / 1024:.0f}", f"{r['ort_1thread_ms']:.3f}", f"{r[f'ort_{n}threads_ms']:.3f}",
                 f"{r['torch_ms']:.2f}" if r["torch_ms"] else "n/a"]
        if has_io:
            cells += [f"{100 * r['nme_io']:.2f}", f"{100 * r['fr_io']:.1f}", f"{r['auc_io']:.3f}"]
        if has_box:
            cells.append(f"{100 * r['nme_box']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    where = f"{meta['test_faces']} test faces of {meta['test_set']}" if meta["test_set"] else "no test set"
    lines.append(f"\n{meta['cpu']} ({meta['arch']}), onnxruntime {meta['onnxruntime']}, torch {meta['torch']}; "
                 f"batch 1, median of {meta['runs']} calls after warm-up, models interleaved; {where}.")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="[NAME=]PATH of a .pth retrain checkpoint or an .onnx file")
    parser.add_argument("--data_root", help="DATA_ROOT whose test split gives NME")
    parser.add_argument("--runs", type=int, default=300, help="timed calls per model (at least 200 advised)")
    parser.add_argument("--out", help="write OUT.md and OUT.json")
    args = parser.parse_args(argv)
    try:
        result = run_benchmark(args.models, args.data_root, args.runs)
    except CheckpointError as error:
        sys.exit(f"error: {error}")
    table = markdown(result)
    print(table)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out + ".md").write_text(table + "\n")
        Path(args.out + ".json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
