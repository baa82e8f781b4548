"""Per-layer latency lookup table: the JSON file that makes the search latency-aware.

A table holds, for every searched layer of SEARCH_SPACE and every candidate op, the op's cost on one
device (median with p10/p90 and the number of runs), plus the cost of the fixed stem and head, so
that ``fixed + sum of the chosen ops`` predicts a whole model. Loading checks the table against the
search space and names whatever is missing: there is no silent default.

    python lookup_table.py build --method flops --out data/lut_flops.json
    python lookup_table.py build --method measure --out data/lut_x86_ort.json --threads 1
    python lookup_table.py export-ops --out ops_onnx/        # then time them on the phone
    python lookup_table.py import --manifest ops_onnx/manifest.json --csv phone.csv --out data/lut_phone.json
    python lookup_table.py import-lut lut.txt --out data/lut_ref.json   # the reference's format
    python lookup_table.py check --lut data/lut_x86_ort.json --archs 20
    python lookup_table.py show --lut data/lut_x86_ort.json
"""

import argparse
import ast
import csv
import datetime
import json
import os
import platform
import random
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from blocks import SEARCH_SPACE, build_op
from models import Subnet, count_macs, search_space_from_list, search_space_to_list

UNITS = ("ms", "MMAC")  # latency in milliseconds, or multiply-adds (millions) as a proxy
DEFAULT_NUM_POINTS = 106


class LookupTableError(ValueError):
    """A table that does not fit the search space or the format, naming the file and the entry."""


def layer_key(layer):
    return {"input_shape": [1, layer.c_in, layer.in_size, layer.in_size], "c_out": layer.c_out,
            "stride": layer.stride}


class LookupTable:
    """A validated table; ``expected_latency`` is the differentiable cost the search minimises."""

    def __init__(self, data, search_space=SEARCH_SPACE, source="<table>"):
        validate(data, search_space, source)
        self.data = data
        self.search_space = list(search_space)
        self.source = source
        self.meta = data["meta"]
        self.unit = self.meta["unit"]
        self.fixed = float(data["fixed"]["median"])
        self.costs = [torch.tensor([float(entry["ops"][name]["median"]) for name in layer.ops], dtype=torch.float64)
                      for entry, layer in zip(data["layers"], search_space)]

    @classmethod
    def load(cls, path, search_space=SEARCH_SPACE):
        path = Path(path)
        if not path.is_file():
            raise LookupTableError(f"{path}: no such lookup table")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise LookupTableError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
        return cls(data, search_space, str(path))

    def save(self, path):
        write_json(self.data, path)

    def op_cost(self, layer_index, name):
        return float(self.costs[layer_index][self.search_space[layer_index].ops.index(name)])

    def predict(self, arch):
        """Predicted cost of a whole model with ops ``arch``."""
        return self.fixed + sum(self.op_cost(i, name) for i, name in enumerate(arch))

    def expected_latency(self, weights):
        """fixed + sum over layers of weights . costs: differentiable in the per-layer op weights;
        equals ``predict`` of the chosen ops under one-hot weights."""
        total = self.fixed
        for w, cost in zip(weights, self.costs):
            total = total + (w * cost.to(w.device, w.dtype)).sum()
        return total

    def min_latency(self):
        """Cost of the cheapest architecture (the cheapest op of every layer)."""
        return self.fixed + sum(float(cost.min()) for cost in self.costs)

    def cheapest_arch(self):
        return [layer.ops[int(cost.argmin())] for layer, cost in zip(self.search_space, self.costs)]


