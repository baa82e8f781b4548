"""Per-layer latency lookup table: the JSON file that makes the search latency-aware.

A table holds, for every searched layer of its search space and every candidate op, the op's cost on one
device (median with p10/p90 and the number of runs), plus the cost of the fixed stem and head, so
that ``fixed + sum of the chosen ops`` predicts a whole model. Loading checks the table against the
search space and names whatever is missing: there is no silent default. Builders, device
export/import and ``check`` live in table_builders.py; this file is the table and its command line.

    python lookup_table.py build --method flops --out data/lut_flops.json
    python lookup_table.py build --method measure --out data/lut_x86_ort.json --threads 1
    python lookup_table.py build --method measure --runtime mnn --out data/lut_x86_mnn.json
    python lookup_table.py export-ops --out ops_onnx/        # then time them on the phone
    python lookup_table.py import --manifest ops_onnx/manifest.json --csv phone.csv --out data/lut_phone.json
    python lookup_table.py import-lut lut.txt --out data/lut_ref.json   # the reference's format
    python lookup_table.py check --lut data/lut_x86_ort.json --archs 20 [--runtime mnn]
    python lookup_table.py show --lut data/lut_x86_ort.json

The table also names its search space, and the search searches the space of the table it is given. The
default is blocks.SEARCH_SPACE; to search another one, write it out, edit it (layers, widths, strides,
candidate ops from blocks.CANDIDATE_OPS) and build a table for it:

    python lookup_table.py space --out my_space.json
    python lookup_table.py build --method measure --search_space my_space.json --out data/lut_mine.json
"""

import json
import math
import os
from pathlib import Path

import torch

from blocks import SEARCH_SPACE
from models import read_search_space, search_space_from_list, search_space_to_list

UNITS = ("ms", "MMAC")  # latency in milliseconds, or multiply-adds (millions) as a proxy


class LookupTableError(ValueError):
    """A table that does not fit the search space or the format, naming the file and the entry."""


def layer_key(layer):
    return {"input_shape": [1, layer.c_in, layer.in_size, layer.in_size], "c_out": layer.c_out,
            "stride": layer.stride}


class LookupTable:
    """A validated table; ``expected_latency`` is the differentiable cost the search minimises."""

    def __init__(self, data, search_space=None, source="<table>"):
        """``search_space`` defaults to the one the table names (its "search_space"), else blocks.SEARCH_SPACE."""
        search_space = table_search_space(data, source) if search_space is None else search_space
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
    def load(cls, path, search_space=None):
        path = Path(path)
        if not path.is_file():
            raise LookupTableError(f"{path}: no such lookup table")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise LookupTableError(f"{path}: not a text file (expected a JSON lookup table)") from None
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

    def max_latency(self):
        """Cost of the costliest architecture (the costliest op of every layer)."""
        return self.fixed + sum(float(cost.max()) for cost in self.costs)

    def cheapest_arch(self):
        return [layer.ops[int(cost.argmin())] for layer, cost in zip(self.search_space, self.costs)]


def table_search_space(data, source):
    """The search space a table was built for: the table is the space's definition, so a table built for an
    edited space (``build --search_space``) searches that space. Older tables without one use SEARCH_SPACE."""
    if not isinstance(data, dict) or "search_space" not in data:
        return SEARCH_SPACE
    try:
        return search_space_from_list(data["search_space"])
    except ValueError as error:
        raise LookupTableError(f"{source}: search_space: {error}") from None


def validate(data, search_space, source):
    """Check format, unit and that every layer and candidate of ``search_space`` is there."""
    def fail(message):
        raise LookupTableError(f"{source}: {message}")

    if not isinstance(data, dict) or not {"meta", "fixed", "layers"} <= set(data):
        fail("a table needs 'meta', 'fixed' and 'layers'")
    if not isinstance(data["meta"], dict) or not isinstance(data["layers"], list) or \
            not all(isinstance(entry, dict) and isinstance(entry.get("ops", {}), dict) for entry in data["layers"]):
        fail("'meta' must be an object, 'layers' a list of objects with 'ops' objects")
    unit = data["meta"].get("unit")
    if unit not in UNITS:
        fail(f"unit {unit!r} is not one of {', '.join(UNITS)}")
    if not _is_cost(data["fixed"]):
        fail("'fixed' needs a finite numeric 'median' >= 0 (the stem and head)")
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
                fail(f"layer {i}: op {name} needs a finite numeric 'median' >= 0")


