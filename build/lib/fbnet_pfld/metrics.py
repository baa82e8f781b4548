"""Landmark accuracy: NME with both normalisations published results mix, failure rate and AUC.

Every script reports accuracy through ``landmark_metrics``, so a number in a log, a checkpoint, the
benchmark table and the README means the same thing everywhere.
"""

import numpy as np
import torch

from fbnet_pfld.points import EYE_CORNERS

IO_THRESHOLD = 0.10  # failure rate and AUC threshold usual for inter-ocular NME
BOX_THRESHOLD = 0.08  # the 106-point challenge's threshold for its box-normalised NME


def as_points(array):
    """[N, 2K] or [N, K, 2] tensor/array -> float64 array [N, K, 2]."""
    array = array.detach().cpu().double().numpy() if torch.is_tensor(array) else np.asarray(array, np.float64)
    return array.reshape(array.shape[0], -1, 2)


def _failure_and_auc(errors, threshold):
    """Failure rate (error > threshold) and the exact area under the CED curve up to threshold.

    The CED area of one image with error e is max(0, threshold - e); averaged and normalised
    by threshold it equals the usual integral of the cumulative error curve."""
    return float(np.mean(errors > threshold)), float(np.mean(np.clip(threshold - errors, 0, None)) / threshold)


def per_image_errors(pred, gt):
    """Mean point-to-point error per image, in the units of the coordinates."""
    return np.linalg.norm(as_points(pred) - as_points(gt), axis=2).mean(axis=1)


def normalised_errors(pred, gt):
    """Per-image errors over each normaliser: {"io": ... (where eye corners are known), "box": ...}."""
    pred_pts, gt_pts = as_points(pred), as_points(gt)
    errors = per_image_errors(pred_pts, gt_pts)
    result = {}
    if gt_pts.shape[1] in EYE_CORNERS:
        a, b = EYE_CORNERS[gt_pts.shape[1]]
        result["io"] = errors / np.linalg.norm(gt_pts[:, a] - gt_pts[:, b], axis=1)
    extent = gt_pts.max(axis=1) - gt_pts.min(axis=1)
    result["box"] = errors / np.sqrt(extent[:, 0] * extent[:, 1])
    return result


def landmark_metrics(pred, gt):
    """NME with both normalisations published 106-point results mix, each with failure rate and AUC.

    ``io``: over the ground truth's outer-eye-corner distance (for 106, 98 and 68 points);
    ``box``: over sqrt(width x height) of the ground truth's landmark box (the 106-point
    challenge's metric), any point count. Values are fractions (0.05 = 5%).
    """
    metrics = {}
    for name, errors in normalised_errors(pred, gt).items():
        errors = np.where(np.isfinite(errors), errors, np.inf)  # a NaN answer is a failure, never a pass
        fr, auc = _failure_and_auc(errors, IO_THRESHOLD if name == "io" else BOX_THRESHOLD)
        metrics.update({f"nme_{name}": float(errors.mean()), f"fr_{name}": fr, f"auc_{name}": auc})
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
