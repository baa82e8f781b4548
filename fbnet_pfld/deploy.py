"""What runs on the device: ONNX export, MNN conversion, inference sessions (onnxruntime or MNN) and the
one interleaved timing helper every latency figure of this repo comes from (tables, check, benchmark).

MNN's converter is called as its compiled module ``_tools``: the wheel's ``mnnconvert`` script (and any
import of ``MNN.tools``) tries to pip-install a logging SDK and send a usage log to a cloud service.
"""

import contextlib
import ctypes
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fbnet_pfld.errors import DeployError
from fbnet_pfld.writes import replacing

RUNTIMES = ("onnxruntime", "mnn")
MNN_WEIGHTS = ("fp32", "fp16", "int8")
MNN_CACHE_ENV = "FBNET_PFLD_MNN_CACHE"  # the folder of MNN conversions (default ~/.cache/fbnet-pfld/mnn)


class LandmarksOnly(nn.Module):
    """A landmark network as deployed: image in, landmarks out (the auxiliary feature dropped)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)[0]


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
            raise DeployError(f"{path}: onnx-simplifier could not validate the simplified model")
        onnx.save(model, str(path))
    return path


def _flush_c_stdio():
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # no C library to reach (not glibc/musl): nothing buffered we can flush
        pass


@contextlib.contextmanager
def _captured_native_output():
    """Silence what a C++ library prints on stdout/stderr; yields a list that holds the text afterwards."""
    captured = []
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = [os.dup(1), os.dup(2)]
        try:
            for fd in (1, 2):
                os.dup2(sink.fileno(), fd)
            yield captured
        finally:
            _flush_c_stdio()  # what the library left in C's stdio buffer goes to the sink, not out at exit
            for fd, copy in zip((1, 2), saved):
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            captured.append(sink.read().decode(errors="replace"))


def mnn_module():
    """The MNN package, imported with its start-up banner silenced (never MNN.tools: it phones home)."""
    try:
        with _captured_native_output():
            import MNN
    except ImportError:
        raise DeployError("MNN is not installed: pip install MNN (it is in requirements.txt)") from None
    return MNN


# MNN's compiled converter (never the ``mnnconvert`` console script: it sends a usage log), in a child process:
# its native banner, printed at exit from its own C++ buffers, and any crash on a foreign file stay there.
CONVERTER = "import json, sys, _tools; sys.exit(0 if _tools.mnnconvert(json.loads(sys.argv[1])) else 1)"


def convert_to_mnn(onnx_path, mnn_path, weights="fp32"):
    """ONNX -> .mnn with MNN's compiled converter (no usage log); ``weights`` fp16/int8 shrink the file."""
    if weights not in MNN_WEIGHTS:
        raise DeployError(f"MNN weights must be one of {', '.join(MNN_WEIGHTS)}, got {weights!r}")
    mnn_module()
    with replacing(mnn_path) as temp:  # a kill mid-conversion leaves the previous file
        args = ["mnnconvert", "-f", "ONNX", "--modelFile", str(onnx_path), "--MNNModel", str(temp),
                "--bizCode", "fbnet_pfld"]
        args += {"fp32": [], "fp16": ["--fp16"], "int8": ["--weightQuantBits", "8"]}[weights]
        done = subprocess.run([sys.executable, "-c", CONVERTER, json.dumps(args)], capture_output=True, text=True,
                              errors="replace")
        if done.returncode != 0 or not temp.is_file():
            last = ((done.stdout + done.stderr).strip().splitlines() or ["no output"])[-1]
            raise DeployError(f"{onnx_path}: MNN conversion failed ({last[:200]})")
    return Path(mnn_path)


# MNN's converter stamps each file it writes with a fresh random UUID (its only run-to-run difference).
MNN_STAMP = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def same_mnn_network(path_a, path_b):
    """Whether two .mnn files hold the same network, byte for byte but for the converter's UUID stamp."""
    a, b = Path(path_a), Path(path_b)
    if not (a.is_file() and b.is_file()) or a.stat().st_size != b.stat().st_size:
        return False
    return MNN_STAMP.sub(b"", a.read_bytes(), count=1) == MNN_STAMP.sub(b"", b.read_bytes(), count=1)


def cached_mnn(onnx_path):
    """The MNN conversion of an ONNX file, made once per file content in the user's cache (never beside the
    file: a tracked or downloaded model is not rewritten because of its time stamp)."""
    digest = hashlib.sha1(Path(onnx_path).read_bytes()).hexdigest()
    path = Path(os.environ.get(MNN_CACHE_ENV) or Path.home() / ".cache" / "fbnet-pfld" / "mnn") / f"{digest}.mnn"
    return path if path.is_file() else convert_to_mnn(onnx_path, path)


def load_onnx(path):
    """An ONNX model, or a DeployError naming the file when it is not one."""
    import onnx

    try:
        return onnx.load(str(path))
    except Exception as error:  # onnx raises DecodeError, OSError, ... for a file that is not ONNX
        raise DeployError(f"{path}: not a readable ONNX file ({type(error).__name__})") from None


def tensor_shape(value):
    """A graph value's shape (a ValueInfoProto's), None for each dimension that is not a fixed number."""
    return [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]


def graph_inputs(graph):
    """The inputs a caller feeds (files of old IR versions list their initializers among the inputs too)."""
    initializers = {t.name for t in graph.initializer}
    return [i for i in graph.input if i.name not in initializers]


