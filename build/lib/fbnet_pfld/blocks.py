"""Building blocks of the PFLD search space and the search space itself, as data.

Every candidate op is built from a name such as ``mb_k5_e2_res_se`` through the
``CANDIDATE_OPS`` table, and the searched layers are the plain list ``SEARCH_SPACE``:
adding an op or a layer is a one-line data change, as in mobile-vision's FBNet builder.
"""

from typing import NamedTuple

import torch
from torch import nn

from fbnet_pfld.errors import SearchSpaceError

INPUT_SIZE = 112
STEM_CHANNELS = 16  # channels of y1 (56x56) and of the stem's 28x28 feature


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

    kind: str  # "mb", "sep", "ghost", "conv" or "skip" (the identity: lets a search drop a layer, so choose depth)
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
    "mb_k3_e3_res": OpSpec("mb", 3, expand=3),
    "mb_k5_e3_res": OpSpec("mb", 5, expand=3),
    "mb_k3_e6_res": OpSpec("mb", 3, expand=6),
    "mb_k5_e6_res": OpSpec("mb", 5, expand=6),
    "mb_k3_e3_res_se": OpSpec("mb", 3, expand=3, se=True),
    "mb_k5_e3_res_se": OpSpec("mb", 5, expand=3, se=True),
    "conv_k3": OpSpec("conv", 3),
    "sep_k3": OpSpec("sep", 3),
    "sep_k5": OpSpec("sep", 5),
    "gh_k3": OpSpec("ghost", 3),
    "gh_k5": OpSpec("ghost", 5),
    "skip": OpSpec("skip", 0),
}


WIDTH_MARK = "@"  # a candidate of a layer that chooses its width is named "op@width", e.g. "mb_k3_e3_res@24"


class LayerSpec(NamedTuple):
    """One searched layer: its input shape, output channels, stride and candidate op names.

    With ``widths``, the layer also chooses its output channels among them (``c_out`` is the widest) and
    its candidates are every op at every width. Without, a layer with ``c_in == c_out`` keeps the width
    it is given (a stage's later layers follow its first), any other outputs ``c_out``. ``c_in`` is the
    widest input; a narrower one comes from a previous layer's choice."""

    c_in: int
    c_out: int
    stride: int
    in_size: int
    ops: tuple
    widths: tuple = ()

    @property
    def out_size(self):
        return (self.in_size - 1) // self.stride + 1

    @property
    def candidates(self):
        """The names an architecture picks from at this layer (ops, or op@width for every width)."""
        if not self.widths:
            return tuple(self.ops)
        return tuple(f"{op}{WIDTH_MARK}{width}" for width in self.widths for op in self.ops)

    def output_width(self, candidate, in_width):
        """Channels this layer gives for ``candidate`` when it is given ``in_width``."""
        if self.widths:
            return int(candidate.rsplit(WIDTH_MARK, 1)[1])
        return in_width if self.c_in == self.c_out else self.c_out


def candidate_op(candidate):
    """The op name of a candidate (``mb_k3_res@24`` -> ``mb_k3_res``)."""
    return candidate.split(WIDTH_MARK, 1)[0]


def has_widths(search_space):
    return any(layer.widths for layer in search_space)


def width_choices(search_space):
    """Per layer, the input widths it can be given (sorted), then the last layer's output widths: what the
    search's latency expects over."""
    choices, widths = [], [search_space[0].c_in]
    for layer in search_space:
        choices.append(widths)
        widths = sorted({layer.output_width(name, width) for width in widths for name in layer.candidates})
    return choices + [widths]


def narrowest_arch(search_space):
    """Per layer the first candidate of the narrowest width: every layer's output is then its narrowest."""
    return [min(layer.candidates, key=lambda name, layer=layer: layer.output_width(name, 0) if layer.widths else 0)
            for layer in search_space]


