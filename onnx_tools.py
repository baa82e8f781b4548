"""ONNX export and onnxruntime timing, shared by the lookup table, export.py and benchmark.py."""

import time
import warnings
from pathlib import Path

import numpy as np
import torch


def export_onnx(module, inputs, path, input_names, output_names, dynamic_batch=False, simplify=True):
    """Export an eval-mode module with the legacy TorchScript exporter, optionally onnx-simplified."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = module.eval()
    axes = {name: {0: "batch"} for name in [*input_names, *output_names]} if dynamic_batch else None
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter is the one mobile tools want
        torch.onnx.export(module, tuple(inputs), str(path), input_names=input_names, output_names=output_names,
                          dynamic_axes=axes, opset_version=17, dynamo=False)
    if simplify:
        import onnxsim

        model, ok = onnxsim.simplify(onnx.load(str(path)))
        if not ok:
            raise RuntimeError(f"{path}: onnx-simplifier could not validate the simplified model")
        onnx.save(model, str(path))
    return path


def make_session(path, threads=1):
    """An onnxruntime CPU session with a fixed thread count (1 = the phone-like single core)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def random_feeds(session, batch=1, seed=0):
    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in session.get_inputs():
        shape = [batch if not isinstance(d, int) else d for d in spec.shape]
        feeds[spec.name] = rng.random(shape, dtype=np.float32)
    return feeds


def latency_stats(times_ms):
    times = np.asarray(times_ms, np.float64)
    return {"median": float(np.median(times)), "p10": float(np.percentile(times, 10)),
            "p90": float(np.percentile(times, 90)), "runs": int(times.size)}


def time_sessions(sessions, runs=200, warmup=20, rounds=10, feeds=None):
    """Latency stats (ms) of each session, measured interleaved: ``rounds`` passes over all sessions,
    each timing ``runs / rounds`` calls, so drift of the machine hits every model alike."""
    feeds = feeds or [random_feeds(s) for s in sessions]
    for session, feed in zip(sessions, feeds):
        for _ in range(warmup):
            session.run(None, feed)
    times = [[] for _ in sessions]
    per_round = max(1, runs // rounds)
    for _ in range(rounds):
        for session, feed, bucket in zip(sessions, feeds, times):
            for _ in range(per_round):
                start = time.perf_counter()
                session.run(None, feed)
                bucket.append((time.perf_counter() - start) * 1000.0)
    return [latency_stats(t) for t in times]