def _is_cost(entry):
    """A stats dict whose median is a finite number >= 0 (JSON's Infinity and NaN are refused)."""
    value = entry.get("median") if isinstance(entry, dict) else None
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def write_json(data, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")


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


def runtime_mismatches(table, runtime, threads, cpu):
    """What differs between the machine a table was measured on and the deployment being searched for
    (a table from a phone is legal: that is the point of importing one; the search warns, not fails)."""
    meta = table.meta
    if table.unit != "ms":
        return []
    differences = []
    table_runtime = str(meta.get("runtime") or "unknown")
    if not table_runtime.lower().startswith(runtime.lower()):
        differences.append(f"runtime {table_runtime} (searching for {runtime})")
    if meta.get("threads") not in (None, threads):
        differences.append(f"{meta.get('threads')} thread(s) (searching for {threads})")
    if meta.get("cpu") and meta.get("cpu") != cpu:
        differences.append(f"CPU {meta.get('cpu')} (this machine: {cpu})")
    return differences


def parse_args(argv=None):
    from cli import Parser
    from deploy import RUNTIMES

    parser = Parser(__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build a table on this machine")
    build.add_argument("--method", choices=["flops", "measure"], required=True)
    build.add_argument("--out", required=True)
    build.add_argument("--runtime", choices=RUNTIMES, default="onnxruntime", help="measure: the engine to time in")
    build.add_argument("--threads", type=int, default=1)
    build.add_argument("--runs", type=int, default=4000)
    build.add_argument("--num_points", type=int, default=106)
    build.add_argument("--device", help="a name for this device in meta")
    build.add_argument("--alone", action="store_true", help="measure: ops alone only, no in-context anchoring")
    exp = sub.add_parser("export-ops", help="write every candidate as ONNX + manifest, to time on a device")
    exp.add_argument("--out", required=True)
    exp.add_argument("--num_points", type=int, default=106)
    space = sub.add_parser("space", help="write a search space as JSON, to edit and build a table for")
    space.add_argument("--out", required=True)
    space.add_argument("--lut", help="the space of this table (default: blocks.SEARCH_SPACE)")
    for command in (build, exp):
        command.add_argument("--search_space", help="a JSON search space (from `space`, or a table holding one); "
                             "default blocks.SEARCH_SPACE")
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
    chk.add_argument("--runtime", choices=RUNTIMES, default="onnxruntime", help="the engine to time subnets in")
    chk.add_argument("--archs", type=int, default=20)
    chk.add_argument("--runs", type=int, default=4000,
                     help="calls per model, interleaved in rounds of 20 (fewer are too noisy on a busy VM)")
    chk.add_argument("--threads", type=int)
    chk.add_argument("--seed", type=int, default=0)
    show = sub.add_parser("show", help="print a table per layer")
    show.add_argument("--lut", required=True)
    return parser.parse_args(argv)


def _build(args):
    import table_builders as tb

    search_space = _search_space(args)
    if args.method == "flops":
        return tb.build_flops_table(args.num_points, search_space)
    return tb.build_measured_table(args.threads, args.runs, args.num_points, search_space, device=args.device,
                                   in_context=not args.alone, runtime=args.runtime)


def _search_space(args):
    return read_search_space(args.search_space) if args.search_space else SEARCH_SPACE


def _import(args):
    import table_builders as tb

    meta = tb.make_meta("import: ops timed on the device from export-ops' ONNX files", "ms", threads=args.threads,
                        runtime=args.runtime, device=args.device)
    meta.update(cpu=args.cpu or "unknown", arch=args.arch)
    return tb.import_measurements(args.manifest, args.csv, meta)


def _import_lut(args):
    import table_builders as tb

    return tb.import_reference_lut(args.lut_txt, args.unit, args.fixed_ms)


def _check(args):
    import table_builders as tb

    table = LookupTable.load(args.lut)
    if table.unit != "ms":
        raise LookupTableError(f"{args.lut}: check compares latencies; this table's unit is {table.unit}")
    result = tb.check_table(table, args.archs, args.threads, args.runs, args.seed, runtime=args.runtime)
    for arch, p, m in zip(result["archs"], result["predicted"], result["measured"]):
        print(f"{','.join(arch):70s} predicted {p:7.4f} ms  measured {m:7.4f} ms")
    print(f"{args.archs} random architectures, {args.runtime} {result['threads']} thread(s), on {tb.cpu_model()}, "
          f"table {args.lut} ({table.meta.get('runtime')}): Spearman {result['spearman']:.3f}, "
          f"mean absolute percentage error {100 * result['mape']:.1f}%")


def _export_ops(args):
    import table_builders as tb

    print(f"wrote {tb.export_ops(args.out, args.num_points, _search_space(args))}")


def _write_space(args):
    search_space = LookupTable.load(args.lut).search_space if args.lut else SEARCH_SPACE
    write_json(search_space_to_list(search_space), args.out)
    print(f"wrote {args.out}: {len(search_space)} layers; edit it, then build a table with --search_space {args.out}")


BUILDERS = {"build": _build, "import": _import, "import-lut": _import_lut}


def run_command(args):
    if args.command in BUILDERS:
        table = LookupTable(BUILDERS[args.command](args), source=args.out)
        table.save(args.out)
        print(format_table(table))
    elif args.command == "show":
        print(format_table(LookupTable.load(args.lut)))
    else:
        {"check": _check, "export-ops": _export_ops, "space": _write_space}[args.command](args)


def main(argv=None):
    from cli import exit_on_user_error

    exit_on_user_error(run_command, parse_args(argv))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
