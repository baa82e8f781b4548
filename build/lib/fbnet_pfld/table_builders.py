"""Where lookup tables come from: multiply-add counts, timing on this machine (onnxruntime or MNN),
a phone's measurements of exported ops, the reference's lut.txt; and ``check``, which asks whether a
table predicts whole subnets. Every timing goes through ``deploy.time_onnx_files``.
"""

import ast
import csv
import datetime
import math
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from fbnet_pfld.blocks import (
    INPUT_SIZE,
    SEARCH_SPACE,
    has_widths,
    narrowest_arch,
    width_choices,
)
from fbnet_pfld.deploy import LandmarksOnly, export_onnx, runtime_version, time_onnx_files
from fbnet_pfld.errors import LookupTableError
from fbnet_pfld.jsonfile import read_json, write_json
from fbnet_pfld.machine import cpu_model, fingerprint
from fbnet_pfld.models import Subnet, build_landmark_network, count_macs
from fbnet_pfld.sampling import random_archs
from fbnet_pfld.space import layer_key, search_space_from_list, search_space_to_list
from fbnet_pfld.table_parts import (
    DEFAULT_NUM_POINTS,
    all_parts,
    candidate_parts,
    charge_head,
    fixed_parts,
    head_variants,
)


def make_meta(method, unit, threads=None, runtime=None, device=None, **extra):
    return {"device": device or platform.node() or "unknown", "cpu": cpu_model(), "arch": platform.machine(),
            "runtime": runtime, "threads": threads, "batch_size": 1, "unit": unit,
            "date": datetime.date.today().isoformat(), "method": method, **extra}


def make_table(meta, fixed, costs, search_space=SEARCH_SPACE):
    """Assemble table data from the fixed part's stats and ``costs[layer]``: ``(input width, candidate) ->
    stats`` (or ``candidate -> stats`` where a layer's input width is fixed)."""
    layers = []
    for i, (layer, widths) in enumerate(zip(search_space, width_choices(search_space))):
        ops = {}
        for name in layer.candidates:
            if len(widths) > 1:
                ops[name] = {"by_input": {str(w): costs[i][(w, name)] for w in widths if (w, name) in costs[i]}}
            elif (widths[0], name) in costs[i] or name in costs[i]:
                ops[name] = costs[i].get((widths[0], name), costs[i].get(name))
        layers.append(dict(layer_key(layer), ops=ops))
    return {"meta": meta, "search_space": search_space_to_list(search_space), "fixed": fixed, "layers": layers}


def build_flops_table(num_points=DEFAULT_NUM_POINTS, search_space=SEARCH_SPACE):
    """Multiply-adds (millions) of every candidate and of the fixed part: no device needed."""
    costs = [dict() for _ in search_space]
    for i, width, name, module, (x,) in candidate_parts(search_space):
        costs[i][(width, name)] = {"median": count_macs(module, tuple(x.shape)) / 1e6}
    narrow_head, inputs = fixed_parts(num_points, search_space)[1][1:]
    head_macs = count_macs(narrow_head, inputs=inputs) / 1e6
    charge_head(costs, {(index, width): (count_macs(head, inputs=inputs) / 1e6 - head_macs)
                        for index, width, head, inputs in head_variants(num_points, search_space)}, search_space)
    arch = narrowest_arch(search_space)
    total = count_macs(Subnet(arch, num_points, search_space)) / 1e6
    width, ops = search_space[0].c_in, 0.0
    for i, (name, layer) in enumerate(zip(arch, search_space)):
        ops += costs[i][(width, name)]["median"]
        width = layer.output_width(name, width)
    meta = make_meta("flops", "MMAC", num_points=num_points, runtime=f"torch {torch.__version__} FLOP counter",
                     references={"pfld_lite": count_macs(build_landmark_network("pfld_lite", num_points)) / 1e6})
    return make_table(meta, {"median": total - ops}, costs, search_space)


def export_part(module, inputs, path, simplify=False):
    names = [f"x{j}" for j in range(len(inputs))]
    return export_onnx(module, inputs, path, names, ["y"], simplify=simplify)


