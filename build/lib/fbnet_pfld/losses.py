"""Training losses, by name (``--loss``). Each takes predicted and true landmarks ([N, 2K], normalised
to the crop) and angles ([N, 3], pitch/yaw/roll in degrees; predicted by the auxiliary net) and
returns ``(loss, mean squared landmark error)``; the second is for logs only.
"""

import math

import torch

from fbnet_pfld.blocks import INPUT_SIZE

WING_WIDTH = 10.0  # w of the wing loss, in pixels of the 112x112 crop (the paper's value)
WING_CURVATURE = 2.0  # epsilon of the wing loss, in pixels
CROP_PIXELS = float(INPUT_SIZE)


def _angle_error(angles, angles_gt):
    """sum over pitch/yaw/roll of (1 - cos(error)), angles in degrees entering cos in radians."""
    return torch.sum(1 - torch.cos(torch.deg2rad(angles - angles_gt)), dim=1)


def _squared(landmarks, landmarks_gt):
    return torch.sum((landmarks_gt - landmarks) ** 2, dim=1)


def pose_weights(angles_gt):
    """1 + sum(1 - cos(true angle)): 1 for a frontal face, more for a turned one; never below 1."""
    return 1 + torch.sum(1 - torch.cos(torch.deg2rad(angles_gt)), dim=1)


def pfld_loss(landmarks, landmarks_gt, angles, angles_gt):
    """PFLD (Guo et al. 2019): per face, sum(1 - cos(angle error)) of the auxiliary net times the summed
    squared landmark error, averaged. The weight follows the auxiliary net's mistakes and reaches 0 when
    it gets a pose right, so that face stops teaching landmarks. (The reference fed degrees to cos.)"""
    squared = _squared(landmarks, landmarks_gt)
    return torch.mean(_angle_error(angles, angles_gt) * squared), torch.mean(squared)


def pose_loss(landmarks, landmarks_gt, angles, angles_gt):
    """PFLD's idea without the vanishing weight: the summed squared landmark error weighted by the
    ground-truth pose, ``1 + sum(1 - cos(angle))`` (>= 1), plus the auxiliary net's own angle loss."""
    squared = _squared(landmarks, landmarks_gt)
    landmark_term = torch.mean(pose_weights(angles_gt) * squared)
    return landmark_term + torch.mean(_angle_error(angles, angles_gt)), torch.mean(squared)


def wing(errors, width=WING_WIDTH, curvature=WING_CURVATURE):
    """Wing loss (Feng et al., CVPR 2018) of absolute errors x (pixels):
    w ln(1 + x / eps) if x < w, else x - C with C = w - w ln(1 + w / eps): log-like (strong pull) for
    small and medium errors, L1 for large ones, continuous at x = w."""
    c = width - width * math.log(1 + width / curvature)
    return torch.where(errors < width, width * torch.log1p(errors / curvature), errors - c)


def wing_loss(landmarks, landmarks_gt, angles, angles_gt):
    """Wing loss of every coordinate in crop pixels, summed per face and averaged, plus the auxiliary
    net's own angle loss (the pose task stays as a regulariser of the shared stem)."""
    errors = (landmarks - landmarks_gt).abs() * CROP_PIXELS
    landmark_term = torch.mean(torch.sum(wing(errors), dim=1)) / CROP_PIXELS
    squared = _squared(landmarks, landmarks_gt)
    return landmark_term + torch.mean(_angle_error(angles, angles_gt)), torch.mean(squared)


def distillation_loss(landmarks, teacher_landmarks):
    """Wing loss of the student's points against a teacher's (a soft target that is never occluded or
    mislabelled), in the units of ``wing_loss``'s landmark term."""
    errors = (landmarks - teacher_landmarks).abs() * CROP_PIXELS
    return torch.mean(torch.sum(wing(errors), dim=1)) / CROP_PIXELS


LOSSES = {"pfld": pfld_loss, "pose": pose_loss, "wing": wing_loss}
# The winner of the loss A/B (README "Losses"): on faces68/val after 20 epochs, wing ended lowest for both
# the subnet (9.92% NME io against 11.48% pose and 15.23% pfld) and pfld_lite (9.81% / 10.65% / 13.98%).
DEFAULT_LOSS = "wing"


def get_loss(name):
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}")
    return LOSSES[name]
