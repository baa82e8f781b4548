"""Narrower networks inside the widest one: how a supernet whose layers choose their widths shares weights.

Every op of such a supernet holds its weights at the widest input and output; a narrower choice uses the
first channels of each weight (FBNetV2's channel masking, Once-for-All's weight sharing), so the subnet
that a search picks starts from exactly the weights it was trained with in the supernet. The one place
channels are not a prefix is the head's 1x1 conv over [last layer, pooled y2, pooled y1], concatenated:
``head_input_index`` says which of its input columns a narrower head keeps.
"""

import torch
from torch.func import functional_call


def prefix_slice(tensor, shape):
    """The first ``shape[d]`` entries of ``tensor`` along every dimension d (a view: BatchNorm's running
    statistics of a narrower choice update the widest buffer in place)."""
    if tuple(tensor.shape) == tuple(shape):
        return tensor
    return tensor[tuple(slice(0, n) for n in shape)]


def head_input_index(widths, widest):
    """Input columns of the head's first conv for concatenated parts of ``widths`` out of ``widest``."""
    columns, offset = [], 0
    for width, full in zip(widths, widest):
        columns.append(torch.arange(offset, offset + width))
        offset += full
    return torch.cat(columns)


def sliced_tensors(narrow, wide_tensors, special=None):
    """Parameters and buffers for module ``narrow`` taken from a wider twin's (``name -> tensor``):
    prefixes, except where ``special(name, tensor, shape)`` returns a tensor."""
    shapes = {**{name: p.shape for name, p in narrow.named_parameters()},
              **{name: b.shape for name, b in narrow.named_buffers()}}
    result = {}
    for name, shape in shapes.items():
        tensor = wide_tensors[name]
        picked = special(name, tensor, shape) if special is not None else None
        result[name] = prefix_slice(tensor, shape) if picked is None else picked
    return result


def run_narrow(narrow, wide, inputs, special=None):
    """Run ``narrow`` (a module of the narrow shapes, whose own weights are never used) with ``wide``'s weights
    cut to fit: gradients reach ``wide``'s parameters, BatchNorm statistics its buffers, updated as ``wide``'s
    own BatchNorm layers say (their momentum: None re-estimates statistics as a plain average)."""
    narrow.train(wide.training)
    for narrow_norm, wide_norm in zip(batch_norms(narrow), batch_norms(wide)):
        narrow_norm.momentum = wide_norm.momentum
    tensors = {**dict(wide.named_parameters()), **dict(wide.named_buffers())}
    return functional_call(narrow, sliced_tensors(narrow, tensors, special), inputs)


def batch_norms(module):
    """``module``'s BatchNorm layers, in order (a narrow twin lists its own in the same order as the wide)."""
    return [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


def copy_narrow(narrow, wide_state, special=None):
    """Load ``narrow`` with a wider twin's state dict cut to fit (copies: the result is independent)."""
    tensors = sliced_tensors(narrow, wide_state, special)
    narrow.load_state_dict({name: tensor.detach().clone() for name, tensor in tensors.items()})
    return narrow
