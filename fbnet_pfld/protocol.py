"""How long must a comparison train? The length protocol: networks of different sizes, each trained from
scratch at several lengths with one recipe; each length's ranking of the networks (by NME on the data
root's test split) against the longest length's, as Kendall's tau; the shortest length whose tau reaches a
threshold ranks like convergence and is the one a sweep may train at.

Its rows live in one CSV (the record), rewritten whole as each training finishes, so that the protocol
continues on another machine from a committed record instead of training again.
"""

import math

from fbnet_pfld.errors import DataError
from fbnet_pfld.pareto import kendall_tau
from fbnet_pfld.utils import read_typed_csv, replace_csv_row

FIELDS = ["network", "spec", "epochs", "seed", "nme_io", "nme_box", "minutes"]
NUMBERS = {"epochs": int, "seed": int, "nme_io": float, "nme_box": float, "minutes": float}


def read_record(path):
    """The record's rows (numbers parsed); a missing file is an empty record. Errors name the file and line."""
    return read_typed_csv(path, FIELDS, NUMBERS, _problem)


def _problem(row):
    if row["epochs"] < 1 or not row["network"]:
        return "a row needs a network name and epochs >= 1"
    return None


def _identity(row):
    return row["network"], row["epochs"], row["seed"]


def add_row(path, row):
    """Add (or replace: same network, length and seed) one row; the file is written whole, by one process at
    a time (two jobs may share a record)."""
    replace_csv_row(path, FIELDS, NUMBERS, row, _identity, lambda r: (r["epochs"], r["seed"], r["network"]), _problem)


def recorded(rows, network, epochs, seed):
    return any(_identity(r) == (network, epochs, seed) for r in rows)


def ranking_value(nme):
    """A diverged training (NME not finite) ranks last: it never passes for a good network."""
    return nme if math.isfinite(nme) else math.inf


def length_agreement(rows, seed):
    """[(epochs, Kendall tau against the longest length, networks compared)] for one seed, shortest first.
    Only networks trained at both lengths are compared."""
    by_length = {}
    for r in rows:
        if r["seed"] == seed:
            by_length.setdefault(r["epochs"], {})[r["network"]] = ranking_value(r["nme_io"])
    if not by_length:
        return []
    longest = by_length[max(by_length)]
    agreement = []
    for epochs in sorted(by_length):
        both = sorted(set(by_length[epochs]) & set(longest))
        tau = kendall_tau([by_length[epochs][n] for n in both], [longest[n] for n in both]) if len(both) > 1 \
            else float("nan")
        agreement.append((epochs, tau, len(both)))
    return agreement


def shortest_faithful(agreement, threshold, min_networks):
    """The shortest length whose ranking agrees with the longest's (tau >= threshold over at least
    ``min_networks`` networks), or None when no shorter length does: then train to the longest."""
    for epochs, tau, count in agreement[:-1]:
        if count >= min_networks and math.isfinite(tau) and tau >= threshold:
            return epochs
    return None


def _ranking_table(rows, seed, agreement):
    """Markdown lines: NME io (%) per network (best last length first) and length, then each length's tau
    (``agreement``: length_agreement of these rows)."""
    lengths = sorted({r["epochs"] for r in rows if r["seed"] == seed})
    networks = sorted({r["network"] for r in rows if r["seed"] == seed},
                      key=lambda n: _nme(rows, n, lengths[-1], seed) if lengths else 0)
    lines = ["| network | " + " | ".join(f"{e} epochs" for e in lengths) + " |",
             "|---|" + "---:|" * len(lengths)]
    for network in networks:
        cells = [_nme(rows, network, e, seed) for e in lengths]
        lines.append(f"| {network} | " + " | ".join("-" if v is None else f"{100 * v:.2f}" for v in cells) + " |")
    lines.append("| Kendall tau against the longest | " +
                 " | ".join(f"{tau:.2f} ({count})" if math.isfinite(tau) else f"- ({count})"
                            for _, tau, count in agreement) + " |")
    return lines


def report(rows, seed, threshold, min_networks):
    """The record as markdown: NME io per network and length, each length's tau and cost, the verdict."""
    lengths = sorted({r["epochs"] for r in rows if r["seed"] == seed})
    agreement = length_agreement(rows, seed)
    lines = _ranking_table(rows, seed, agreement)
    minutes = [sum(r["minutes"] for r in rows if r["seed"] == seed and r["epochs"] == e) for e in lengths]
    lines.append("| training minutes, all networks | " + " | ".join(f"{m:.0f}" for m in minutes) + " |")
    chosen = shortest_faithful(agreement, threshold, min_networks)
    if not lengths:
        verdict = "nothing trained yet"
    elif chosen is None:
        verdict = (f"no length shorter than {lengths[-1]} epochs ranks like it (tau >= {threshold:g} over >= "
                   f"{min_networks} networks): train to {lengths[-1]} epochs")
    else:
        verdict = (f"{chosen} epochs rank like {lengths[-1]} (tau >= {threshold:g} over >= {min_networks} "
                   f"networks): the shortest faithful length")
    return "\n".join(lines) + f"\n\nNME io (%) on the test split, seed {seed}; tau (networks compared). " \
        f"Verdict: {verdict}.\n"


def within_run_rows(curves, lengths, seed):
    """Rows as the record keeps them, read off the per-epoch NME io of trainings of one length (``curves``:
    network -> NME io after each epoch): each network after epoch E of its own run, for each E in
    ``lengths`` shorter than the runs, and at the runs' end. Epoch E of a long run is mid-schedule (its
    learning rate still high), not a run of E epochs: this ranks the long runs' curves, not the protocol's."""
    ends = {len(nmes) for nmes in curves.values()}
    if len(ends) > 1:
        raise DataError("within-run ranking: the trainings differ in length (" +
                        ", ".join(f"{name} {len(nmes)} epochs" for name, nmes in curves.items()) + ")")
    end = ends.pop() if ends else 0
    return [{"network": name, "spec": "", "epochs": epochs, "seed": seed, "nme_io": nmes[epochs - 1],
             "nme_box": math.nan, "minutes": 0.0}
            for name, nmes in curves.items() for epochs in sorted({e for e in lengths if e < end} | {end})]


def within_run_report(rows, seed):
    """Markdown of within_run_rows: each epoch's ranking of the runs against their last epoch's."""
    table = "\n".join(_ranking_table(rows, seed, length_agreement(rows, seed)))
    return table + f"\n\nNME io (%) on the test split after that many epochs of " \
        f"the same runs (one schedule, to the last length), seed {seed}; tau (networks compared). Not the " \
        f"protocol: a run of that length would decay its learning rate to its own end.\n"


def _nme(rows, network, epochs, seed):
    return next((r["nme_io"] for r in rows if _identity(r) == (network, epochs, seed)), None)


def plot_lengths(rows, seed, path, title):
    """NME io against training length, a line per network (log length): where the rankings cross."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.8, 4.6))
    for network in sorted({r["network"] for r in rows if r["seed"] == seed}):
        points = sorted((r["epochs"], 100 * r["nme_io"]) for r in rows
                        if r["seed"] == seed and r["network"] == network and math.isfinite(r["nme_io"]))
        if points:
            ax.plot(*zip(*points), marker="o", label=network)
    ax.set_xscale("log")
    ax.set_xlabel("training length (epochs, log scale), each length its own schedule")
    ax.set_ylabel("NME io (%) on the test split")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
