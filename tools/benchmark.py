"""The results table: size, cost, latency and accuracy of each model, measured in one process.

    python -m tools.benchmark --data_root data/faces68 \\
        subnet=released/subnet.pth baseline=released/baseline.pth --out released/benchmark

Each model is a retrain checkpoint (.pth) or an ONNX file (.onnx), optionally labelled ``NAME=PATH``.
Per model: parameters, multiply-adds, ONNX size, batch-1 latency in onnxruntime (1 thread and all
threads), MNN (1 thread) and PyTorch, each the median of --runs calls after warm-up with every model
and runtime interleaved in one process; and NME / failure rate / AUC on DATA_ROOT's test split
computed with the ONNX model. Prints a Markdown table and writes OUT.md and OUT.json.
"""

import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from blocks import INPUT_SIZE
from checkpoints import load_landmark_model
from cli import Parser, exit_on_user_error
from dataset import load_test_set
from deploy import DeployError, MnnSession, OrtSession, random_feeds, runtime_version, time_interleaved
from export import export_landmark_model, parity_images
from metrics import landmark_metrics
from models import count_macs, count_parameters
from table_builders import cpu_model


def parse_model_arg(text):
    name, _, path = text.rpartition("=")
    return (name or Path(path).stem), Path(path)


def onnx_parameters(path):
    import onnx

    return int(sum(np.prod(t.dims) for t in onnx.load(str(path)).graph.initializer))


def onnx_metrics(session, dataset, batch_size=64):
    predictions, targets = [], []
    for start in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(start, min(len(dataset), start + batch_size))]
        predictions.append(session.run({"input": torch.stack([item[0] for item in items]).numpy()})[0])
        targets.append(torch.stack([item[1] for item in items]).numpy())
    return landmark_metrics(np.concatenate(predictions), np.concatenate(targets))


def load_entries(specs, workdir):
    """(name, ONNX path, PyTorch model or None) per model; checkpoints are exported to ``workdir``."""
    entries = []
    for spec in specs:
        name, path = parse_model_arg(spec)
        if path.suffix == ".onnx":
            if not path.is_file():
                raise DeployError(f"{path}: no such ONNX file")
            entries.append((name, path, None))
            continue
        model, _ = load_landmark_model(path)
        onnx_path = Path(workdir) / f"{name}.onnx"
        export_landmark_model(model, onnx_path, parity_images())
        entries.append((name, onnx_path, model))
    return entries


def mnn_available():
    try:
        import MNN  # noqa: F401
    except ImportError:
        return False
    return True


def latency_calls(entries, threads_all):
    """Named zero-argument calls, one per (model, engine), to time interleaved in one process."""
    calls = {}
    x = torch.rand(1, 3, INPUT_SIZE, INPUT_SIZE)
    for name, path, model in entries:
        feeds = random_feeds(path)
        sessions = {"ort_1thread_ms": OrtSession(path, 1),
                    f"ort_{threads_all}threads_ms": OrtSession(path, threads_all)}
        if mnn_available():
            sessions["mnn_1thread_ms"] = MnnSession(path, 1)
        for column, session in sessions.items():
            calls[(name, column)] = session.runner(feeds)
        if model is not None:
            calls[(name, "torch_ms")] = lambda m=model: m(x)
    return calls


def run_benchmark(specs, data_root=None, runs=300):
    threads_all = os.cpu_count() or 1
    dataset = load_test_set(data_root) if data_root else None
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        entries = load_entries(specs, tmp)
        calls = latency_calls(entries, threads_all)
        timed = dict(zip(calls, time_interleaved(list(calls.values()), runs=runs, warmup=30)))
        rows = []
        for name, path, model in entries:
            row = {"model": name, "parameters": count_parameters(model) if model else onnx_parameters(path),
                   "macs": count_macs(model) if model else None, "onnx_bytes": path.stat().st_size, "torch_ms": None}
            row.update({column: stats["median"] for (entry, column), stats in timed.items() if entry == name})
            if dataset is not None:
                row.update(onnx_metrics(OrtSession(path, threads_all), dataset))
            rows.append(row)
    meta = {"cpu": cpu_model(), "arch": platform.machine(), "threads_all": threads_all, "runs": runs,
            "torch": torch.__version__, "onnxruntime": runtime_version("onnxruntime"),
            "mnn": runtime_version("mnn") if mnn_available() else None,
            "test_set": str(data_root) if data_root else None, "test_faces": len(dataset) if dataset else None,
            "date": time.strftime("%Y-%m-%d")}
    return {"meta": meta, "rows": rows}


def markdown(result):
    meta, rows = result["meta"], result["rows"]
    n = meta["threads_all"]
    columns = [("params", lambda r: f"{r['parameters']:,}"),
               ("MACs (M)", lambda r: f"{r['macs'] / 1e6:.2f}" if r["macs"] else "n/a"),
               ("ONNX (KB)", lambda r: f"{r['onnx_bytes'] / 1024:.0f}"),
               ("ORT 1 thread (ms)", lambda r: f"{r['ort_1thread_ms']:.3f}")]
    if meta["mnn"]:
        columns.append(("MNN 1 thread (ms)", lambda r: f"{r['mnn_1thread_ms']:.3f}"))
    columns += [(f"ORT {n} threads (ms)", lambda r: f"{r[f'ort_{n}threads_ms']:.3f}"),
                ("PyTorch (ms)", lambda r: f"{r['torch_ms']:.2f}" if r.get("torch_ms") else "n/a")]
    if any("nme_io" in r for r in rows):
        columns += [("NME io (%)", lambda r: f"{100 * r['nme_io']:.2f}"),
                    ("FR@0.1 (%)", lambda r: f"{100 * r['fr_io']:.1f}"), ("AUC@0.1", lambda r: f"{r['auc_io']:.3f}")]
    if any("nme_box" in r for r in rows):
        columns.append(("NME box (%)", lambda r: f"{100 * r['nme_box']:.2f}"))
    lines = ["| model | " + " | ".join(c for c, _ in columns) + " |", "|" + "---|" * (len(columns) + 1)]
    lines += ["| " + " | ".join([r["model"], *(cell(r) for _, cell in columns)]) + " |" for r in rows]
    where = f"{meta['test_faces']} test faces of {meta['test_set']}" if meta["test_set"] else "no test set"
    engines = ", ".join(e for e in (meta["onnxruntime"], meta["mnn"], f"torch {meta['torch']}") if e)
    lines.append(f"\n{meta['cpu']} ({meta['arch']}), {engines}; batch 1, median of {meta['runs']} calls after "
                 f"warm-up, every model and engine interleaved in one process; {where}.")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = Parser(__doc__)
    parser.add_argument("models", nargs="+", help="[NAME=]PATH of a .pth retrain checkpoint or an .onnx file")
    parser.add_argument("--data_root", help="DATA_ROOT whose test split gives NME")
    parser.add_argument("--runs", type=int, default=300, help="timed calls per model (at least 200 advised)")
    parser.add_argument("--out", help="write OUT.md and OUT.json")
    return parser.parse_args(argv)


def run(args):
    result = run_benchmark(args.models, args.data_root, args.runs)
    table = markdown(result)
    print(table)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out + ".md").write_text(table + "\n")
        Path(args.out + ".json").write_text(json.dumps(result, indent=1) + "\n")


def main(argv=None):
    exit_on_user_error(run, parse_args(argv))


if __name__ == "__main__":
    main()
