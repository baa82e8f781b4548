"""A sweep's report: pareto.csv (one row a trained point, with its training length), pareto.png, and the
summary's verdicts (per budget against random controls and the width family, the smallest searched model
against pfld_lite, the one-shot rankings' Kendall tau)."""

import csv
import io
import itertools

import numpy as np

from fbnet_pfld.writes import write_text

FIELDS = ["kind", "arch", "target_ms", "predicted_ms", "measured_ms", "nme_io", "nme_box", "supernet_nme_io",
          "theta_log_prob", "seed", "epochs"]


def kendall_tau(a, b):
    """Kendall's tau-b of two sequences (ties counted in neither pair set)."""
    concordant = discordant = ties_a = ties_b = 0
    for i, j in itertools.combinations(range(len(a)), 2):
        da, db = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
        ties_a += da == 0
        ties_b += db == 0
        concordant += da * db > 0
        discordant += da * db < 0
    pairs = len(a) * (len(a) - 1) / 2
    denominator = np.sqrt((pairs - ties_a) * (pairs - ties_b))
    return float((concordant - discordant) / denominator) if denominator else float("nan")


def write_csv(points, path):
    """pareto.csv, written whole (a kill leaves the previous one)."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, FIELDS)
    writer.writeheader()
    for p in points:
        writer.writerow({"kind": p["kind"], "arch": ",".join(p["arch"]) if "arch" in p else p["model"],
                         "target_ms": p.get("target_ms", ""), "predicted_ms": _fmt(p.get("predicted_ms")),
                         "measured_ms": _fmt(p["measured_ms"]), "nme_io": _fmt(p["nme_io"]),
                         "nme_box": _fmt(p["nme_box"]), "supernet_nme_io": _fmt(p.get("supernet_nme_io")),
                         "theta_log_prob": _fmt(p.get("theta_log_prob")), "seed": p["seed"],
                         "epochs": p.get("epochs", "")})
    write_text(path, text.getvalue())


def _fmt(value):
    return "" if value is None else f"{value:.5g}"


def plot_pareto(points, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.8, 4.6))
    for target in sorted({p["target_ms"] for p in points if "target_ms" in p}):
        ax.axvline(target, color="grey", linestyle=":", linewidth=0.8)
    family = sorted((p for p in points if p["kind"] == "width"), key=lambda p: p["measured_ms"])
    if family:
        ax.plot([p["measured_ms"] for p in family], [100 * p["nme_io"] for p in family], color="grey", linewidth=0.8)
    styles = {"searched": ("*", 180), "random": ("o", 40), "width": ("D", 50), "baseline": ("s", 60)}
    for kind, (marker, size) in styles.items():
        chosen = [p for p in points if p["kind"] == kind]
        if chosen:
            ax.scatter([p["measured_ms"] for p in chosen], [100 * p["nme_io"] for p in chosen], marker=marker,
                       s=size, label=kind, alpha=0.85)
    for p in points:
        label = f"T={p['target_ms']:g}" if p["kind"] == "searched" else p.get("model")
        if label:
            ax.annotate(label, (p["measured_ms"], 100 * p["nme_io"]), fontsize=7, xytext=(4, 4),
                        textcoords="offset points")
    ax.set_xscale("log")  # hand-designed baselines can be several times slower than every subnet
    ax.set_xlabel("onnxruntime 1 thread, batch 1 (ms, measured, log scale); dotted: the budgets")
    ax.set_ylabel("NME io (%) on the test split")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def width_family_nme(points, ms):
    """The width family's NME at latency ``ms``, interpolated in log latency; None outside its range."""
    family = sorted((p["measured_ms"], p["nme_io"]) for p in points if p["kind"] == "width")
    if len(family) < 2 or not family[0][0] <= ms <= family[-1][0]:
        return None
    return float(np.interp(np.log(ms), np.log([f[0] for f in family]), [f[1] for f in family]))


def budget_use(point):
    """How much of its budget a searched model's predicted latency spends (a search should spend >= 80%)."""
    share = point["predicted_ms"] / point["target_ms"]
    return f"uses {100 * share:.0f}% of its budget" + ("" if share >= 0.8 else " (under 80%)")


def seed_spread(points):
    """The largest NME gap between two seeds of one budget's searched model (None without a second seed)."""
    by_budget = {}
    for p in (p for p in points if p["kind"] == "searched"):
        by_budget.setdefault(p["target_ms"], []).append(p["nme_io"])
    gaps = [max(nmes) - min(nmes) for nmes in by_budget.values() if len(nmes) > 1]
    return max(gaps) if gaps else None


