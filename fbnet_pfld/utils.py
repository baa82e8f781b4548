"""Readable run records: CSV logs that survive resume, timestamped log files, and training plots."""

import csv
import io
import logging
import time
from pathlib import Path

import numpy as np

from fbnet_pfld.errors import DataError
from fbnet_pfld.writes import exclusive, write_text


class CSVLog:
    """Per-epoch CSV log; on resume, rows from the resumed epoch on are dropped, so it stays exact."""

    def __init__(self, path, fields, resume_epoch=None):
        self.path = Path(path)
        self.fields = list(fields)
        rows = []
        if resume_epoch is not None and self.path.exists():
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["epoch"]) < resume_epoch]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w", newline="") as f:
            writer = csv.DictWriter(f, self.fields)
            writer.writeheader()
            writer.writerows(rows)

    def append(self, row):
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self.fields).writerow({k: row.get(k, "") for k in self.fields})

    def read(self):
        return read_csv_rows(self.path)


def read_csv_rows(path):
    """Every row of a CSV file with a header, as dicts (log.csv of any run)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def flatness(rows, key="nme_io"):
    """Relative NME change over the last 10% of epochs (at least 2 epochs): how far from flat a curve ended."""
    values = [float(r[key]) for r in rows]
    span = max(2, len(values) // 10)
    if len(values) <= span:
        return float("nan")
    return (values[-span - 1] - values[-1]) / values[-span - 1]


def read_typed_csv(path, fields, types, check=None):
    """Rows of a record CSV whose header must be ``fields``, the ``types`` columns converted ({name: int or
    float}); a missing file has none. ``check(row)`` may return what is wrong with a row. A wrong header, value
    or row is a DataError naming the file and line."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != list(fields):
            got = ",".join(reader.fieldnames or [])
            raise DataError(f"{path}:1: expected the header {','.join(fields)}, got {got or 'nothing'}")
        rows = []
        for line, row in enumerate(reader, start=2):
            try:
                row = {**row, **{name: kind(row[name]) for name, kind in types.items()}}
            except (TypeError, ValueError):
                raise DataError(f"{path}:{line}: expected numbers in {', '.join(types)}, got {row}") from None
            problem = check(row) if check else None
            if problem:
                raise DataError(f"{path}:{line}: {problem}")
            rows.append(row)
        return rows


def replace_csv_row(path, fields, types, row, identity, order, check=None):
    """Add ``row`` to a record CSV, replacing the row of the same ``identity(row)``; the file is rewritten
    whole, sorted by ``order``, floats to 5 significant digits, by one process at a time (jobs may share it)."""
    with exclusive(path):
        rows = [r for r in read_typed_csv(path, fields, types, check) if identity(r) != identity(row)] + [row]
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fields)
        writer.writeheader()
        for r in sorted(rows, key=order):
            writer.writerow({k: f"{r[k]:.5g}" if isinstance(r[k], float) else r[k] for k in fields})
        write_text(path, text.getvalue())


def training_summary(log_csv):
    """A run's last epoch (nothing is selected on the test split), how flat it ended, and its wall time."""
    rows = read_csv_rows(log_csv)
    last = rows[-1]
    return {"epochs": len(rows), "nme_io": float(last["nme_io"]), "fr_io": float(last["fr_io"]),
            "nme_box": float(last["nme_box"]), "best_nme_io": min(float(r["nme_io"]) for r in rows),
            "last_10pct_drop": flatness(rows), "seconds": sum(float(r["seconds"]) for r in rows)}


def get_logger(name, log_file=None):
    """A logger printing readable timestamped lines to the console and, if given, to a file."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.handlers.clear()
    logger.propagate = False
    formatter = logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers = [logging.StreamHandler()]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    return logger


class PlotCadence:
    """Redraw plots at most every ``seconds`` (matplotlib costs about a second a figure), and always at
    the end of a run, so short epochs are not paced by their plots."""

    def __init__(self, seconds=60.0):
        self.seconds = seconds
        self.last = -float("inf")

    def due(self, final=False):
        now = time.monotonic()
        if final or now - self.last >= self.seconds:
            self.last = now
            return True
        return False


def log_y_axis(ax):
    """A log y axis labelled in plain numbers (9.5, not 9.5 x 10^0)."""
    from matplotlib.ticker import ScalarFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(ScalarFormatter())


def plot_curves(rows, columns, path, title, log_y=False):
    """Training curves: one panel per column group, epochs on x (a log y axis keeps a long run's last
    epochs readable beside its first)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(columns), figsize=(max(7, 5 * len(columns)), 3.6), squeeze=False)
    epochs = [int(r["epoch"]) for r in rows]
    for ax, (panel, names) in zip(axes[0], columns.items()):
        percent = panel.startswith("NME")  # logs keep NME as a fraction; people read it in %, as the logs print it
        for name in names:
            values = [float(r[name]) if r.get(name) not in ("", None) else np.nan for r in rows]
            ax.plot(epochs, [100 * v for v in values] if percent else values, marker=".", label=name)
        ax.set_title(f"{panel} (%)" if percent else panel)
        ax.set_xlabel("epoch")
        if log_y:
            log_y_axis(ax)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
