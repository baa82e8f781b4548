"""Shared helpers: landmark metrics, safe checkpoints, seeding and RNG state, CSV logs and plots."""

import csv
import logging
import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch

# Outer eye corners of the ground truth, the inter-ocular normaliser of NME: iBUG 300-W (68), WFLW (98)
# and LaPa/JD-106 (106) orders. In the 106 order of ../shared/data/samples106, 35 and 93 (quoted by the
# reference) are a brow and a lip point; 66 and 79 are the outer eye corners (checked on both samples).
EYE_CORNERS = {106: (66, 79), 98: (60, 72), 68: (36, 45)}
IO_THRESHOLD = 0.10  # failure rate and AUC threshold usual for inter-ocular NME
BOX_THRESHOLD = 0.08  # the 106-point challenge's threshold for its box-normalised NME


def _as_points(array):
    array = array.detach().cpu().double().numpy() if torch.is_tensor(array) else np.asarray(array, np.float64)
    return array.reshape(array.shape[0], -1, 2)


def _failure_and_auc(errors, threshold):
    """Failure rate (error > threshold) and the exact area under the CED curve up to threshold.

    The CED area of one image with error e is max(0, threshold - e); averaged and normalised
    by threshold it equals the usual integral of the cumulative error curve."""
    return float(np.mean(errors > threshold)), float(np.mean(np.clip(threshold - errors, 0, None)) / threshold)


def per_image_errors(pred, gt):
    """Mean point-to-point error per image, in the units of the coordinates."""
    return np.linalg.norm(_as_points(pred) - _as_points(gt), axis=2).mean(axis=1)


def landmark_metrics(pred, gt):
    """NME with both normalisations published 106-point results mix, each with failure rate and AUC.

    ``io``: over the ground truth's outer-eye-corner distance (for 106, 98 and 68 points);
    ``box``: over sqrt(width x height) of the ground truth's landmark box (the 106-point
    challenge's metric), any point count. Values are fractions (0.05 = 5%).
    """
    pred_pts, gt_pts = _as_points(pred), _as_points(gt)
    errors = per_image_errors(pred_pts, gt_pts)
    metrics = {}
    num_points = gt_pts.shape[1]
    if num_points in EYE_CORNERS:
        a, b = EYE_CORNERS[num_points]
        io = errors / np.linalg.norm(gt_pts[:, a] - gt_pts[:, b], axis=1)
        fr, auc = _failure_and_auc(io, IO_THRESHOLD)
        metrics.update(nme_io=float(io.mean()), fr_io=fr, auc_io=auc)
    extent = gt_pts.max(axis=1) - gt_pts.min(axis=1)
    box = errors / np.sqrt(extent[:, 0] * extent[:, 1])
    fr, auc = _failure_and_auc(box, BOX_THRESHOLD)
    metrics.update(nme_box=float(box.mean()), fr_box=fr, auc_box=auc)
    return metrics


def primary_nme(metrics):
    """The NME models are selected by: inter-ocular where defined, else box-normalised."""
    return metrics.get("nme_io", metrics["nme_box"])


def format_metrics(metrics):
    parts = []
    if "nme_io" in metrics:
        parts.append(f"NME(io) {100 * metrics['nme_io']:.2f}% FR@0.1 {100 * metrics['fr_io']:.1f}% "
                     f"AUC@0.1 {metrics['auc_io']:.3f}")
    parts.append(f"NME(box) {100 * metrics['nme_box']:.2f}% FR@0.08 {100 * metrics['fr_box']:.1f}% "
                 f"AUC@0.08 {metrics['auc_box']:.3f}")
    return " | ".join(parts)


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read: missing, truncated, corrupted or not ours."""


def save_checkpoint(state, path):
    """Write atomically: a temp file in the same folder, fsync, then rename over the target.

    A run killed mid-save leaves the previous checkpoint untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path, required=()):
    """Load with ``weights_only=True`` (a downloaded file cannot run code); clear errors otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupted?): "
                              f"{str(error).splitlines()[0]}") from None
    missing = [key for key in required if key not in state] if isinstance(state, dict) else list(required)
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return state


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state():
    """The global RNG state a resumed run must restore to continue exactly (Gumbel noise, shuffles)."""
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state):
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


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
        with open(self.path, newline="") as f:
            return list(csv.DictReader(f))


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


def plot_curves(rows, columns, path, title):
    """Training curves: one panel per column group, epochs on x."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(columns), figsize=(5 * len(columns), 3.6), squeeze=False)
    epochs = [int(r["epoch"]) for r in rows]
    for ax, (panel, names) in zip(axes[0], columns.items()):
        for name in names:
            values = [float(r[name]) if r.get(name) not in ("", None) else np.nan for r in rows]
            ax.plot(epochs, values, marker=".", label=name)
        ax.set_title(panel)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
