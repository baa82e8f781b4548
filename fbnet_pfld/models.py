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
    DepthwisePool,
    MBBlock,
    PeleeStem,
    SeparableConv,
    build_op,
    conv_bn,
    last_layer_at,
    tap_channels,
)
from fbnet_pfld.errors import SearchSpaceError

SAMPLING_MODES = ("soft", "hard", "argmax")


class PFLDHead(nn.Module):
    """Fixed head: concat [y3, pooled y2, pooled y1] -> 1x1 -> MB+eSE -> separable -> 7x7 pool -> FC."""

    def __init__(self, c_last, c_tap, num_points):
        super().__init__()
        self.pool_y1 = DepthwisePool(STEM_CHANNELS, 9, 8, 1)  # 56x56 -> 7x7
        self.pool_y2 = DepthwisePool(c_tap, 3, 2, 1)  # 14x14 -> 7x7
        self.reduce = conv_bn(c_last + c_tap + STEM_CHANNELS, 64, 1)
        self.block = MBBlock(64, 64, 3, 1, mid=128, in_size=7, se=True)
        self.separable = SeparableConv(64, 128, 3, 1)
        self.global_pool = DepthwisePool(128, 7, 1, 0)
        self.fc = nn.Conv2d(128, 2 * num_points, 1, bias=True)

    def forward(self, y3, y2, y1):
        x = torch.cat([y3, self.pool_y2(y2), self.pool_y1(y1)], dim=1)
        x = self.global_pool(self.separable(self.block(self.reduce(x))))
        return self.fc(x).flatten(1)


class _SearchedNetwork(nn.Module):
    """Stem, a list of searched layers and the head; subclasses say what one layer computes."""

    def __init__(self, layers, num_points, search_space):
        super().__init__()
        self.num_points = num_points
        self.search_space = list(search_space)
        self.stem = PeleeStem(STEM_EXITS[(search_space[0].c_in, search_space[0].in_size)])
        self.layers = layers
        self.tap = last_layer_at(self.search_space, TAP_SIZE)
        self.feature_tap = last_layer_at(self.search_space, FEATURE_SIZE)
        self.AUX = {"c_in": tap_channels(self.search_space, FEATURE_SIZE)}  # the auxiliary net's input
        self.head = PFLDHead(self.search_space[-1].c_out, tap_channels(self.search_space, TAP_SIZE), num_points)

    def _run(self, x, run_layer):
        y1, feature, x = self.stem(x)
        y2 = x
        for i, layer in enumerate(self.layers):
            x = run_layer(i, layer, x)
            if i == self.tap:
                y2 = x
            if i == self.feature_tap:
                feature = x
        return self.head(x, y2, y1), feature


class MixedLayer(nn.Module):
    """Every candidate of one searched layer plus its architecture vector theta (uniform at start)."""

    def __init__(self, layer):
        super().__init__()
        self.op_names = tuple(layer.ops)
        self.ops = nn.ModuleList(build_op(name, layer) for name in layer.ops)
        self.theta = nn.Parameter(torch.zeros(len(layer.ops)))

    def op_weights(self, mode, temperature, arch_grad=True):
        """Weights over candidates: Gumbel-Softmax (soft), straight-through one-hot (hard), argmax."""
        theta = self.theta if arch_grad else self.theta.detach()
        if mode == "soft":
            return F.gumbel_softmax(theta, tau=temperature)
        if mode == "hard":
            return F.gumbel_softmax(theta, tau=temperature, hard=True)
        if mode == "argmax":
            return F.one_hot(theta.detach().argmax(), len(self.ops)).to(theta.dtype)
        raise SearchSpaceError(f"sampling mode must be one of {SAMPLING_MODES}, got {mode!r}")

    def forward(self, x, weights, mode):
        if mode == "soft":
            return sum(w * op(x) for w, op in zip(weights, self.ops))
        index = int(weights.argmax())
        out = self.ops[index](x)
        # Straight-through: the value is out, the gradient still reaches theta through weights.
        return out * weights[index] if mode == "hard" else out


class Supernet(_SearchedNetwork):
    """FBNet supernet: each searched layer mixes all its candidates by Gumbel-Softmax weights."""

    def __init__(self, num_points, search_space=SEARCH_SPACE):
        super().__init__(nn.ModuleList(MixedLayer(layer) for layer in search_space), num_points, search_space)

    def forward(self, x, mode="argmax", temperature=1.0, arch_grad=True, arch=None):
        """Returns landmarks, the stem feature and the list of per-layer op weights used. With ``arch``
        (op names), runs exactly that architecture (one-hot weights), e.g. the budgeted choice."""
        if arch is not None:
            weights = [F.one_hot(torch.tensor(layer.op_names.index(name)), len(layer.ops)).float()
                       for layer, name in zip(self.layers, arch)]
            mode = "argmax"
        else:
            weights = [layer.op_weights(mode, temperature, arch_grad) for layer in self.layers]
        landmarks, feature = self._run(x, lambda i, layer, h: layer(h, weights[i], mode))
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
    """The network of one architecture: a list of op names, one per searched layer."""

    def __init__(self, arch, num_points, search_space=SEARCH_SPACE):
        check_arch(arch, search_space)
        super().__init__(nn.ModuleList(build_op(name, layer) for name, layer in zip(arch, search_space)),
                         num_points, search_space)
        self.arch = list(arch)

    def forward(self, x):
        return self._run(x, lambda i, layer, h: layer(h))

    @classmethod
    def from_supernet(cls, supernet, arch=None):
        """A subnet whose stem, head and chosen candidates carry the supernet's trained weights."""
        arch = supernet.chosen_arch() if arch is None else list(arch)
        subnet = cls(arch, supernet.num_points, supernet.search_space)
        source = supernet.state_dict()
        state = {}
        for key in subnet.state_dict():
            if key.startswith("layers."):
                _, index, rest = key.split(".", 2)
                op_index = supernet.layers[int(index)].op_names.index(arch[int(index)])
                state[key] = source[f"layers.{index}.ops.{op_index}.{rest}"]
            else:
                state[key] = source[key]
        subnet.load_state_dict(state)
        return subnet


