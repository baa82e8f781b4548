"""Per-layer latency lookup table: the JSON file that makes the search latency-aware.

A table holds, for every searched layer of its search space and every candidate op, the op's cost on one
device (median with p10/p90 and the number of runs), plus the cost of the fixed stem and head, so
that ``fixed + sum of the chosen ops`` predicts a whole model. Loading checks the table against the
search space and names whatever is missing: there is no silent default. This is its command
line; the table itself is fbnet_pfld/lookup_table.py and its builders fbnet_pfld/table_builders.py.

    python lookup_table.py build --method flops --out data/lut_flops.json
    python lookup_table.py build --method measure --out data/lut_x86_ort.json --threads 1
    python lookup_table.py build --method measure --runtime mnn --out data/lut_x86_mnn.json
    python lookup_table.py export-ops --out ops_onnx/        # then time them on the phone
    python lookup_table.py import --manifest ops_onnx/manifest.json --csv phone.csv --out data/lut_phone.json
    python lookup_table.py import-lut lut.txt --out data/lut_ref.json   # the reference's format
    python lookup_table.py check --lut data/lut_x86_ort.json --archs 20 [--runtime mnn]
    python lookup_table.py show --lut data/lut_x86_ort.json
    python lookup_table.py add-reference --lut data/lut_x86_ort.json   # pfld_lite, for --target_ratio budgets

The table also names its search space, and the search searches the space of the table it is given. The
default is blocks.SEARCH_SPACE; to search another one, write it out, edit it (layers, widths, strides,
candidate ops from blocks.CANDIDATE_OPS) and build a table for it:

    python lookup_table.py space --out my_space.json
    python lookup_table.py build --method measure --search_space my_space.json --out data/lut_mine.json
"""

import os

from fbnet_pfld import table_builders as tb
from fbnet_pfld.argtypes import non_negative_float, positive_int
from fbnet_pfld.blocks import SEARCH_SPACE
from fbnet_pfld.cli import Parser, exit_on_user_error
from fbnet_pfld.deploy import RUNTIMES
from fbnet_pfld.errors import LookupTableError
from fbnet_pfld.jsonfile import write_json
from fbnet_pfld.lookup_table import UNITS, LookupTable, format_table
from fbnet_pfld.machine import cpu_model, fingerprint
from fbnet_pfld.space import read_search_space, search_space_to_list
from fbnet_pfld.writes import refuse_input_as_output


