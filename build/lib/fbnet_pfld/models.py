"""Networks: the FBNet supernet over SEARCH_SPACE, a chosen subnet, the auxiliary angle net, the baseline.

Every landmark network returns ``(landmarks [N, 2K], feature [N, C, 28, 28])``; the feature feeds
the auxiliary net during training and is dropped at export. The supernet also returns the per-layer
op weights it used, which the latency term of the search needs.
"""


import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from fbnet_pfld.blocks import (
    FEATURE_SIZE,
    INPUT_SIZE,
    SEARCH_SPACE,
    STEM_CHANNELS,
    STEM_EXITS,
    TAP_SIZE,
    Y1_SIZE,
    DepthwisePool,
    MBBlock,
    PeleeStem,
    SeparableConv,
    build_op,
    candidate_op,
    concrete_space,
    conv_bn,
    has_widths,
    last_layer_at,
    tap_channels,
)
from fbnet_pfld.errors import SearchSpaceError
from fbnet_pfld.hand_designed import Baseline, PFLDLite
from fbnet_pfld.slicing import copy_narrow, head_input_index, run_narrow

SAMPLING_MODES = ("soft", "hard", "argmax")


class PFLDHead(nn.Module):
    """Fixed head: concat [y3, pooled y2, pooled y1] -> 1x1 -> MB+eSE -> separable -> 7x7 pool -> FC."""

    def __init__(self, c_last, c_tap, num_points, c_y1=STEM_CHANNELS):
        super().__init__()
        self.widths = (c_last, c_tap, c_y1)  # of its three inputs, in the order they are concatenated
        self.pool_y1 = DepthwisePool(c_y1, 9, 8, 1)  # 56x56 -> 7x7
        self.pool_y2 = DepthwisePool(c_tap, 3, 2, 1)  # 14x14 -> 7x7
        self.reduce = conv_bn(c_last + c_tap + c_y1, 64, 1)
        self.block = MBBlock(64, 64, 3, 1, mid=128, in_size=7, se=True)
        self.separable = SeparableConv(64, 128, 3, 1)
        self.global_pool = DepthwisePool(128, 7, 1, 0)
        self.fc = nn.Conv2d(128, 2 * num_points, 1, bias=True)

    def forward(self, y3, y2, y1):
        x = torch.cat([y3, self.pool_y2(y2), self.pool_y1(y1)], dim=1)
        x = self.global_pool(self.separable(self.block(self.reduce(x))))
        return self.fc(x).flatten(1)


class _SearchedNetwork(nn.Module):
    """Stem, a list of searched layers and the head; subclasses say what one layer computes.

    ``built_space`` is the fixed-width space the modules are built for (a subnet's own widths, or the
    widest of a space whose layers choose widths); ``search_space`` is what the network is saved with."""

    def __init__(self, layers, num_points, search_space, built_space=None):
        super().__init__()
        built = list(built_space or search_space)
        self.num_points = num_points
        self.search_space = list(search_space)
        self.stem = PeleeStem(STEM_EXITS[(built[0].c_in, built[0].in_size)])
        self.layers = layers
        self.tap = last_layer_at(built, TAP_SIZE)
        self.feature_tap = last_layer_at(built, FEATURE_SIZE)
        self.y1_tap = last_layer_at(built, Y1_SIZE) if self.stem.stages == 0 else -1
        self.AUX = {"c_in": tap_channels(built, FEATURE_SIZE)}  # the auxiliary net's input
        c_y1 = built[self.y1_tap].c_out if self.y1_tap >= 0 else STEM_CHANNELS
        self.head = PFLDHead(built[-1].c_out, tap_channels(built, TAP_SIZE), num_points, c_y1)

    def _run(self, x, run_layer, run_head=None):
        y1, feature, x = self.stem(x)
        y2 = x
        for i, layer in enumerate(self.layers):
            x = run_layer(i, layer, x)
            if i == self.tap:
                y2 = x
            if i == self.feature_tap:
                feature = x
            if i == self.y1_tap:
                y1 = x
        return (run_head or self.head)(x, y2, y1), feature