def onnx_signature(path):
    """([(input name, shape with None for dynamic dimensions)], [output names]) of an ONNX file."""
    graph = load_onnx(path).graph
    return [(i.name, tensor_shape(i)) for i in graph_inputs(graph)], [o.name for o in graph.output]


class OrtSession:
    """onnxruntime CPU session with a fixed thread count (1 = the phone-like single core)."""

    runtime = "onnxruntime"

    def __init__(self, path, threads=1):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types for foreign files
            raise DeployError(f"{path}: onnxruntime cannot load it "
                              f"({(str(error).strip().splitlines() or ['?'])[0][:160]})") from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, feeds):
        return self.session.run(None, feeds)

    def runner(self, feeds):
        """A zero-argument call running ``feeds`` (for timing)."""
        return lambda: self.session.run(None, feeds)


class MnnSession:
    """MNN CPU module with a fixed thread count: of an ONNX file (converted once, into the user's cache), of an
    ONNX file and the .mnn to convert it into, or of a lone .mnn file."""

    runtime = "mnn"

    def __init__(self, onnx_path, threads=1, mnn_path=None):
        """``onnx_path`` None: a lone .mnn file exported by this project (input ``input``, output
        ``landmarks``)."""
        mnn = mnn_module()
        if onnx_path is None:
            self.input_names, self.output_names = ["input"], ["landmarks"]
        else:
            inputs, self.output_names = onnx_signature(onnx_path)
            self.input_names = [name for name, _ in inputs]
        if mnn_path is None:
            mnn_path = cached_mnn(onnx_path)
        elif onnx_path is not None and (not Path(mnn_path).is_file() or
                                        Path(mnn_path).stat().st_mtime < Path(onnx_path).stat().st_mtime):
            convert_to_mnn(onnx_path, mnn_path)
        self.expr = mnn.expr
        with _captured_native_output():
            manager = mnn.nn.create_runtime_manager(({"backend": "CPU", "numThread": threads,
                                                      "precision": "normal"},))
            try:
                self.module = mnn.nn.load_module_from_file(str(mnn_path), self.input_names, self.output_names,
                                                           runtime_manager=manager)
            except Exception:  # noqa: BLE001 - MNN reports a foreign file as SystemError or RuntimeError
                self.module = None
        if self.module is None:
            raise DeployError(f"{mnn_path}: MNN cannot load it as a landmark model (input 'input', output "
                              "'landmarks')")

    def _inputs(self, feeds):
        arrays = [np.ascontiguousarray(feeds[name], np.float32) for name in self.input_names]
        return [self.expr.const(a, list(a.shape), self.expr.NCHW) for a in arrays]

    def run(self, feeds):
        outputs = self.module.forward(self._inputs(feeds))
        return [np.array(self.expr.convert(o, self.expr.NCHW).read()) for o in outputs]

    def runner(self, feeds):
        """A zero-argument call running ``feeds`` (for timing): the inputs are built once, as an app
        reuses its input tensor; every call still computes and reads the outputs."""
        inputs = self._inputs(feeds)
        return lambda: [self.expr.convert(o, self.expr.NCHW).read() for o in self.module.forward(inputs)]


def open_session(path, runtime="onnxruntime", threads=1):
    """An inference session on an ONNX file in ``runtime`` ("onnxruntime" or "mnn")."""
    if not Path(path).is_file():
        raise DeployError(f"{path}: no such model file")
    if runtime == "onnxruntime":
        return OrtSession(path, threads)
    if runtime == "mnn":
        return MnnSession(path, threads)
    raise DeployError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")


def runtime_version(runtime):
    if runtime == "mnn":
        return f"MNN {mnn_module().version()}"
    import onnxruntime

    return f"onnxruntime {onnxruntime.__version__}"


def random_feeds(path, batch=1, seed=0):
    """Uniform [0, 1) inputs for every input of an ONNX file (dynamic dimensions set to ``batch``)."""
    rng = np.random.default_rng(seed)
    return {name: rng.random([d or batch for d in shape], dtype=np.float32) for name, shape in onnx_signature(path)[0]}


def latency_stats(times_ms):
    times = np.asarray(times_ms, np.float64)
    return {"median": float(np.median(times)), "p10": float(np.percentile(times, 10)),
            "p90": float(np.percentile(times, 90)), "runs": int(times.size)}


def time_interleaved(calls, runs=200, warmup=20, rounds=10):
    """Latency stats (ms) of each zero-argument callable, measured interleaved: ``rounds`` passes over all
    of them, each timing ``runs / rounds`` calls, so drift of a busy machine hits every model alike."""
    for call in calls:
        for _ in range(warmup):
            call()
    times = [[] for _ in calls]
    per_round = max(1, runs // rounds)
    for _ in range(rounds):
        for call, bucket in zip(calls, times):
            for _ in range(per_round):
                start = time.perf_counter()
                call()
                bucket.append((time.perf_counter() - start) * 1000.0)
    return [latency_stats(t) for t in times]


def time_onnx_files(paths, runtime="onnxruntime", threads=1, runs=200, warmup=20, feeds=None):
    """Open each ONNX file in ``runtime`` and time it interleaved with the others in rounds of 20 calls
    (batch-1 random input unless ``feeds`` are given)."""
    sessions = [open_session(p, runtime, threads) for p in paths]
    feeds = feeds or [random_feeds(p) for p in paths]
    calls = [s.runner(f) for s, f in zip(sessions, feeds)]
    return time_interleaved(calls, runs=runs, warmup=warmup, rounds=max(1, runs // 20))
