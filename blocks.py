"""Building blocks of the PFLD search space and the search space itself, as data.

Every candidate op is built from a name such as ``mb_k5_e2_res_se`` through the
``CANDIDATE_OPS`` table, and the searched layers are the plain list ``SEARCH_SPACE``:
adding an op or a layer is a one-line data change, as in mobile-vision's FBNet builder.
"""

from typing import NamedTuple

import torch
from torch import nn

INPUT_SIZE = 112
STEM_CHANNELS = 16  # channels of y1 (56x56) and of the auxiliary net's input (28x28)


def conv_bn(c_in, c_out, kernel, stride=1, padding=None, groups=1, dilation=1, relu=True):
    """Bias-free conv, BatchNorm and (optionally) ReLU: the unit every block is made of."""
    if padding is None:
        padding = dilation * (kernel - 1) // 2
    layers = [
        nn.Conv2d(c_in, c_out, kernel, stride, padding, dilation=dilation, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def conv_out_size(size, kernel, stride, padding, dilation=1):
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


class DepthwisePool(nn.Conv2d):
    """Average pooling as a learnable depthwise conv, initialised to a true average.

    Mobile engines fuse it like any conv; the reference used it to pool y1 and y2 to 7x7.
    """

    def __init__(self, channels, kernel, stride, padding):
        super().__init__(channels, channels, kernel, stride, padding, groups=channels, bias=False)
        nn.init.constant_(self.weight, 1.0 / (kernel * kernel))


class ESE(nn.Module):
    """Effective squeeze-excitation: learned global pool, 1x1 conv with bias, hard-sigmoid gate."""

    def __init__(self, channels, feature_size):
        super().__init__()
        self.pool = nn.Conv2d(channels, channels, feature_size, groups=channels, bias=False)
        nn.init.constant_(self.pool.weight, 1.0 / (feature_size * feature_size))
        self.fc = nn.Conv2d(channels, channels, 1, bias=True)
        self.gate = nn.Hardsigmoid()

    def forward(self, x):
        return x * self.gate(self.fc(self.pool(x)))


class MBBlock(nn.Module):
    """Inverted residual: 1x1 expand, kxk depthwise (stride, dilation), optional eSE, 1x1 project."""

    def __init__(self, c_in, c_out, kernel, stride, mid, in_size=None, dilation=1, se=False):
        """``in_size`` (the input's side) is needed only with eSE, whose pool spans the feature."""
        super().__init__()
        self.expand = conv_bn(c_in, mid, 1)
        depthwise = conv_bn(mid, mid, kernel, stride, groups=mid, dilation=dilation, relu=False)
        self.depthwise = nn.Sequential(
            *depthwise,
            *([ESE(mid, conv_out_size(in_size, kernel, stride, dilation * (kernel - 1) // 2, dilation))]
              if se else []),
            nn.ReLU(inplace=True),
        )
        self.project = conv_bn(mid, c_out, 1, relu=False)
        self.use_residual = stride == 1 and c_in == c_out

    def forward(self, x):
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.use_residual else y


class SeparableConv(nn.Sequential):
    """kxk depthwise conv-BN-ReLU then 1x1 conv-BN-ReLU."""

    def __init__(self, c_in, c_out, kernel, stride):
        super().__init__(conv_bn(c_in, c_in, kernel, stride, groups=c_in), conv_bn(c_in, c_out, 1))


class GhostModule(nn.Module):
    """Ghost module: half the channels from a 1x1 conv, the other half a cheap depthwise of them."""

    def __init__(self, c_in, c_out, kernel, stride):
        super().__init__()
        half = c_out // 2
        self.primary = conv_bn(c_in, half, 1, stride)
        self.cheap = conv_bn(half, c_out - half, kernel, groups=half)

    def forward(self, x):
        y = self.primary(x)
        return torch.cat([y, self.cheap(y)], dim=1)


class OpSpec(NamedTuple):
    """How to build one candidate: block kind, kernel, expansion, dilation, eSE."""

    kind: str  # "mb", "sep" or "ghost"
    kernel: int
    expand: int = 1
    dilation: int = 1
    se: bool = False


# Candidate names follow the reference so lookup tables and architectures stay interchangeable.
CANDIDATE_OPS = {
    "mb_k3_res": OpSpec("mb", 3),
    "mb_k3_e2_res": OpSpec("mb", 3, expand=2),
    "mb_k3_e4_res": OpSpec("mb", 3, expand=4),
    "mb_k3_res_d3": OpSpec("mb", 3, expand=2, dilation=3),
    "mb_k3_e2_res_se": OpSpec("mb", 3, expand=2, se=True),
    "mb_k5_res": OpSpec("mb", 5),
    "mb_k5_e2_res": OpSpec("mb", 5, expand=2),
    "mb_k5_res_se": OpSpec("mb", 5, se=True),
    "mb_k5_e2_res_se": OpSpec("mb", 5, expand=2, se=True),
    "sep_k3": OpSpec("sep", 3),
    "sep_k5": OpSpec("sep", 5),
    "gh_k3": OpSpec("ghost", 3),
    "gh_k5": OpSpec("ghost", 5),
}


class LayerSpec(NamedTuple):
    """One searched layer: its input shape, output channels, stride and candidate op names."""

    c_in: int
    c_out: int
    stride: int
    in_size: int
    ops: tuple

    @property
    def out_size(self):
        return (self.in_size - 1) // self.stride + 1


SHALLOW_OPS = ("mb_k3_res", "mb_k3_e2_res", "mb_k3_res_d3", "mb_k5_res", "mb_k5_e2_res",
               "sep_k3", "sep_k5", "gh_k3", "gh_k5")
DEEP_OPS = ("mb_k3_e2_res", "mb_k3_e4_res", "mb_k3_e2_res_se", "mb_k3_res_d3", "mb_k5_res",
            "mb_k5_e2_res", "mb_k5_res_se", "mb_k5_e2_res_se", "gh_k5")

SEARCH_SPACE = [
    LayerSpec(32, 32, 1, 14, SHALLOW_OPS),
    LayerSpec(32, 32, 1, 14, SHALLOW_OPS),
    LayerSpec(32, 64, 2, 14, DEEP_OPS),
    LayerSpec(64, 64, 1, 7, DEEP_OPS),
    LayerSpec(64, 64, 1, 7, DEEP_OPS),
]


STEM_OUTPUT = (2 * STEM_CHANNELS, INPUT_SIZE // 8)  # the stem hands the searched layers 32 x 14 x 14
HEAD_INPUT_SIZE = INPUT_SIZE // 16  # the head pools y1 and y2 to 7 x 7 and concatenates the last layer's output


def check_search_space(search_space):
    """Raise ValueError naming the layer when a search space does not fit between the fixed stem and head:
    each layer takes the previous one's output (the stem's first), and the last one ends at 7 x 7."""
    if not search_space:
        raise ValueError("a search space needs at least one layer")
    channels, size = STEM_OUTPUT
    for i, layer in enumerate(search_space):
        if (layer.c_in, layer.in_size) != (channels, size):
            raise ValueError(f"layer {i}: takes {layer.c_in} x {layer.in_size} x {layer.in_size}, but the "
                             f"{'stem' if i == 0 else 'layer before'} gives {channels} x {size} x {size}")
        if layer.stride not in (1, 2) or layer.c_out < 1:
            raise ValueError(f"layer {i}: stride must be 1 or 2 and c_out >= 1")
        unknown = [name for name in layer.ops if name not in CANDIDATE_OPS]
        if not layer.ops or unknown or len(set(layer.ops)) != len(layer.ops):
            raise ValueError(f"layer {i}: ops must be distinct names from CANDIDATE_OPS"
                             f"{' (unknown: ' + ', '.join(unknown) + ')' if unknown else ''}")
        channels, size = layer.c_out, layer.out_size
    if size != HEAD_INPUT_SIZE:
        raise ValueError(f"the last layer gives {size} x {size}; the head needs {HEAD_INPUT_SIZE} x {HEAD_INPUT_SIZE}")


def build_op(name, layer):
    """Instantiate candidate ``name`` for the searched layer ``layer`` (a LayerSpec)."""
    if name not in CANDIDATE_OPS:
        raise KeyError(f"unknown candidate op {name!r}; known: {', '.join(sorted(CANDIDATE_OPS))}")
    spec = CANDIDATE_OPS[name]
    if spec.kind == "mb":
        return MBBlock(layer.c_in, layer.c_out, spec.kernel, layer.stride, layer.c_in * spec.expand,
                       layer.in_size, dilation=spec.dilation, se=spec.se)
    if spec.kind == "sep":
        return SeparableConv(layer.c_in, layer.c_out, spec.kernel, layer.stride)
    if spec.kind == "ghost":
        return GhostModule(layer.c_in, layer.c_out, spec.kernel, layer.stride)
    raise ValueError(f"op {name!r} has unknown kind {spec.kind!r}")


def pooled_tap(search_space):
    """Index of the searched layer whose output is pooled into the head (y2): the last one
    still at the stem's 14x14 resolution, or -1 (the stem's output) when there is none."""
    tap = -1
    for i, layer in enumerate(search_space):
        if layer.out_size == search_space[0].in_size:
            tap = i
    return tap


class PeleeStem(nn.Module):
    """PeleeNet stem plus a fixed MB block: 3x112x112 -> y1 16x56x56, feature 16x28x28, 32x14x14."""

    def __init__(self):
        super().__init__()
        c = STEM_CHANNELS
        self.conv1 = conv_bn(3, c, 3, 2)
        self.branch_a = nn.Sequential(conv_bn(c, c, 1), conv_bn(c, c, 3, 2, groups=c), conv_bn(c, c, 1))
        self.branch_b = nn.MaxPool2d(2, 2)
        self.fuse = conv_bn(2 * c, c, 1)
        self.block = MBBlock(c, 2 * c, 3, 2, mid=2 * c, in_size=28)

    def forward(self, x):
        y1 = self.conv1(x)
        feature = self.fuse(torch.cat([self.branch_a(y1), self.branch_b(y1)], dim=1))
        return y1, feature, self.block(feature)