class MixedLayer(nn.Module):
    """Every candidate of one searched layer plus its architecture vector theta (uniform at start).

    In a space whose layers choose widths, the layer holds one module per op at the widest shapes and
    runs the sampled candidate at its widths with the first channels of those weights (slicing.py)."""

    def __init__(self, layer, sliced=False):
        super().__init__()
        self.layer = layer
        self.op_names = tuple(layer.candidates)
        self.sliced = sliced
        self.ops = nn.ModuleList(build_op(name, layer) for name in (layer.ops if sliced else layer.candidates))
        self.theta = nn.Parameter(torch.zeros(len(self.op_names)))
        self._narrow = {}  # (op, input width, output width) -> a module of those shapes, for its structure only

    def op_weights(self, mode, temperature, arch_grad=True):
        """Weights over candidates: Gumbel-Softmax (soft), straight-through one-hot (hard), argmax."""
        theta = self.theta if arch_grad else self.theta.detach()
        if mode == "soft":
            return F.gumbel_softmax(theta, tau=temperature)
        if mode == "hard":
            return F.gumbel_softmax(theta, tau=temperature, hard=True)
        if mode == "argmax":
            return F.one_hot(theta.detach().argmax(), len(self.op_names)).to(theta.dtype)
        raise SearchSpaceError(f"sampling mode must be one of {SAMPLING_MODES}, got {mode!r}")

    def forward(self, x, weights, mode):
        if mode == "soft":
            if self.sliced:
                raise SearchSpaceError("a space whose layers choose widths runs one candidate at a time: sample "
                                       "'hard', not 'soft'")
            return sum(w * op(x) for w, op in zip(weights, self.ops))
        index = int(weights.argmax())
        out = self._run_candidate(index, x)
        # Straight-through: the value is out, the gradient still reaches theta through weights.
        return out * weights[index] if mode == "hard" else out

    def _run_candidate(self, index, x):
        if not self.sliced:
            return self.ops[index](x)
        name = self.op_names[index]
        op = candidate_op(name)
        wide = self.ops[self.layer.ops.index(op)]
        shape = (op, x.shape[1], self.layer.output_width(name, x.shape[1]))
        if shape[1:] == (self.layer.c_in, self.layer.c_out):
            return wide(x)
        if shape not in self._narrow:
            narrow_layer = self.layer._replace(c_in=shape[1], c_out=shape[2], widths=())
            self._narrow[shape] = build_op(op, narrow_layer).to(x.device)
        return run_narrow(self._narrow[shape], wide, (x,))


