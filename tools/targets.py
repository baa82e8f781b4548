"""The release's targets, judged from one benchmark run: each target, the subnet's figure, met or missed
and by how much. The README's target table is this tool's output, not a hand copy.

    python -m tools.targets released/benchmark.json --subnet subnet --baseline pfld_lite --out released/targets

The targets are the reference's own ratios (NNI's FBNet-on-PFLD: NME 5.58/6.22 and latency 1.60/10 ms
against its baseline, 693 KB) and dlib's 68-point pipeline on faces68/val (its HOG detector finds 311 of
337 faces, NME io 5.72% there). The benchmark's own count of the faces dlib's HOG finds replaces 311 when
it ran with dlib installed. Prints a Markdown table and writes OUT.md and OUT.json.
"""

import json
from pathlib import Path

from fbnet_pfld.cli import Parser, exit_on_user_error
from fbnet_pfld.errors import DeployError
from tools.benchmark import publish

NME_RATIO = 0.90  # the reference's 5.58 / 6.22 (0.897), rounded
LATENCY_RATIO = 0.16  # the reference's 1.60 / 10 ms
ONNX_KB = 693  # the reference's searched subnet
PEER_FOUND = 311  # dlib's HOG detector on faces68/val
PEER_NME = 0.0572  # dlib's 68-point predictor on the faces its HOG detector finds


def verdict(value, limit, unit, strict=False, lower_is_better=True):
    """'met' or '**missed**', each with the distance to the limit in ``unit`` (a format for one number)."""
    gap = limit - value if lower_is_better else value - limit
    ok = gap > 0 if strict else gap >= 0
    return f"met ({unit.format(abs(gap))} to spare)" if ok else f"**missed** by {unit.format(abs(gap))}"


def _row(subnet, key):
    if key not in subnet:
        raise DeployError(f"the benchmark has no {key!r} for {subnet['model']}: run it with --faces (and dlib "
                          "installed for the peer's faces)")
    return subnet[key]


def detector_cell(subnet):
    """The detector-in-the-loop NME, then the same on the peer's faces and with --flip when measured."""
    parts = [f"{100 * _row(subnet, 'nme_io_detector'):.2f}% on the {subnet['found']} it finds"]
    for key, text in (("nme_io_detector_peer_faces", "on the {n} dlib's HOG finds"),
                      ("nme_io_detector_flip", "with --flip"),
                      ("nme_io_detector_peer_faces_flip", "with --flip on HOG's faces")):
        if key in subnet:
            parts.append(f"{100 * subnet[key]:.2f}% {text.format(n=subnet.get('found_of_peer_faces'))}")
    return "; ".join(parts)


def target_rows(result, subnet_name, baseline_name):
    """(target, the subnet's figure, verdict) per acceptance point, from a benchmark's OUT.json dict."""
    rows = {row["model"]: row for row in result["rows"]}
    for name in (subnet_name, baseline_name):
        if name not in rows:
            raise DeployError(f"the benchmark has no model {name!r}; it has {', '.join(rows)}")
    subnet, baseline = rows[subnet_name], rows[baseline_name]
    nme_ratio = _row(subnet, "nme_io") / _row(baseline, "nme_io")
    latency_ratio = subnet["ort_1thread_ms"] / baseline["ort_1thread_ms"]
    kb = subnet["onnx_bytes"] / 1024
    peer_found = subnet.get("peer_found", PEER_FOUND)
    found, detector_nme = _row(subnet, "found"), _row(subnet, "nme_io_detector")
    return [
        (f"NME io <= {NME_RATIO:.2f}x {baseline_name}'s (the reference's 5.58/6.22)",
         f"{100 * subnet['nme_io']:.2f} / {100 * baseline['nme_io']:.2f}% = {nme_ratio:.3f}x",
         verdict(nme_ratio, NME_RATIO, "{:.3f}x")),
        (f"onnxruntime 1 thread <= {LATENCY_RATIO:.2f}x {baseline_name}'s (1.60/10 ms)",
         f"{subnet['ort_1thread_ms']:.3f} / {baseline['ort_1thread_ms']:.3f} ms = {latency_ratio:.3f}x",
         verdict(latency_ratio, LATENCY_RATIO, "{:.3f}x")),
        (f"ONNX <= {ONNX_KB} KB", f"{kb:.0f} KB", verdict(kb, ONNX_KB, "{:.0f} KB")),
        (f"detector in the loop finds >= {peer_found} of {subnet['faces']} faces (dlib's HOG)",
         f"{found} of {subnet['faces']}", verdict(found, peer_found, "{:d} faces", lower_is_better=False)),
        (f"... with NME io below dlib's {100 * PEER_NME:.2f}%", detector_cell(subnet),
         verdict(100 * detector_nme, 100 * PEER_NME, "{:.2f} points", strict=True)),
    ]


def markdown(rows, source):
    lines = ["| target | subnet | verdict |", "|---|---|---|"]
    lines += [f"| {target} | {figure} | {judged} |" for target, figure, judged in rows]
    lines.append(f"\nFrom {source}: one benchmark run; NME on the test faces, latency batch 1.")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = Parser(__doc__)
    parser.add_argument("benchmark", help="a benchmark's OUT.json (tools.benchmark --out OUT)")
    parser.add_argument("--subnet", default="subnet", help="the searched model's name in the benchmark")
    parser.add_argument("--baseline", default="pfld_lite", help="the baseline's name in the benchmark")
    parser.add_argument("--out", help="write OUT.md and OUT.json")
    return parser.parse_args(argv)


def run(args):
    path = Path(args.benchmark)
    try:
        result = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DeployError(f"{path}: line {error.lineno}: not a benchmark's JSON ({error.msg})") from None
    if not isinstance(result, dict) or not isinstance(result.get("rows"), list):
        raise DeployError(f"{path}: not a benchmark's JSON (no list of model rows)")
    rows = target_rows(result, args.subnet, args.baseline)
    figures = [{"target": target, "subnet": figure, "verdict": judged} for target, figure, judged in rows]
    publish(markdown(rows, path.as_posix()), {"benchmark": path.as_posix(), "targets": figures}, args.out)


def main(argv=None):
    exit_on_user_error(run, parse_args(argv))


if __name__ == "__main__":
    main()