def validate(data, search_space, source):
    """Check format, unit and that every layer and candidate of ``search_space`` is there."""
    def fail(message):
        raise LookupTableError(f"{source}: {message}")

    if not isinstance(data, dict) or not {"meta", "fixed", "layers"} <= set(data):
        fail("a table needs 'meta', 'fixed' and 'layers'")
    unit = data["meta"].get("unit")
    if unit not in UNITS:
        fail(f"unit {unit!r} is not one of {', '.join(UNITS)}")
    if not _is_cost(data["fixed"]):
        fail("'fixed' needs a numeric 'median' >= 0 (the stem and head)")
    layers = data["layers"]
    if len(layers) != len(search_space):
        fail(f"{len(layers)} layers, but the search space has {len(search_space)}")
    for i, (entry, layer) in enumerate(zip(layers, search_space)):
        expected = layer_key(layer)
        for key, value in expected.items():
            got = entry.get(key)
            if key == "input_shape" and got is not None:
                got, value = list(got)[1:], value[1:]  # the batch size lives in meta
            if got != value:
                fail(f"layer {i}: {key} is {entry.get(key)}, the search space has {expected[key]}")
        missing = [name for name in layer.ops if name not in entry.get("ops", {})]
        if missing:
            fail(f"layer {i}: no entry for op{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        for name in layer.ops:
            if not _is_cost(entry["ops"][name]):
                fail(f"layer {i}: op {name} needs a numeric 'median' >= 0")


def _is_cost(entry):
    return isinstance(entry, dict) and isinstance(entry.get("median"), (int, float)) and entry["median"] >= 0


def write_json(data, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "processor\t: arm")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def make_meta(method, unit, threads=None, runtime=None, device=None, **extra):
    return {"device": device or platform.node() or "unknown", "cpu": cpu_model(), "arch": platform.machine(),
            "runtime": runtime, "threads": threads, "batch_size": 1, "unit": unit,
            "date": datetime.date.today().isoformat(), "method": method, **extra}


def make_table(meta, fixed, costs, search_space=SEARCH_SPACE):
    """Assemble table data from the fixed part's stats and ``costs[layer][op] -> stats``."""
    return {"meta": meta, "search_space": search_space_to_list(search_space), "fixed": fixed,
            "layers": [dict(layer_key(layer), ops={name: costs[i][name] for name in layer.ops if name in costs[i]})
                       for i, layer in enumerate(search_space)]}


class _Stem(nn.Module):
    """The deployed stem: image -> (y1, stem output); the auxiliary feature is not part of it."""

    def __init__(self, subnet):
        super().__init__()
        self.stem = subnet.stem

    def forward(self, x):
        y1, _, out = self.stem(x)
        return y1, out


def fixed_parts(num_points=DEFAULT_NUM_POINTS, search_space=SEARCH_SPACE):
    """(name, module, example inputs) of the fixed stem and head, which every subnet shares."""
    subnet = Subnet([layer.ops[0] for layer in search_space], num_points, search_space).eval()
    last, tap = search_space[-1], search_space[subnet.tap] if subnet.tap >= 0 else None
    y3 = torch.rand(1, last.c_out, last.out_size, last.out_size)
    y2 = torch.rand(1, tap.c_out, tap.out_size, tap.out_size) if tap else torch.rand(1, 32, 14, 14)
    y1 = torch.rand(1, 16, 56, 56)
    return [("fixed_stem", _Stem(subnet), (torch.rand(1, 3, 112, 112),)), ("fixed_head", subnet.head, (y3, y2, y1))]


def candidate_parts(search_space=SEARCH_SPACE):
    """(layer index, op name, module, example input) of every candidate."""
    for i, layer in enumerate(search_space):
        for name in layer.ops:
            x = torch.rand(1, layer.c_in, layer.in_size, layer.in_size)
            yield i, name, build_op(name, layer).eval(), (x,)


def build_flops_table(num_points=DEFAULT_NUM_POINTS, search_space=SEARCH_SPACE):
    """Multiply-adds (millions) of every candidate and of the fixed part: no device needed."""
    costs = [dict() for _ in search_space]
    for i, name, module, (x,) in candidate_parts(search_space):
        costs[i][name] = {"median": count_macs(module, tuple(x.shape)) / 1e6}
    arch = [layer.ops[0] for layer in search_space]
    total = count_macs(Subnet(arch, num_points, search_space)) / 1e6
    fixed = total - sum(costs[i][name]["median"] for i, name in enumerate(arch))
    meta = make_meta("flops", "MMAC", num_points=num_points, runtime=f"torch {torch.__version__} FLOP counter")
    return make_table(meta, {"median": fixed}, costs, search_space)


def _identity_model(path, shape):
    """A one-node ONNX graph: its run time is onnxruntime's per-call overhead."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def build_measured_table(threads=1, runs=4000, num_points=DEFAULT_NUM_POINTS, search_space=SEARCH_SPACE,
                         device=None, in_context=True):
    """Time every candidate (and the stem and head) alone as ONNX in onnxruntime on this machine, all
    interleaved in rounds of 20 calls so that the machine's drift hits every op alike.

    onnxruntime's per-call overhead (timed on a one-node graph) is taken off every entry and counted once
    in the fixed part. With ``in_context`` (the default), each op's cost is then anchored in whole
    models: the reference subnet (first op everywhere) and every single-layer swap of it are timed, and
    ``cost(l, op) = alone(l, ref) + T(swap l to op) - T(ref)``, ``fixed = T(ref) - sum alone(l, ref)``.
    Ops cost more inside a network than alone (caches, fusions); on the development machine alone-only
    tables ranked random subnets at Spearman 0.67, so the calibration is what makes ``check`` pass."""
    import onnxruntime as ort

    from onnx_tools import export_onnx, make_session, time_sessions

    with tempfile.TemporaryDirectory() as tmp:
        parts = [(None, name, module, inputs) for name, module, inputs in fixed_parts(num_points, search_space)]
        parts += list(candidate_parts(search_space))
        sessions = [make_session(_identity_model(Path(tmp) / "identity.onnx", [1, 32, 14, 14]), threads)]
        for layer, name, module, inputs in tqdm(parts, desc="exporting ops", unit="op"):
            names = [f"x{j}" for j in range(len(inputs))]
            path = export_onnx(module, inputs, Path(tmp) / f"{layer}_{name}.onnx", names, ["y"], simplify=False)
            sessions.append(make_session(path, threads))
        timed = time_sessions(sessions, runs=runs, rounds=max(1, runs // 20))
        overhead = timed[0]["median"]
        alone = {(layer, name): dict(entry, **{k: max(0.0, entry[k] - overhead) for k in ("median", "p10", "p90")})
                 for (layer, name, _, _), entry in zip(parts, timed[1:])}
        costs = [{name: alone[(i, name)] for name in layer.ops} for i, layer in enumerate(search_space)]
        fixed = {k: alone[(None, "fixed_stem")][k] + alone[(None, "fixed_head")][k] + overhead
                 for k in ("median", "p10", "p90")}
        if in_context:
            fixed, costs = _calibrate_in_context(alone, num_points, search_space, threads, runs, Path(tmp))
    fixed["runs"] = runs
    method = "measure: each op alone as ONNX in onnxruntime, interleaved medians"
    if in_context:
        method += ", anchored in whole models (reference subnet and its single-layer swaps)"
    meta = make_meta(method, "ms", threads=threads, runtime=f"onnxruntime {ort.__version__}", device=device,
                     overhead_ms=overhead, num_points=num_points,
                     fixed_parts={"stem": alone[(None, "fixed_stem")], "head": alone[(None, "fixed_head")]})
    return make_table(meta, fixed, costs, search_space)


def _calibrate_in_context(alone, num_points, search_space, threads, runs, tmp):
    from onnx_tools import export_onnx, make_session, time_sessions

    reference = [layer.ops[0] for layer in search_space]
    variants = [(None, None)] + [(i, name) for i, layer in enumerate(search_space) for name in layer.ops[1:]]
    sessions = []
    for k, (i, name) in enumerate(tqdm(variants, desc="exporting subnets", unit="net")):
        arch = list(reference)
        if i is not None:
            arch[i] = name
        model = LandmarksOnly(Subnet(arch, num_points, search_space))
        path = export_onnx(model, (torch.rand(1, 3, 112, 112),), tmp / f"ctx{k}.onnx", ["input"], ["landmarks"],
                           simplify=False)
        sessions.append(make_session(path, threads))
    timed = dict(zip(variants, time_sessions(sessions, runs=runs, rounds=max(1, runs // 20))))
    t_ref = timed[(None, None)]["median"]
    costs = []
    for i, layer in enumerate(search_space):
        base = alone[(i, reference[i])]["median"]
        layer_costs = {reference[i]: dict(alone[(i, reference[i])], in_context=True)}
        for name in layer.ops[1:]:
            entry = timed[(i, name)]
            layer_costs[name] = {"median": max(0.0, base + entry["median"] - t_ref),
                                 "p10": max(0.0, base + entry["p10"] - t_ref),
                                 "p90": max(0.0, base + entry["p90"] - t_ref), "runs": entry["runs"],
                                 "alone_median": alone[(i, name)]["median"], "in_context": True}
        costs.append(layer_costs)
    fixed_median = t_ref - sum(alone[(i, name)]["median"] for i, name in enumerate(reference))
    spread = timed[(None, None)]
    return {"median": fixed_median, "p10": fixed_median + spread["p10"] - t_ref,
            "p90": fixed_median + spread["p90"] - t_ref, "reference_arch": reference}, costs


def export_ops(out_dir, num_points=DEFAULT_NUM_POINTS, search_space=SEARCH_SPACE):
    """Write every candidate and the fixed parts as standalone ONNX files plus a manifest.json, to time
    them on a phone or board with its own tool."""
    from onnx_tools import export_onnx

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    parts = [(None, name, module, inputs) for name, module, inputs in fixed_parts(num_points, search_space)]
    for layer, name, module, inputs in tqdm(parts + list(candidate_parts(search_space)), desc="exporting", unit="op"):
        file = f"{name}.onnx" if layer is None else f"layer{layer}_{name}.onnx"
        names = [f"x{j}" for j in range(len(inputs))]
        export_onnx(module, inputs, out_dir / file, names, ["y"])
        entries.append({"file": file, "layer": layer, "op": name, "inputs": {n: list(x.shape) for n, x in
                                                                          zip(names, inputs)}})
    manifest = {"num_points": num_points, "search_space": search_space_to_list(search_space), "entries": entries}
    write_json(manifest, out_dir / "manifest.json")
    return out_dir / "manifest.json"


def import_measurements(manifest_path, csv_path, meta):
    """Table from a manifest and a CSV of ``file,median_ms[,p10_ms,p90_ms,runs]`` measured on a device."""
    manifest = json.loads(Path(manifest_path).read_text())
    search_space = search_space_from_list(manifest["search_space"])
    measured = {}
    with open(csv_path, newline="") as f:
        for line_no, row in enumerate(csv.DictReader(f), 2):
            try:
                measured[row["file"].strip()] = {key: float(row[f"{key}_ms"]) for key in ("median", "p10", "p90")
                                                 if row.get(f"{key}_ms") not in (None, "")}
                if row.get("runs"):
                    measured[row["file"].strip()]["runs"] = int(row["runs"])
            except (KeyError, ValueError) as error:
                raise LookupTableError(f"{csv_path}:{line_no}: needs file,median_ms[,p10_ms,p90_ms,runs] "
                                       f"({error})") from None
    missing = [e["file"] for e in manifest["entries"] if e["file"] not in measured]
    if missing:
        raise LookupTableError(f"{csv_path}: no measurement for {', '.join(missing)}")
    costs = [dict() for _ in search_space]
    fixed = {"median": 0.0}
    for entry in manifest["entries"]:
        stats = measured[entry["file"]]
        if entry["layer"] is None:
            fixed = {k: fixed.get(k, 0.0) + v for k, v in stats.items() if k != "runs"}
        else:
            costs[entry["layer"]][entry["op"]] = stats
    return make_table(meta, fixed, costs, search_space)


def import_reference_lut(path, unit="ms", fixed_ms=None, search_space=SEARCH_SPACE):
    """Table from the reference's lut.txt: one Python-literal dict per line with op_name,
    op_data_shape = (w, h, c_in, c_out, stride) and op_latency; read with ast.literal_eval, never eval."""
    by_shape = {}
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                entry = ast.literal_eval(line.strip())
                shape = tuple(int(v) for v in entry["op_data_shape"])
                by_shape.setdefault(shape, {})[entry["op_name"]] = {"median": float(entry["op_latency"])}
            except (ValueError, SyntaxError, KeyError, TypeError) as error:
                raise LookupTableError(f"{path}:{line_no}: not a lut.txt entry ({error})") from None
    costs = []
    for i, layer in enumerate(search_space):
        shape = (layer.in_size, layer.in_size, layer.c_in, layer.c_out, layer.stride)
        if shape not in by_shape:
            raise LookupTableError(f"{path}: no entries for layer {i}, op_data_shape {shape}")
        costs.append(by_shape[shape])
    note = None
    if fixed_ms is None:
        fixed_ms = 0.0
        note = ("lut.txt has no stem/head latency: fixed set to 0, "
                "whole-model predictions cover the searched layers only")
        print(f"warning: {note} (give --fixed_ms to set it)", file=sys.stderr)
    meta = make_meta(f"import of reference lut.txt {Path(path).name}", unit, note=note)
    return make_table(meta, {"median": fixed_ms}, costs, search_space)


def spearman(a, b):
    """Spearman rank correlation (average ranks for ties)."""
    def ranks(values):
        values = np.asarray(values, np.float64)
        order = values.argsort()
        result = np.empty(len(values))
        result[order] = np.arange(len(values))
        for v in np.unique(values):
            tie = values == v
            result[tie] = result[tie].mean()
        return result
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def check_table(table, archs=20, threads=None, runs=4000, seed=0, num_points=None):
    """Time ``archs`` random whole subnets end to end and compare with the table's prediction."""
    from onnx_tools import export_onnx, make_session, time_sessions

    threads = threads or table.meta.get("threads") or 1
    num_points = num_points or table.meta.get("num_points") or DEFAULT_NUM_POINTS
    rng = random.Random(seed)
    sampled = [[rng.choice(layer.ops) for layer in table.search_space] for _ in range(archs)]
    with tempfile.TemporaryDirectory() as tmp:
        sessions = []
        for k, arch in enumerate(tqdm(sampled, desc="exporting subnets", unit="net")):
            model = LandmarksOnly(Subnet(arch, num_points, table.search_space))
            path = export_onnx(model, (torch.rand(1, 3, 112, 112),), Path(tmp) / f"net{k}.onnx", ["input"],
                               ["landmarks"])
            sessions.append(make_session(path, threads))
        measured = [s["median"] for s in time_sessions(sessions, runs=runs, rounds=max(1, runs // 20))]
    predicted = [table.predict(arch) for arch in sampled]
    errors = np.abs(np.array(predicted) - np.array(measured)) / np.array(measured)
    return {"archs": sampled, "predicted": predicted, "measured": measured, "spearman": spearman(predicted, measured),
            "mape": float(errors.mean()), "threads": threads}


class LandmarksOnly(nn.Module):
    """A landmark network as deployed: image in, landmarks out (the auxiliary feature dropped)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)[0]


def format_table(table):
    """Readable per-layer listing, the cheapest op of each layer marked with *."""
    lines = [f"{table.source}: unit {table.unit}, {table.meta.get('method')}, {table.meta.get('runtime')}, "
             f"threads {table.meta.get('threads')}, {table.meta.get('cpu')} ({table.meta.get('arch')})",
             f"fixed (stem + head): {table.fixed:.4f} {table.unit}"]
    for i, (layer, cost) in enumerate(zip(table.search_space, table.costs)):
        lines.append(f"layer {i}: {layer.c_in}->{layer.c_out} s{layer.stride} {layer.in_size}x{layer.in_size}")
        cheapest = int(cost.argmin())
        for j, name in enumerate(layer.ops):
            lines.append(f"  {'*' if j == cheapest else ' '} {name:18s} {float(cost[j]):9.4f}")
    lines.append(f"cheapest model {table.min_latency():.4f} {table.unit}: {','.join(table.cheapest_arch())}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build a table on this machine")
    build.add_argument("--method", choices=["flops", "measure"], required=True)
    build.add_argument("--out", required=True)
    build.add_argument("--threads", type=int, default=1)
    build.add_argument("--runs", type=int, default=4000)
    build.add_argument("--num_points", type=int, default=DEFAULT_NUM_POINTS)
    build.add_argument("--device", help="a name for this device in meta")
    build.add_argument("--alone", action="store_true", help="measure: ops alone only, no in-context anchoring")
    exp = sub.add_parser("export-ops", help="write every candidate as ONNX + manifest, to time on a device")
    exp.add_argument("--out", required=True)
    exp.add_argument("--num_points", type=int, default=DEFAULT_NUM_POINTS)
    imp = sub.add_parser("import", help="table from export-ops' manifest and a CSV measured on the device")
    imp.add_argument("--manifest", required=True)
    imp.add_argument("--csv", required=True)
    imp.add_argument("--out", required=True)
    imp.add_argument("--device", required=True, help="e.g. 'Xiaomi Redmi Note 4 (Snapdragon 625)'")
    imp.add_argument("--cpu", help="CPU model of the device")
    imp.add_argument("--arch", default="aarch64")
    imp.add_argument("--runtime", required=True, help="e.g. 'MNN 2.9 benchmark' or 'onnxruntime 1.20'")
    imp.add_argument("--threads", type=int, default=1)
    ref = sub.add_parser("import-lut", help="table from the reference's lut.txt")
    ref.add_argument("lut_txt")
    ref.add_argument("--out", required=True)
    ref.add_argument("--unit", choices=UNITS, default="ms")
    ref.add_argument("--fixed_ms", type=float, help="stem + head latency, which lut.txt lacks")
    chk = sub.add_parser("check", help="does the table predict whole subnets on this machine?")
    chk.add_argument("--lut", required=True)
    chk.add_argument("--archs", type=int, default=20)
    chk.add_argument("--runs", type=int, default=4000,
                     help="calls per model, interleaved in rounds of 20 (fewer are too noisy on a busy VM)")
    chk.add_argument("--threads", type=int)
    chk.add_argument("--seed", type=int, default=0)
    show = sub.add_parser("show", help="print a table per layer")
    show.add_argument("--lut", required=True)
    args = parser.parse_args(argv)
    try:
        run_command(args)
    except LookupTableError as error:
        sys.exit(f"error: {error}")


def run_command(args):
    if args.command == "build":
        if args.method == "flops":
            data = build_flops_table(args.num_points)
        else:
            data = build_measured_table(args.threads, args.runs, args.num_points, device=args.device,
                                        in_context=not args.alone)
        table = LookupTable(data, source=args.out)
        table.save(args.out)
        print(format_table(table))
    elif args.command == "export-ops":
        print(f"wrote {export_ops(args.out, args.num_points)}")
    elif args.command == "import":
        meta = make_meta("import: ops timed on the device from export-ops' ONNX files", "ms", threads=args.threads,
                         runtime=args.runtime, device=args.device)
        meta.update(cpu=args.cpu or "unknown", arch=args.arch)
        table = LookupTable(import_measurements(args.manifest, args.csv, meta), source=args.out)
        table.save(args.out)
        print(format_table(table))
    elif args.command == "import-lut":
        table = LookupTable(import_reference_lut(args.lut_txt, args.unit, args.fixed_ms), source=args.out)
        table.save(args.out)
        print(format_table(table))
    elif args.command == "check":
        table = LookupTable.load(args.lut)
        if table.unit != "ms":
            raise LookupTableError(f"{args.lut}: check compares latencies; this table's unit is {table.unit}")
        result = check_table(table, args.archs, args.threads, args.runs, args.seed)
        for arch, p, m in zip(result["archs"], result["predicted"], result["measured"]):
            print(f"{','.join(arch):70s} predicted {p:7.4f} ms  measured {m:7.4f} ms")
        print(f"{args.archs} random architectures, onnxruntime {result['threads']} thread(s), on {cpu_model()}: "
              f"Spearman {result['spearman']:.3f}, mean absolute percentage error {100 * result['mape']:.1f}%")
    elif args.command == "show":
        print(format_table(LookupTable.load(args.lut)))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