def parse_args(argv=None):
    parser = Parser(__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build a table on this machine")
    build.add_argument("--method", choices=["flops", "measure"], required=True)
    build.add_argument("--out", required=True)
    build.add_argument("--runtime", choices=RUNTIMES, default="onnxruntime", help="measure: the engine to time in")
    build.add_argument("--threads", type=positive_int, default=1)
    build.add_argument("--runs", type=positive_int, default=4000)
    build.add_argument("--num_points", type=positive_int, default=tb.DEFAULT_NUM_POINTS, help="landmarks of the head")
    build.add_argument("--device", help="a name for this device in meta")
    build.add_argument("--alone", action="store_true", help="measure: ops alone only, no in-context anchoring")
    exp = sub.add_parser("export-ops", help="write every candidate as ONNX + manifest, to time on a device")
    exp.add_argument("--out", required=True)
    exp.add_argument("--num_points", type=positive_int, default=tb.DEFAULT_NUM_POINTS, help="landmarks of the head")
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
    imp.add_argument("--threads", type=positive_int, default=1)
    ref = sub.add_parser("import-lut", help="table from the reference's lut.txt")
    ref.add_argument("lut_txt")
    ref.add_argument("--out", required=True)
    ref.add_argument("--unit", choices=UNITS, default="ms")
    ref.add_argument("--fixed_ms", type=non_negative_float, help="stem + head latency, which lut.txt lacks")
    chk = sub.add_parser("check", help="does the table predict whole subnets on this machine?")
    chk.add_argument("--lut", required=True)
    chk.add_argument("--runtime", choices=RUNTIMES, default="onnxruntime", help="the engine to time subnets in")
    chk.add_argument("--archs", type=positive_int, default=20)
    chk.add_argument("--runs", type=positive_int, default=4000,
                     help="calls per model, interleaved in rounds of 20 (fewer are too noisy on a busy VM)")
    chk.add_argument("--threads", type=positive_int)
    chk.add_argument("--seed", type=int, default=0)
    reference = sub.add_parser("add-reference", help="time pfld_lite with a table so budgets can be ratios to it")
    reference.add_argument("--lut", required=True)
    reference.add_argument("--runtime", choices=RUNTIMES, default="onnxruntime")
    reference.add_argument("--threads", type=positive_int, default=1)
    reference.add_argument("--runs", type=positive_int, default=2000)
    reference.add_argument("--force", action="store_true", help="time the reference even where the table was "
                           "measured on another machine or runtime (its ratio to the table's subnets may differ)")
    show = sub.add_parser("show", help="print a table per layer")
    show.add_argument("--lut", required=True)
    return parser.parse_args(argv)


def _build(args):
    search_space = _search_space(args)
    if args.method == "flops":
        return tb.build_flops_table(args.num_points, search_space)
    return tb.build_measured_table(args.threads, args.runs, args.num_points, search_space, device=args.device,
                                   in_context=not args.alone, runtime=args.runtime)


def _search_space(args):
    return read_search_space(args.search_space) if args.search_space else SEARCH_SPACE


def _import(args):
    meta = tb.make_meta("import: ops timed on the device from export-ops' ONNX files", "ms", threads=args.threads,
                        runtime=args.runtime, device=args.device)
    meta.update(cpu=args.cpu or "unknown", arch=args.arch)
    return tb.import_measurements(args.manifest, args.csv, meta)


def _import_lut(args):
    return tb.import_reference_lut(args.lut_txt, args.unit, args.fixed_ms)


def _check(args):
    table = LookupTable.load(args.lut)
    if table.unit != "ms":
        raise LookupTableError(f"{args.lut}: check compares latencies; this table's unit is {table.unit}")
    result = tb.check_table(table, args.archs, args.threads, args.runs, args.seed, runtime=args.runtime)
    for arch, p, m in zip(result["archs"], result["predicted"], result["measured"]):
        print(f"{','.join(arch):70s} predicted {p:7.4f} ms  measured {m:7.4f} ms")
    print(f"{args.archs} random architectures, {args.runtime} {result['threads']} thread(s), on {cpu_model()}, "
          f"table {args.lut} ({table.meta.get('runtime')}): Spearman {result['spearman']:.3f}, "
          f"mean absolute percentage error {100 * result['mape']:.1f}%")


def _export_ops(args):
    print(f"wrote {tb.export_ops(args.out, args.num_points, _search_space(args))}")


def measured_elsewhere(meta, runtime):
    """Why a table's timings are not this machine's in ``runtime`` (a sentence), or None when they are."""
    recorded = meta.get("machine")
    here = fingerprint()
    if isinstance(recorded, dict):
        differs = [key for key in ("cpu", "arch", "flags_sha1") if recorded.get(key) != here[key]]
        where = f"{recorded.get('cpu')} ({', '.join(differs)} differ)" if differs else None
    else:
        where = meta.get("cpu") if meta.get("cpu") != here["cpu"] else None
    if where:
        return f"it was measured on {where}, this machine is {here['cpu']}"
    if not str(meta.get("runtime", "")).lower().startswith(runtime.lower()):
        return f"it was measured in {meta.get('runtime')}, the reference would be timed in {runtime}"
    return None


def _add_reference(args):
    table = LookupTable.load(args.lut)
    if table.unit != "ms":
        raise LookupTableError(f"{args.lut}: a reference latency needs a table in ms, this one is in {table.unit}")
    elsewhere = measured_elsewhere(table.meta, args.runtime)
    if elsewhere and not args.force:
        raise LookupTableError(f"{args.lut}: {elsewhere}; pfld_lite timed here would not be in the table's terms. "
                               "Build a table on this machine (lookup_table.py build), or add --force")
    table.data["meta"]["references"] = tb.reference_latencies(
        table.data, table.meta.get("num_points") or tb.DEFAULT_NUM_POINTS, args.runtime, args.threads, args.runs)
    table.data["meta"]["references_machine"] = fingerprint()  # best the machine the table was timed on
    table.save(args.lut)
    print(f"{args.lut}: pfld_lite {table.data['meta']['references']['pfld_lite']:.4g} ms in this table's terms "
          f"(budgets: supernet_train.py --target_ratio R)")


def _write_space(args):
    search_space = LookupTable.load(args.lut).search_space if args.lut else SEARCH_SPACE
    write_json(search_space_to_list(search_space), args.out)
    print(f"wrote {args.out}: {len(search_space)} layers; edit it, then build a table with --search_space {args.out}")


BUILDERS = {"build": _build, "import": _import, "import-lut": _import_lut}


INPUTS = ("lut", "lut_txt", "manifest", "csv", "search_space")


def run_command(args):
    if getattr(args, "out", None):
        refuse_input_as_output(args.out, [getattr(args, name, None) for name in INPUTS])
    if args.command in BUILDERS:
        table = LookupTable(BUILDERS[args.command](args), source=args.out)
        table.save(args.out)
        print(format_table(table))
    elif args.command == "show":
        print(format_table(LookupTable.load(args.lut)))
    else:
        {"check": _check, "export-ops": _export_ops, "space": _write_space,
         "add-reference": _add_reference}[args.command](args)


def main(argv=None):
    exit_on_user_error(run_command, parse_args(argv))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