def check_arch(arch, search_space=SEARCH_SPACE):
    """Raise a clear error when ``arch`` does not name one allowed candidate per searched layer."""
    if len(arch) != len(search_space):
        raise SearchSpaceError(f"architecture has {len(arch)} ops but the search space has {len(search_space)} layers")
    for i, (name, layer) in enumerate(zip(arch, search_space)):
        if name not in layer.ops:
            raise SearchSpaceError(f"layer {i}: op {name!r} is not a candidate there; choose from "
                                   f"{', '.join(layer.ops)}")


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
        return self.fc(self.features(feature).flatten(1))


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
    77 M multiply-adds at 112x112: its first convolutions run at full resolution)."""

    AUX = {"c_in": 64, "width": 128, "last_kernel": 3}

    def __init__(self, num_points):
        super().__init__()
        self.num_points = num_points
        self.stem = conv_bn(3, 16, 3, 1)
        blocks_a = [(16, 32, 1), (32, 32, 2), (32, 32, 1), (32, 64, 2), (64, 64, 1), (64, 64, 1), (64, 64, 1)]
        self.stage_a = nn.Sequential(*(separable(*spec) for spec in blocks_a))  # 64x28x28
        blocks_b = [(64, 128, 2), (128, 128, 1), (128, 128, 1), (128, 256, 1), (256, 256, 1)]
        self.stage_b = nn.Sequential(*(separable(*spec) for spec in blocks_b))  # 256x14x14
        self.extra = nn.Sequential(
            nn.Conv2d(256, 64, 1), nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, 3, 2, 1, groups=64), nn.ReLU(inplace=True), nn.Conv2d(64, 128, 1))  # 128x7x7
        self.tap_a = nn.Conv2d(64, 16, 3, 1, 1)
        self.tap_b = nn.Conv2d(256, 64, 1)
        self.fc = nn.Linear(16 + 64 + 128, 2 * num_points)

    def forward(self, x):
        feature = self.stage_a(self.stem(x))
        b = self.stage_b(feature)
        pooled = [F.adaptive_avg_pool2d(t, 1).flatten(1) for t in (self.tap_a(feature), self.tap_b(b), self.extra(b))]
        return self.fc(torch.cat(pooled, dim=1)), feature


def auxiliary_net_for(network):
    """The auxiliary net that fits ``network``'s 28x28 feature (its AUX widths: a searched network's follow
    its search space)."""
    return AuxiliaryNet(**getattr(network, "AUX", {}))


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


def _flop_counter(model, input_shape):
    """torch's FLOP counter after one eval-mode forward pass (it counts 2 FLOPs per multiply-add)."""
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(input_shape))
    model.train(was_training)
    return counter


def count_macs(model, input_shape=(1, 3, INPUT_SIZE, INPUT_SIZE)):
    """Multiply-adds of one forward pass."""
    return _flop_counter(model, input_shape).get_total_flops() // 2


def macs_by_part(model, input_shape=(1, 3, INPUT_SIZE, INPUT_SIZE)):
    """Multiply-adds of each direct child module (a subnet's stem, searched layers and head), in order: where
    a network's compute goes, and so how much of it a search controls."""
    counts = _flop_counter(model, input_shape).get_flop_counts()

    def flops(module, key):  # a container that is never called (a ModuleList) has no entry: its children do
        if key in counts:
            return sum(counts[key].values())
        return sum(flops(child, f"{key}.{name}") for name, child in module.named_children())

    root = type(model).__name__
    return {name: flops(child, f"{root}.{name}") // 2 for name, child in model.named_children()}


def build_landmark_network(model_type, num_points, arch=None, search_space=None):
    """A landmark network by name: ``subnet`` (needs ``arch``) or one of the hand-designed networks."""
    if model_type == "subnet":
        if arch is None:
            raise SearchSpaceError("a subnet needs an architecture")
        return Subnet(arch, num_points, search_space or SEARCH_SPACE)
    if model_type not in HAND_DESIGNED:
        raise SearchSpaceError(f"unknown model {model_type!r}; known: subnet, {', '.join(HAND_DESIGNED)}")
    return HAND_DESIGNED[model_type](num_points)


HAND_DESIGNED = {"pfld_lite": PFLDLite, "baseline": Baseline}
LANDMARK_MODELS = ("subnet", *HAND_DESIGNED)