def export_subnets(archs, num_points, search_space, folder, desc="exporting subnets"):
    """Each architecture as a deployed (landmarks-only, simplified) ONNX file in ``folder``."""
    paths = []
    for k, arch in enumerate(tqdm(archs, desc=desc, unit="net")):
        model = LandmarksOnly(Subnet(arch, num_points, search_space))
        paths.append(export_onnx(model, (torch.rand(1, 3, INPUT_SIZE, INPUT_SIZE),), Path(folder) / f"net{k}.onnx",
                                 ["input"], ["landmarks"]))
    return paths


def _overhead_model(path):
    """A tiny one-op graph (a ReLU on a small tensor): its run time is the runtime's per-call overhead."""
    return export_part(nn.ReLU(), (torch.rand(1, 32, 14, 14),), path)


def build_measured_table(threads=1, runs=4000, num_points=DEFAULT_NUM_POINTS, search_space=SEARCH_SPACE,
                         device=None, in_context=True, runtime="onnxruntime"):
    """Time every candidate (and the stem and head) alone as ONNX in ``runtime`` on this machine, all
    interleaved in rounds of 20 calls so that the machine's drift hits every op alike.

    The runtime's per-call overhead (timed on a one-op graph) is taken off every entry and counted once
    in the fixed part. With ``in_context`` (the default), each op's cost is then anchored in whole
    models: the reference subnet (first op everywhere) and every single-layer swap of it are timed, and
    ``cost(l, op) = alone(l, ref) + T(swap l to op) - T(ref)``, ``fixed = T(ref) - sum alone(l, ref)``.
    Ops cost more inside a network than alone (caches, fusions); on the development machine alone-only
    tables ranked random subnets at Spearman 0.67, so the calibration is what makes ``check`` pass."""
    in_context = in_context and not has_widths(search_space)
    with tempfile.TemporaryDirectory() as tmp:
        parts = all_parts(num_points, search_space)
        overhead, alone, increments = _time_alone(parts, list(head_variants(num_points, search_space)),
                                                  runtime, threads, runs, tmp)
        costs = [{key[1:]: stats for key, stats in alone.items() if key[0] == i} for i in range(len(search_space))]
        charge_head(costs, increments, search_space)
        fixed = {k: alone[(None, None, "fixed_stem")][k] + alone[(None, None, "fixed_head")][k] + overhead
                 for k in ("median", "p10", "p90")}
        if in_context:
            fixed, costs = _calibrate_in_context(alone, num_points, search_space, threads, runs, runtime, tmp)
        elif has_widths(search_space):
            fixed, costs = _anchor_by_fit(fixed, costs, num_points, search_space, threads, runs, runtime, tmp)
    fixed["runs"] = runs
    method = f"measure: each op alone as ONNX in {runtime}, interleaved medians"
    if in_context:
        method += ", anchored in whole models (reference subnet and its single-layer swaps)"
    elif "anchor" in fixed:
        method += f", anchored in {ANCHOR_ARCHS} whole models by a least-squares fit"
    meta = make_meta(method, "ms", threads=threads, runtime=runtime_version(runtime), device=device,
                     overhead_ms=overhead, num_points=num_points, machine=fingerprint(),
                     fixed_parts={"stem": alone[(None, None, "fixed_stem")], "head": alone[(None, None, "fixed_head")]})
    data = make_table(meta, fixed, costs, search_space)
    data["meta"]["references"] = reference_latencies(data, num_points, runtime, threads, runs)
    return data


ANCHOR_ARCHS, ANCHOR_SEED = 16, 1000  # ``check`` draws with seed 0 by default: other architectures


