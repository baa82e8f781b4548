"""The hand-designed networks a search is compared with: the reference's baseline ``pfld_lite`` (and its
width family ``pfld_lite@W``) and a PFLD-MobileNetV2 ``baseline``. Each returns ``(landmarks [N, 2K],
feature [N, C, 28, 28])`` like the searched networks.
"""

import torch
import torch.nn.functional as F
from torch import nn

from fbnet_pfld.blocks import MBBlock, conv_bn


def inverted_residuals(c_in, c_out, expand, repeats, stride):
    """A MobileNetV2 stage: the first block may stride and change width, the rest are residual."""
    blocks = [MBBlock(c_in, c_out, 3, stride, mid=c_in * expand)]
    blocks += [MBBlock(c_out, c_out, 3, 1, mid=c_out * expand) for _ in range(repeats - 1)]
    return nn.Sequential(*blocks)


class Baseline(nn.Module):
    """The hand-designed reference ("MobileNet-V3 PFLD"): a PFLD-lite of depthwise-separable inverted
    residuals from 16 base channels, three pooled scales (14x14, 7x7, 1x1) concatenated into the FC."""

    def __init__(self, num_points):
        super().__init__()
        self.num_points = num_points
        self.stem = conv_bn(3, 16, 3, 2)  # 56x56
        self.stage1 = inverted_residuals(16, 16, 2, 2, 2)  # 28x28, the auxiliary feature
        self.stage2 = nn.Sequential(inverted_residuals(16, 32, 2, 1, 2), inverted_residuals(32, 32, 2, 3, 1))
        self.stage3 = nn.Sequential(inverted_residuals(32, 64, 3, 1, 2), inverted_residuals(64, 64, 4, 3, 1))
        self.stage4 = nn.Sequential(conv_bn(64, 64, 7, padding=0, groups=64), conv_bn(64, 128, 1))  # 1x1
        self.fc = nn.Linear(32 + 64 + 128, 2 * num_points)

    def forward(self, x):
        feature = self.stage1(self.stem(x))
        s1 = self.stage2(feature)
        s2 = self.stage3(s1)
        s3 = self.stage4(s2)
        pooled = [F.adaptive_avg_pool2d(s, 1).flatten(1) for s in (s1, s2, s3)]
        return self.fc(torch.cat(pooled, dim=1)), feature


def separable(c_in, c_out, stride):
    """Depthwise-separable block of PFLD-lite: 3x3 depthwise-BN-ReLU, then 1x1-BN-ReLU."""
    return nn.Sequential(conv_bn(c_in, c_in, 3, stride, groups=c_in), conv_bn(c_in, c_out, 1))


class PFLDLite(nn.Module):
    """The reference's baseline, "MobileNet-V3 PFLD": the 106-point PFLD "lite" of the
    pfld_106_face_landmarks project, rebuilt from its published structure (about 0.26 M parameters and
    77 M multiply-adds at 112x112: its first convolutions run at full resolution).

    ``width`` scales every layer's channels (multiples of 4, at least 4): the hand-designed family a
    search is compared with at equal latency (named ``pfld_lite@0.5`` and so on)."""

    def __init__(self, num_points, width=1.0):
        super().__init__()
        self.num_points = num_points

        def c(channels):
            return max(4, int(channels * width / 4 + 0.5) * 4)

        self.AUX = {"c_in": c(64), "width": 128, "last_kernel": 3}
        self.stem = conv_bn(3, c(16), 3, 1)
        blocks_a = [(16, 32, 1), (32, 32, 2), (32, 32, 1), (32, 64, 2), (64, 64, 1), (64, 64, 1), (64, 64, 1)]
        self.stage_a = nn.Sequential(*(separable(c(i), c(o), s) for i, o, s in blocks_a))  # 64x28x28
        blocks_b = [(64, 128, 2), (128, 128, 1), (128, 128, 1), (128, 256, 1), (256, 256, 1)]
        self.stage_b = nn.Sequential(*(separable(c(i), c(o), s) for i, o, s in blocks_b))  # 256x14x14
        self.extra = nn.Sequential(
            nn.Conv2d(c(256), c(64), 1), nn.ReLU(inplace=True),
            nn.Conv2d(c(64), c(64), 3, 2, 1, groups=c(64)), nn.ReLU(inplace=True), nn.Conv2d(c(64), c(128), 1))
        self.tap_a = nn.Conv2d(c(64), c(16), 3, 1, 1)
        self.tap_b = nn.Conv2d(c(256), c(64), 1)
        self.fc = nn.Linear(c(16) + c(64) + c(128), 2 * num_points)

    def forward(self, x):
        feature = self.stage_a(self.stem(x))
        b = self.stage_b(feature)
        pooled = [F.adaptive_avg_pool2d(t, 1).flatten(1) for t in (self.tap_a(feature), self.tap_b(b), self.extra(b))]
        return self.fc(torch.cat(pooled, dim=1)), feature