class Supernet(_SearchedNetwork):
    """FBNet supernet: each searched layer mixes all its candidates by Gumbel-Softmax weights."""

    def __init__(self, num_points, search_space=SEARCH_SPACE):
        sliced = has_widths(search_space)
        super().__init__(nn.ModuleList(MixedLayer(layer, sliced) for layer in search_space), num_points, search_space)
        self._narrow_heads = {}

    def _head(self, y3, y2, y1):
        """The head at the widths it is given: the widest runs as is, a narrower one on the widest's weights."""
        widths = (y3.shape[1], y2.shape[1], y1.shape[1])
        if widths == self.head.widths:
            return self.head(y3, y2, y1)
        if widths not in self._narrow_heads:
            self._narrow_heads[widths] = PFLDHead(widths[0], widths[1], self.num_points, widths[2]).to(y3.device)
        return run_narrow(self._narrow_heads[widths], self.head, (y3, y2, y1),
                          head_special(widths, self.head.widths))

    def forward(self, x, mode="argmax", temperature=1.0, arch_grad=True, arch=None):
        """Returns landmarks, the stem feature and the list of per-layer op weights used. With ``arch``
        (op names), runs exactly that architecture (one-hot weights), e.g. the budgeted choice."""
        if arch is not None:
            weights = [F.one_hot(torch.tensor(layer.op_names.index(name)), len(layer.op_names)).float()
                       for layer, name in zip(self.layers, arch)]
            mode = "argmax"
        else:
            weights = [layer.op_weights(mode, temperature, arch_grad) for layer in self.layers]
        landmarks, feature = self._run(x, lambda i, layer, h: layer(h, weights[i], mode), self._head)
        return landmarks, feature, weights

    def arch_parameters(self):
        return [layer.theta for layer in self.layers]

    def weight_parameters(self):
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def op_probabilities(self):
        """Softmax of theta per layer, as lists of floats (for logs and plots)."""
        return [F.softmax(layer.theta.detach(), dim=0).tolist() for layer in self.layers]

    def log_probabilities(self):
        """log softmax(theta) per layer, as lists of floats (for the budgeted choice)."""
        return [F.log_softmax(layer.theta.detach().double(), dim=0).tolist() for layer in self.layers]

    def compile_units(self):
        """What torch.compile compiles one by one: stem, head and every candidate (the per-step choice
        of candidate stays in Python, so no graph is recompiled when the sampled op changes)."""
        return [self.stem, self.head, *(op for layer in self.layers for op in layer.ops)]

    def chosen_arch(self):
        """The architecture the search has chosen: the argmax op name of every layer."""
        return [layer.op_names[int(layer.theta.argmax())] for layer in self.layers]


class Subnet(_SearchedNetwork):
    """The network of one architecture: a list of candidate names, one per searched layer."""

    def __init__(self, arch, num_points, search_space=SEARCH_SPACE):
        check_arch(arch, search_space)
        built = concrete_space(arch, search_space)
        super().__init__(nn.ModuleList(build_op(layer.ops[0], layer) for layer in built), num_points, search_space,
                         built)
        self.arch = list(arch)

    def forward(self, x):
        return self._run(x, lambda i, layer, h: layer(h))

    @classmethod
    def from_supernet(cls, supernet, arch=None):
        """A subnet whose stem, head and chosen candidates carry the supernet's trained weights (at a narrower
        width, the first channels of the widest)."""
        arch = supernet.chosen_arch() if arch is None else list(arch)
        subnet = cls(arch, supernet.num_points, supernet.search_space)
        source = supernet.state_dict()
        for i, (name, layer) in enumerate(zip(arch, supernet.layers)):
            index = layer.op_names.index(name)
            if layer.sliced:
                index = layer.layer.ops.index(candidate_op(name))
            prefix = f"layers.{i}.ops.{index}."
            copy_narrow(subnet.layers[i], {k[len(prefix):]: v for k, v in source.items() if k.startswith(prefix)})
        copy_narrow(subnet.stem, {k[5:]: v for k, v in source.items() if k.startswith("stem.")})
        copy_narrow(subnet.head, {k[5:]: v for k, v in source.items() if k.startswith("head.")},
                    head_special(subnet.head.widths, supernet.head.widths))
        return subnet


def head_special(widths, widest):
    """How a narrower head takes its first conv's weights from the widest (the columns of its three inputs)."""
    if tuple(widths) == tuple(widest):
        return None
    columns = head_input_index(widths, widest)

    def pick(name, tensor, shape):
        return tensor[:, columns.to(tensor.device)] if name == "reduce.0.weight" else None
    return pick


def check_arch(arch, search_space=SEARCH_SPACE):
    """Raise a clear error when ``arch`` does not name one allowed candidate per searched layer."""
    if len(arch) != len(search_space):
        raise SearchSpaceError(f"architecture has {len(arch)} ops but the search space has {len(search_space)} layers")
    for i, (name, layer) in enumerate(zip(arch, search_space)):
        if name not in layer.candidates:
            raise SearchSpaceError(f"layer {i}: op {name!r} is not a candidate there; choose from "
                                   f"{', '.join(layer.candidates)}")