def _anchor_by_fit(fixed, costs, num_points, search_space, threads, runs, runtime, tmp):
    """Ops cost more inside a network than alone. Where single-layer swaps cannot anchor them (a width change
    changes the next layer's input too), time whole architectures spread over the range and fit
    ``measured = fixed + scale * sum of alone costs``; the ops are scaled, the intercept is the fixed part.
    A fit that would make either negative keeps the alone costs."""
    from fbnet_pfld.lookup_table import LookupTable

    provisional = LookupTable(make_table(make_meta("alone", "ms"), fixed, costs, search_space))
    archs = random_archs(provisional, ANCHOR_ARCHS, ANCHOR_SEED)
    paths = export_subnets(archs, num_points, search_space, Path(tmp) / "anchor", desc="anchoring")
    measured = [entry["median"] for entry in time_onnx_files(paths, runtime, threads, runs)]
    ops = [provisional.predict(arch) - provisional.fixed for arch in archs]
    scale, intercept = (float(v) for v in np.polyfit(ops, measured, 1))
    if scale <= 0 or intercept < 0:
        return fixed, costs
    scaled = [{key: {k: v * scale if k in ("median", "p10", "p90") else v for k, v in stats.items()}
               for key, stats in layer.items()} for layer in costs]
    anchor = {"archs": len(archs), "seed": ANCHOR_SEED, "scale": scale, "alone_fixed": fixed["median"]}
    return {"median": intercept, "anchor": anchor}, scaled


def _time_alone(parts, variants, runtime, threads, runs, tmp):
    """(per-call overhead, ``(layer, input width, name) -> stats`` less that overhead, and each wider head's
    extra cost ``(tap layer, width) -> ms``), all timed interleaved."""
    paths = [_overhead_model(Path(tmp) / "overhead.onnx")]
    paths += [export_part(module, inputs, Path(tmp) / f"{layer}_{width}_{name}.onnx")
              for layer, width, name, module, inputs in tqdm(parts, desc="exporting ops", unit="op")]
    paths += [export_part(head, inputs, Path(tmp) / f"head_{index}_{width}.onnx")
              for index, width, head, inputs in variants]
    timed = time_onnx_files(paths, runtime, threads, runs)
    overhead = timed[0]["median"]
    alone = {key[:3]: dict(entry, **{k: max(0.0, entry[k] - overhead) for k in ("median", "p10", "p90")})
             for key, entry in zip(parts, timed[1:])}
    head = alone[(None, None, "fixed_head")]["median"]
    # A wider head never costs less: a negative difference is timing noise (a few channels more of a pooled tap).
    increments = {(index, width): max(0.0, entry["median"] - overhead - head)
                  for (index, width, _, _), entry in zip(variants, timed[1 + len(parts):])}
    return overhead, alone, increments


def reference_latencies(data, num_points=DEFAULT_NUM_POINTS, runtime="onnxruntime", threads=1, runs=2000,
                        names=("pfld_lite",)):
    """Hand-designed networks' latencies in a table's terms: each is timed interleaved with the table's own
    reference subnet (the first op of every layer) and scaled by how the table predicts that subnet, so a
    budget given as a ratio to one of them means the same on every machine."""
    from fbnet_pfld.lookup_table import LookupTable

    table = LookupTable(data)
    reference = narrowest_arch(table.search_space)
    with tempfile.TemporaryDirectory() as tmp:
        paths = export_subnets([reference], num_points, table.search_space, tmp)
        for name in names:
            model = LandmarksOnly(build_landmark_network(name, num_points)).eval()
            paths.append(export_onnx(model, (torch.rand(1, 3, INPUT_SIZE, INPUT_SIZE),), Path(tmp) / f"{name}.onnx",
                                     ["input"], ["landmarks"]))
        timed = [entry["median"] for entry in time_onnx_files(paths, runtime, threads, runs)]
    scale = table.predict(reference) / timed[0]
    return {name: ms * scale for name, ms in zip(names, timed[1:])}


