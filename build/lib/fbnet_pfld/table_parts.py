"""What a latency table is built from: the stem, the head at its narrowest inputs and every wider head a
layer's width choice brings, and every candidate at every input width its layer can be given, each as a
module with example inputs that the builders count or time.
"""

import torch
from torch import nn

from fbnet_pfld.blocks import (
    INPUT_SIZE,
    SEARCH_SPACE,
    TAP_SIZE,
    Y1_SIZE,
    LayerSpec,
    build_op,
    candidate_op,
    head_taps,
    narrowest_arch,
    width_choices,
)
from fbnet_pfld.models import PFLDHead, Subnet

DEFAULT_NUM_POINTS = 68  # the shipped data's; the head's FC is the only part that depends on it


class _Stem(nn.Module):
    """The deployed stem: image -> (y1, stem output); the auxiliary feature is not part of it."""

    def __init__(self, subnet):
        super().__init__()
        self.stem = subnet.stem

    def forward(self, x):
        y1, _, out = self.stem(x)
        return y1, out


def _head_part(widths, num_points):
    """The head at input widths (last layer, 14 x 14 tap, 56 x 56 tap) with example inputs."""
    sizes = (INPUT_SIZE // 16, TAP_SIZE, Y1_SIZE)
    inputs = tuple(torch.rand(1, width, size, size) for width, size in zip(widths, sizes))
    return PFLDHead(widths[0], widths[1], num_points, widths[2]).eval(), inputs


def fixed_parts(num_points=DEFAULT_NUM_POINTS, search_space=SEARCH_SPACE):
    """(name, module, example inputs) of the stem and of the head at its narrowest inputs, which every
    subnet has (a wider head's extra cost is its tap layers', ``head_variants``)."""
    subnet = Subnet(narrowest_arch(search_space), num_points, search_space).eval()
    head, inputs = _head_part(subnet.head.widths, num_points)
    return [("fixed_stem", _Stem(subnet), (torch.rand(1, 3, INPUT_SIZE, INPUT_SIZE),)),
            ("fixed_head", head, inputs)]


def head_variants(num_points=DEFAULT_NUM_POINTS, search_space=SEARCH_SPACE):
    """(tap layer, its output width, head module, inputs) for every wider output a head-feeding layer can
    give, the other inputs narrowest: its cost minus the narrowest head's is charged to that layer."""
    narrow = Subnet(narrowest_arch(search_space), num_points, search_space).head.widths
    outputs = width_choices(search_space)
    for index, place in head_taps(search_space):
        for width in outputs[index + 1][1:]:
            widths = tuple(width if k == place else w for k, w in enumerate(narrow))
            yield (index, width, *_head_part(widths, num_points))


def charge_head(costs, increments, search_space):
    """Add each wider head's extra cost (``increments[(layer, width)]``) to the candidates of that layer that
    give that width, so the table stays a sum over layers of costs that follow input and output widths."""
    for (index, width), extra in increments.items():
        layer = search_space[index]
        for (in_width, name), stats in costs[index].items():
            if layer.output_width(name, in_width) == width:
                costs[index][(in_width, name)] = {k: v + extra if k in ("median", "p10", "p90") else v
                                                  for k, v in stats.items()}


def candidate_parts(search_space=SEARCH_SPACE):
    """(layer index, input width, candidate, module, example input) of every candidate at every input width
    the space can give its layer."""
    for i, (layer, widths) in enumerate(zip(search_space, width_choices(search_space))):
        for width in widths:
            for name in layer.candidates:
                narrow = LayerSpec(width, layer.output_width(name, width), layer.stride, layer.in_size,
                                   (candidate_op(name),))
                x = torch.rand(1, width, layer.in_size, layer.in_size)
                yield i, width, name, build_op(candidate_op(name), narrow).eval(), (x,)


def all_parts(num_points, search_space):
    """The fixed parts (layer None) and every candidate, as (layer, input width, name, module, inputs)."""
    fixed = [(None, None, name, module, inputs) for name, module, inputs in fixed_parts(num_points, search_space)]
    return fixed + list(candidate_parts(search_space))