class AuxiliaryNet(nn.Module):
    """PFLD's auxiliary net: head pose (pitch, yaw, roll in degrees) from a 28x28 feature of the network.

    The searched networks feed it their 16-channel stem feature (the reference's widths: 64, last
    kernel 7 with padding 1); ``pfld_lite`` its 64-channel feature A (PFLD's widths: 128, kernel 3)."""

    def __init__(self, c_in=STEM_CHANNELS, width=64, last_kernel=7):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(c_in, width, 3, 2),
            conv_bn(width, width, 3),
            conv_bn(width, 32, 3, 2),
            conv_bn(32, width, last_kernel, padding=1),
            nn.AdaptiveMaxPool2d(1),
        )
        self.fc = nn.Sequential(nn.Linear(width, 32), nn.Linear(32, 3))

    def forward(self, feature):
        first = self.features[0][0]
        if feature.shape[1] < first.in_channels:  # a narrower feature of a supernet that chooses widths
            feature = F.conv2d(feature, first.weight[:, :feature.shape[1]], None, first.stride, first.padding)
            return self.fc(self.features[1:](self.features[0][1:](feature)).flatten(1))
        return self.fc(self.features(feature).flatten(1))


def auxiliary_net_for(network):
    """The auxiliary net that fits ``network``'s 28x28 feature (its AUX widths: a searched network's follow
    its search space)."""
    return AuxiliaryNet(**getattr(network, "AUX", {}))


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


def _flop_counter(model, *inputs):
    """torch's FLOP counter after one eval-mode forward pass (it counts 2 FLOPs per multiply-add)."""
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(*inputs)
    model.train(was_training)
    return counter


def count_macs(model, input_shape=(1, 3, INPUT_SIZE, INPUT_SIZE), inputs=None):
    """Multiply-adds of one forward pass (of ``inputs`` when given, else of zeros of ``input_shape``)."""
    return _flop_counter(model, *(inputs or (torch.zeros(input_shape),))).get_total_flops() // 2


def macs_by_part(model, input_shape=(1, 3, INPUT_SIZE, INPUT_SIZE)):
    """Multiply-adds of each direct child module (a subnet's stem, searched layers and head), in order: where
    a network's compute goes, and so how much of it a search controls."""
    counts = _flop_counter(model, torch.zeros(input_shape)).get_flop_counts()

    def flops(module, key):  # a container that is never called (a ModuleList) has no entry: its children do
        if key in counts:
            return sum(counts[key].values())
        return sum(flops(child, f"{key}.{name}") for name, child in module.named_children())

    root = type(model).__name__
    return {name: flops(child, f"{root}.{name}") // 2 for name, child in model.named_children()}


def build_landmark_network(model_type, num_points, arch=None, search_space=None):
    """A landmark network by name: ``subnet`` (needs ``arch``), one of the hand-designed networks, or
    ``pfld_lite@W``, pfld_lite at width multiplier W."""
    if model_type == "subnet":
        if arch is None:
            raise SearchSpaceError("a subnet needs an architecture")
        return Subnet(arch, num_points, search_space or SEARCH_SPACE)
    name, width = parse_model_name(model_type)
    return HAND_DESIGNED[name](num_points) if width is None else PFLDLite(num_points, width)


def parse_model_name(model_type):
    """(network, width multiplier or None) of a model name; SearchSpaceError naming the known ones."""
    name, _, width = str(model_type).partition("@")
    try:
        multiplier = float(width) if width else None
    except ValueError:
        multiplier = -1.0
    if name not in HAND_DESIGNED or (width and (name != "pfld_lite" or not 0.05 <= multiplier <= 4)):
        raise SearchSpaceError(f"unknown model {model_type!r}; known: subnet, {', '.join(HAND_DESIGNED)}, and "
                               "pfld_lite@W for a width multiplier W in [0.05, 4] (pfld_lite@0.5)")
    return name, multiplier


HAND_DESIGNED = {"pfld_lite": PFLDLite, "baseline": Baseline}
LANDMARK_MODELS = ("subnet", *HAND_DESIGNED)