def _calibrate_in_context(alone, num_points, search_space, threads, runs, runtime, tmp):
    """In-context costs of a space of fixed widths (a width change would change the next layer's input, so
    single-layer swaps only anchor such spaces)."""
    reference = [layer.ops[0] for layer in search_space]
    variants = [(None, None)] + [(i, name) for i, layer in enumerate(search_space) for name in layer.ops[1:]]
    archs = [[name if j == i else op for j, op in enumerate(reference)] for i, name in variants]
    paths = export_subnets(archs, num_points, search_space, Path(tmp) / "context")
    timed = dict(zip(variants, time_onnx_files(paths, runtime, threads, runs)))
    t_ref = timed[(None, None)]["median"]
    costs = []
    for i, layer in enumerate(search_space):
        width = layer.c_in
        base = alone[(i, width, reference[i])]["median"]
        layer_costs = {reference[i]: dict(alone[(i, width, reference[i])], in_context=True)}
        for name in layer.ops[1:]:
            entry = timed[(i, name)]
            layer_costs[name] = {**{k: max(0.0, base + entry[k] - t_ref) for k in ("median", "p10", "p90")},
                                 "runs": entry["runs"], "alone_median": alone[(i, width, name)]["median"],
                                 "in_context": True}
        costs.append(layer_costs)
    fixed_median = t_ref - sum(alone[(i, layer.c_in, name)]["median"]
                               for i, (name, layer) in enumerate(zip(reference, search_space)))
    spread = timed[(None, None)]
    return {"median": fixed_median, "p10": fixed_median + spread["p10"] - t_ref,
            "p90": fixed_median + spread["p90"] - t_ref, "reference_arch": reference}, costs


def export_ops(out_dir, num_points=DEFAULT_NUM_POINTS, search_space=SEARCH_SPACE):
    """Write every candidate and the fixed parts as standalone ONNX files plus a manifest.json, to time
    them on a phone or board with its own tool."""
    if has_widths(search_space):
        raise LookupTableError("export-ops covers spaces of fixed widths; for a space whose layers choose widths "
                               "build the table with --method measure (on the device) or flops")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for layer, _, name, module, inputs in tqdm(all_parts(num_points, search_space), desc="exporting", unit="op"):
        file = f"{name}.onnx" if layer is None else f"layer{layer}_{name}.onnx"
        export_part(module, inputs, out_dir / file, simplify=True)
        entries.append({"file": file, "layer": layer, "op": name,
                        "inputs": {f"x{j}": list(x.shape) for j, x in enumerate(inputs)}})
    manifest = {"num_points": num_points, "search_space": search_space_to_list(search_space), "entries": entries}
    write_json(manifest, out_dir / "manifest.json")
    return out_dir / "manifest.json"


def read_device_csv(csv_path):
    """``file -> stats`` from a CSV of ``file,median_ms[,p10_ms,p90_ms,runs]`` measured on a device."""
    measured = {}
    try:
        rows = list(csv.DictReader(Path(csv_path).read_text(encoding="utf-8").splitlines()))
    except (OSError, UnicodeDecodeError) as error:
        raise LookupTableError(f"{csv_path}: cannot read the CSV ({type(error).__name__})") from None
    for line_no, row in enumerate(rows, 2):
        try:
            stats = {key: float(row[f"{key}_ms"]) for key in ("median", "p10", "p90")
                     if row.get(f"{key}_ms") not in (None, "")}
            if row.get("runs"):
                stats["runs"] = int(row["runs"])
            measured[row["file"].strip()] = stats
        except (KeyError, ValueError, AttributeError) as error:
            raise LookupTableError(f"{csv_path}:{line_no}: needs file,median_ms[,p10_ms,p90_ms,runs] "
                                   f"({error})") from None
    return measured


def import_measurements(manifest_path, csv_path, meta):
    """Table from a manifest and a CSV of ``file,median_ms[,p10_ms,p90_ms,runs]`` measured on a device."""
    manifest = read_json(manifest_path, LookupTableError, "export-ops manifest")
    try:
        search_space = search_space_from_list(manifest["search_space"])
        entries = [(e["file"], e["layer"], e["op"]) for e in manifest["entries"]]
    except (KeyError, TypeError, ValueError) as error:
        raise LookupTableError(f"{manifest_path}: not a manifest written by export-ops ({error})") from None
    measured = read_device_csv(csv_path)
    missing = [file for file, _, _ in entries if file not in measured]
    if missing:
        raise LookupTableError(f"{csv_path}: no measurement for {', '.join(missing)}")
    costs = [dict() for _ in search_space]
    fixed = {"median": 0.0}
    for file, layer, op in entries:
        stats = measured[file]
        if layer is None:
            fixed = {k: fixed.get(k, 0.0) + v for k, v in stats.items() if k != "runs"}
        else:
            costs[layer][op] = stats
    return make_table(meta, fixed, costs, search_space)