def head_taps(search_space):
    """The searched layers whose outputs the head reads, as (layer index, place among the head's inputs:
    0 the last layer, 1 the 14 x 14 tap, 2 the 56 x 56 one), for the taps a searched layer gives."""
    taps = [(len(search_space) - 1, 0), (last_layer_at(search_space, TAP_SIZE), 1)]
    if STEM_EXITS[(search_space[0].c_in, search_space[0].in_size)] == 0:
        taps.append((last_layer_at(search_space, Y1_SIZE), 2))
    return [(index, place) for index, place in taps if index >= 0]


def concrete_space(arch, search_space):
    """The fixed-width layers of one architecture of a space (one op each): what its subnet is built from."""
    layers, width = [], search_space[0].c_in
    for name, layer in zip(arch, search_space):
        out = layer.output_width(name, width)
        layers.append(LayerSpec(width, out, layer.stride, layer.in_size, (candidate_op(name),)))
        width = out
    return layers


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


# Where a search space may start: at the image (the space is then the whole network), after the stem's first
# conv (16 x 56 x 56), after its PeleeNet branches (16 x 28 x 28) or after its MB block (32 x 14 x 14, the
# reference's and the default). The stem runs only as far as the first searched layer starts, so a space can
# search the stem's compute too.
STEM_EXITS = {(3, INPUT_SIZE): 0, (STEM_CHANNELS, INPUT_SIZE // 2): 1, (STEM_CHANNELS, INPUT_SIZE // 4): 2,
              (2 * STEM_CHANNELS, INPUT_SIZE // 8): 3}
Y1_SIZE = INPUT_SIZE // 2  # the head pools a 56 x 56 feature (y1): the stem's first conv, or the last searched one
FEATURE_SIZE = INPUT_SIZE // 4  # the auxiliary net reads the last 28 x 28 feature
TAP_SIZE = INPUT_SIZE // 8  # the head pools the last 14 x 14 feature (y2) ...
HEAD_INPUT_SIZE = INPUT_SIZE // 16  # ... and y1 to 7 x 7 and concatenates the last layer's output


def _check_layer(i, layer, in_widths):
    if layer.stride not in (1, 2) or layer.c_out < 1:
        raise SearchSpaceError(f"layer {i}: stride must be 1 or 2 and c_out >= 1")
    unknown = [name for name in layer.ops if name not in CANDIDATE_OPS]
    if not layer.ops or unknown or len(set(layer.ops)) != len(layer.ops):
        raise SearchSpaceError(f"layer {i}: ops must be distinct names from CANDIDATE_OPS"
                         f"{' (unknown: ' + ', '.join(unknown) + ')' if unknown else ''}")
    if layer.widths and (len(set(layer.widths)) != len(layer.widths) or min(layer.widths) < 1
                         or max(layer.widths) != layer.c_out):
        raise SearchSpaceError(f"layer {i}: widths must be distinct positive channel counts, the widest equal to "
                               f"c_out ({layer.c_out}); got {list(layer.widths)}")
    if "skip" in layer.ops and (layer.stride != 1 or layer.c_in != layer.c_out or layer.widths):
        raise SearchSpaceError(f"layer {i}: 'skip' is a residual op: it needs stride 1 and the same width in and "
                               "out (no widths of its own)")
    out_widths = {layer.output_width(name, w) for w in in_widths for name in layer.candidates}
    for name in layer.ops:
        if CANDIDATE_OPS[name].kind == "ghost" and any(w % 2 for w in out_widths):
            odd = sorted(w for w in out_widths if w % 2)
            raise SearchSpaceError(f"layer {i}: {name} splits its output in two groups, so every width must be "
                                   f"even; this layer can give {', '.join(map(str, odd))}")


def check_search_space(search_space):
    """Raise ValueError naming the layer when a search space does not fit between the fixed stem and head:
    the first layer starts at one of the stem's exits, each layer takes the previous one's output, and the
    last one ends at 7 x 7 (strides of 1 or 2 then pass 28 x 28 and 14 x 14, where the taps are)."""
    if not search_space:
        raise SearchSpaceError("a search space needs at least one layer")
    first = search_space[0]
    if (first.c_in, first.in_size) not in STEM_EXITS:
        exits = ", ".join(f"{c} x {size} x {size}" for c, size in STEM_EXITS)
        raise SearchSpaceError(f"layer 0: takes {first.c_in} x {first.in_size} x {first.in_size}, but the stem gives "
                         f"one of {exits}")
    channels, size, widths = first.c_in, first.in_size, [first.c_in]
    for i, layer in enumerate(search_space):
        if (layer.c_in, layer.in_size) != (channels, size):
            raise SearchSpaceError(f"layer {i}: takes {layer.c_in} x {layer.in_size} x {layer.in_size}, but the "
                             f"layer before gives {channels} x {size} x {size}")
        _check_layer(i, layer, widths)
        widths = sorted({layer.output_width(name, w) for w in widths for name in layer.candidates})
        channels, size = layer.c_out, layer.out_size
    if size != HEAD_INPUT_SIZE:
        raise SearchSpaceError(f"the last layer gives {size} x {size}; the head needs "
                               f"{HEAD_INPUT_SIZE} x {HEAD_INPUT_SIZE}")


def last_layer_at(search_space, size):
    """Index of the last searched layer whose output is ``size`` x ``size``, or -1 (the stem's output)."""
    return max((i for i, layer in enumerate(search_space) if layer.out_size == size), default=-1)


def tap_channels(search_space, size):
    """Channels of the feature at ``size`` that the taps read: a searched layer's, else the stem's exit there."""
    index = last_layer_at(search_space, size)
    if index >= 0:
        return search_space[index].c_out
    return next(channels for channels, exit_size in STEM_EXITS if exit_size == size)


def build_op(name, layer):
    """Instantiate candidate ``name`` for the searched layer ``layer`` (a LayerSpec)."""
    if name not in CANDIDATE_OPS:
        raise KeyError(f"unknown candidate op {name!r}; known: {', '.join(sorted(CANDIDATE_OPS))}")
    spec = CANDIDATE_OPS[name]
    if spec.kind == "conv":
        return conv_bn(layer.c_in, layer.c_out, spec.kernel, layer.stride)
    if spec.kind == "mb":
        return MBBlock(layer.c_in, layer.c_out, spec.kernel, layer.stride, layer.c_in * spec.expand,
                       layer.in_size, dilation=spec.dilation, se=spec.se)
    if spec.kind == "sep":
        return SeparableConv(layer.c_in, layer.c_out, spec.kernel, layer.stride)
    if spec.kind == "ghost":
        return GhostModule(layer.c_in, layer.c_out, spec.kernel, layer.stride)
    if spec.kind == "skip":
        return nn.Identity()
    raise SearchSpaceError(f"op {name!r} has unknown kind {spec.kind!r}")


class PeleeStem(nn.Module):
    """PeleeNet stem plus a fixed MB block: 3x112x112 -> y1 16x56x56, feature 16x28x28, 32x14x14.

    ``stages`` (0 to 3) stops it early, before anything (a whole-network space), after the first conv or the
    branches, when the searched layers start there; it then returns None for the parts it did not compute
    (the network takes them from its layers)."""

    def __init__(self, stages=3):
        super().__init__()
        c = STEM_CHANNELS
        self.stages = stages
        if stages >= 1:
            self.conv1 = conv_bn(3, c, 3, 2)
        if stages >= 2:
            self.branch_a = nn.Sequential(conv_bn(c, c, 1), conv_bn(c, c, 3, 2, groups=c), conv_bn(c, c, 1))
            self.branch_b = nn.MaxPool2d(2, 2)
            self.fuse = conv_bn(2 * c, c, 1)
        if stages >= 3:
            self.block = MBBlock(c, 2 * c, 3, 2, mid=2 * c, in_size=28)

    def forward(self, x):
        if self.stages == 0:
            return None, None, x
        y1 = self.conv1(x)
        if self.stages == 1:
            return y1, None, y1
        feature = self.fuse(torch.cat([self.branch_a(y1), self.branch_b(y1)], dim=1))
        return y1, feature, (self.block(feature) if self.stages == 3 else feature)