def against_controls(point, controls, spread=None):
    """The searched NME against the median of its random controls' (or that there are none): a gap within the
    seed ``spread`` is a tie."""
    if not controls:
        return "(no random controls at this budget)"
    median = float(np.median(controls))
    if spread is not None and abs(point["nme_io"] - median) <= spread:
        verdict = "ties"
    else:
        verdict = "beats" if point["nme_io"] <= median else "does NOT beat"
    noise = "" if spread is None else f"; seed spread {100 * spread:.2f} points"
    return f"{verdict} the median of {len(controls)} random controls ({100 * median:.2f}%{noise})"


def against_width_family(point, points):
    """A trained point's NME against the width family's at its latency (interpolated in log latency), or,
    outside the family's latencies, against its nearest end."""
    family = width_family_nme(points, point["measured_ms"])
    if family is not None:
        verdict = " (target <= 0.95x)" if point["nme_io"] > 0.95 * family else " (meets <= 0.95x)"
        return f"; {point['nme_io'] / family:.3f}x the width family's {100 * family:.2f}% at that latency{verdict}"
    widths = sorted((q for q in points if q["kind"] == "width"), key=lambda q: q["measured_ms"])
    if not widths:
        return ""
    end = widths[0] if point["measured_ms"] < widths[0]["measured_ms"] else widths[-1]
    where = "faster than" if end is widths[0] else "slower than"
    return (f"; outside the width family's measured {widths[0]['measured_ms']:.3f}-{widths[-1]['measured_ms']:.3f} "
            f"ms ({where} every width): {point['nme_io'] / end['nme_io']:.3f}x the NME of {end.get('model')} "
            f"({100 * end['nme_io']:.2f}% at {end['measured_ms']:.3f} ms)")


def control_lines(searched, controls, points):
    """Each of a budget's random ``controls`` against the width family at its own measured latency: the
    controls match the search's predicted latency, not its measured one, so the family is the common yardstick."""
    return [f"budget {q['target_ms']:g}: random control {','.join(q['arch'])} NME {100 * q['nme_io']:.2f}% at "
            f"{q['measured_ms']:.3f} ms ({q['measured_ms'] / searched['measured_ms']:.2f}x the search's latency)"
            f"{against_width_family(q, points)}" for q in controls]


def budget_lines(points):
    """Per budget: the searched NME against the median of its random controls and the width family, then
    each control against the width family."""
    lines, first_seed, spread = [], {}, seed_spread(points)
    for p in (p for p in points if p["kind"] == "searched"):
        if p["target_ms"] in first_seed:
            other = first_seed[p["target_ms"]]
            lines.append(f"budget {p['target_ms']:g}: seed {p['seed']} NME {100 * p['nme_io']:.2f}% against seed "
                         f"{other['seed']}'s {100 * other['nme_io']:.2f}% (seed noise)")
            continue
        first_seed[p["target_ms"]] = p
        controls = [q for q in points if q["kind"] == "random" and q["target_ms"] == p["target_ms"]]
        lines.append(f"budget {p['target_ms']:g}: searched {','.join(p['arch'])} NME {100 * p['nme_io']:.2f}% "
                     f"at {p['measured_ms']:.3f} ms {against_controls(p, [q['nme_io'] for q in controls], spread)}; "
                     f"{budget_use(p)}{against_width_family(p, points)}")
        lines += control_lines(p, controls, points)
    return lines


def summary(points):
    """Per budget verdicts, the smallest searched model against pfld_lite, and the one-shot rankings."""
    lines = budget_lines(points)
    reference = next((p for p in points if p.get("model") in ("pfld_lite", "pfld_lite@1")), None)
    if reference is not None:
        fast = [p for p in points if p["kind"] == "searched" and p["measured_ms"] <= 0.16 * reference["measured_ms"]]
        if fast:
            best = min(fast, key=lambda p: p["nme_io"])
            lines.append(f"at <= 0.16x pfld_lite's latency: best searched NME {100 * best['nme_io']:.2f}% = "
                         f"{best['nme_io'] / reference['nme_io']:.3f}x pfld_lite's at "
                         f"{best['measured_ms'] / reference['measured_ms']:.3f}x its latency")
    subnets = [p for p in points if "arch" in p and p["seed"] == min(q["seed"] for q in points)]
    for name, key, sign in (("the supernet's inherited NME", "supernet_nme_io", 1),
                            ("theta's probability", "theta_log_prob", -1)):
        known = [p for p in subnets if p.get(key) is not None]
        if len(known) < len(subnets) or not known:  # a sweep continued from its record alone has no supernets
            lines.append(f"one-shot ranking by {name}: not measured (the sweep's supernets are not all here)")
            continue
        tau = kendall_tau([sign * p[key] for p in known], [p["nme_io"] for p in known])
        lines.append(f"one-shot ranking: Kendall tau {tau:.3f} between {name} and the fine-tuned NME "
                     f"over {len(known)} architectures")
    return "\n".join(lines)