def import_reference_lut(path, unit="ms", fixed_ms=None, search_space=SEARCH_SPACE):
    """Table from the reference's lut.txt: one Python-literal dict per line with op_name,
    op_data_shape = (w, h, c_in, c_out, stride) and op_latency; read with ast.literal_eval, never eval."""
    by_shape = {}
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise LookupTableError(f"{path}: cannot read it as a lut.txt ({error})") from None
    for line_no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = ast.literal_eval(line.strip())
            shape = tuple(int(v) for v in entry["op_data_shape"])
            latency = float(entry["op_latency"])
        except (ValueError, SyntaxError, KeyError, TypeError, MemoryError, RecursionError) as error:
            raise LookupTableError(f"{path}:{line_no}: not a lut.txt entry ({type(error).__name__})") from None
        if not math.isfinite(latency) or latency < 0:
            raise LookupTableError(f"{path}:{line_no}: op_latency {latency} is not a finite number >= 0")
        by_shape.setdefault(shape, {}).setdefault(entry["op_name"], []).append((latency, line_no))
    costs = _lut_costs(by_shape, search_space, path)
    if not any(entry["median"] > 0 for layer in costs for entry in layer.values()):
        raise LookupTableError(f"{path}: every op_latency is 0; such a table cannot steer a search")
    note = None
    if fixed_ms is None:
        fixed_ms = 0.0
        note = ("lut.txt has no stem/head latency: fixed set to 0, "
                "whole-model predictions cover the searched layers only")
        print(f"warning: {note} (give --fixed_ms to set it)", file=sys.stderr)
    meta = make_meta(f"import of reference lut.txt {Path(path).name}", unit, note=note)
    return make_table(meta, {"median": fixed_ms}, costs, search_space)


def _lut_costs(by_shape, search_space, path):
    """Per-layer costs from lut.txt entries keyed by shape. Layers of one shape repeat their entries in
    order (the k-th entry of an op at a shape is the k-th such layer's); one entry serves them all; any
    other count is refused, naming the line."""
    shapes = [(layer.in_size, layer.in_size, layer.c_in, layer.c_out, layer.stride) for layer in search_space]
    costs = []
    for i, shape in enumerate(shapes):
        if shape not in by_shape:
            raise LookupTableError(f"{path}: no entries for layer {i}, op_data_shape {shape}")
        rank, layers_of_shape = shapes[:i].count(shape), shapes.count(shape)
        costs.append({})
        for name, entries in by_shape[shape].items():
            if len(entries) not in (1, layers_of_shape):
                raise LookupTableError(f"{path}:{entries[-1][1]}: {name} at {shape} appears {len(entries)} times; "
                                       f"the search space has {layers_of_shape} layer(s) of that shape")
            costs[i][name] = {"median": entries[rank if len(entries) > 1 else 0][0]}
    return costs


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


def check_table(table, archs=20, threads=None, runs=4000, seed=0, num_points=None, runtime="onnxruntime"):
    """Time ``archs`` random whole subnets end to end in ``runtime`` and compare with the table."""
    threads = threads or table.meta.get("threads") or 1
    num_points = num_points or table.meta.get("num_points") or DEFAULT_NUM_POINTS
    sampled = random_archs(table, archs, seed)
    with tempfile.TemporaryDirectory() as tmp:
        paths = export_subnets(sampled, num_points, table.search_space, tmp)
        measured = [s["median"] for s in time_onnx_files(paths, runtime, threads, runs)]
    predicted = [table.predict(arch) for arch in sampled]
    errors = np.abs(np.array(predicted) - np.array(measured)) / np.array(measured)
    return {"archs": sampled, "predicted": predicted, "measured": measured, "spearman": spearman(predicted, measured),
            "mape": float(errors.mean()), "threads": threads, "runtime": runtime}
