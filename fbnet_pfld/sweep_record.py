"""A sweep's finished work kept outside its runs folder (``sweep.py --record DIR``, small enough to commit as
it grows): each budget's searched architecture (searches/budget_T.json, an arch.json) and each finished training's row
(points.csv: the network, seed, length, NME) with its ONNX file (onnx/) and its per-epoch log (logs/). A sweep
continues from its record on another machine, searching and training nothing recorded again, and measures latency
from the recorded ONNX files in one run as before; ``tools.release --record`` releases recorded models from it.
"""

import hashlib
import itertools
import math
from pathlib import Path

from fbnet_pfld.archfile import read_arch, write_arch
from fbnet_pfld.errors import DataError
from fbnet_pfld.utils import read_csv_rows, read_typed_csv, replace_csv_row
from fbnet_pfld.writes import replacing

FIELDS = ["network", "seed", "epochs", "nme_io", "nme_box", "minutes", "onnx"]
NUMBERS = {"seed": int, "epochs": int, "nme_io": float, "nme_box": float, "minutes": float}


def network_of(point):
    """What a point trains: its architecture (op names joined by commas) or its hand-designed model's name."""
    return ",".join(point["arch"]) if "arch" in point else point["model"]


def onnx_name(network, seed):
    """A file name per trained network and seed (an architecture's names would pass the file system's limit)."""
    readable = network if "," not in network else "arch_" + hashlib.sha1(network.encode()).hexdigest()[:12]
    return f"{readable}_seed{seed}.onnx"


def _identity(row):
    return row["network"], row["seed"], row["epochs"]


class SweepRecord:
    def __init__(self, folder):
        self.folder = Path(folder)
        self.points_csv = self.folder / "points.csv"

    def search_file(self, target):
        """Budget ``target``'s architecture file (arch.json with its search space: retrain.py --arch takes it)."""
        return self.folder / "searches" / f"budget_{target:g}.json"

    def searched(self, target):
        """The architecture recorded for budget ``target``, or None."""
        path = self.search_file(target)
        return read_arch(path)[0] if path.is_file() else None

    def add_search(self, target, arch, search_space):
        write_arch(self.search_file(target), arch, search_space)

    def rows(self):
        """The recorded trainings, numbers parsed; errors name the file and line."""
        return read_typed_csv(self.points_csv, FIELDS, NUMBERS, self._problem)

    def _problem(self, row):
        if Path(row["onnx"]).name != row["onnx"] or not (self.folder / "onnx" / row["onnx"]).is_file():
            return f"its ONNX file onnx/{row['onnx']} is not in the record"
        return None

    def finished(self, point, epochs):
        """The point's recorded row (trained ``epochs`` with its seed), or None."""
        return self.find(network_of(point), point["seed"], epochs)

    def onnx_path(self, row):
        return self.folder / "onnx" / row["onnx"]

    def log_path(self, row):
        """The training's log.csv as recorded (rows recorded without one have none there)."""
        return self.folder / "logs" / Path(row["onnx"]).with_suffix(".csv").name

    def keep_log(self, stem, log):
        """Keep a run's log.csv as logs/STEM.csv (the warm-up's, a search's, a training's), when it exists. A
        kept log is refreshed by its own run only (the same first epoch: a resumed run keeps its early rows); a
        log of another run (a warm-up run again) goes beside it, as STEM_2.csv and on, and counts in the time."""
        if not Path(log).is_file():
            return
        text = Path(log).read_bytes()
        head = text.splitlines()[:2]  # the header and the first epoch's row: which run it is
        if len(head) < 2:
            return  # no epoch finished yet: nothing to keep, and nothing kept is replaced by it
        for slot in itertools.count(1):
            target = self.folder / "logs" / (f"{stem}.csv" if slot == 1 else f"{stem}_{slot}.csv")
            if not target.is_file() or target.read_bytes().splitlines()[:2] in (head, head[:1]):
                break
        with replacing(target) as temp:
            temp.write_bytes(text)

    def minutes(self):
        """Wall minutes of each part kept in the record: {"warm-up": m, "searches": m, "trainings": m}
        (a part whose logs are not all kept counts what is)."""
        def total(paths):
            return sum(float(r["seconds"]) for path in paths for r in read_csv_rows(path)) / 60
        logs = self.folder / "logs"
        return {"warm-up": total(logs.glob("warmup*.csv")), "searches": total(logs.glob("search_*.csv")),
                "trainings": sum(r["minutes"] for r in self.rows() if math.isfinite(r["minutes"]))}

    def find(self, network, seed, epochs):
        """The recorded row of ``network`` (op names joined by commas, or a hand-designed model's name) trained
        ``epochs`` with ``seed``, or None."""
        return next((r for r in self.rows() if _identity(r) == (network, seed, epochs)), None)

    def onnx_target(self, point):
        """Where a finished training's ONNX file goes, exported there before ``add_point``."""
        return self.folder / "onnx" / onnx_name(network_of(point), point["seed"])

    def add_point(self, point, metrics, epochs, minutes, log=None):
        """Record a finished training (its last epoch's metrics, its wall time, its log.csv ``log`` when given)
        whose ONNX file is at ``onnx_target(point)``; returns its row."""
        network, target = network_of(point), self.onnx_target(point)
        if not target.is_file():
            raise DataError(f"{target}: export the point's ONNX file before recording it")
        if log is not None:
            self.keep_log(target.stem, log)
        row = {"network": network, "seed": point["seed"], "epochs": epochs,
               "nme_io": float(metrics.get("nme_io", math.nan)), "nme_box": float(metrics.get("nme_box", math.nan)),
               "minutes": float(minutes), "onnx": target.name}
        replace_csv_row(self.points_csv, FIELDS, NUMBERS, row, _identity,
                        lambda r: (r["epochs"], r["network"], r["seed"]), self._problem)
        return row
