"""Reading and writing search spaces, in one place. A space is a list of ``blocks.LayerSpec`` (input
channels and size, output channels, stride, candidate ops); on disk, a JSON list of such dicts, alone or
under "search_space" in a lookup table, an arch.json, a checkpoint or export-ops' manifest. A layer's key
in a lookup table is its shape (``layer_key``), so two layers of one shape share their measured costs.
"""

from fbnet_pfld.blocks import LayerSpec, check_search_space
from fbnet_pfld.errors import SearchSpaceError
from fbnet_pfld.jsonfile import read_json


def layer_key(layer):
    return {"input_shape": [1, layer.c_in, layer.in_size, layer.in_size], "c_out": layer.c_out,
            "stride": layer.stride}


def search_space_to_list(search_space):
    """The search space as JSON-able dicts, stored in checkpoints so they outlive edits of blocks.py."""
    lists = [dict(layer._asdict(), ops=list(layer.ops), widths=list(layer.widths)) for layer in search_space]
    return [{key: value for key, value in layer.items() if key != "widths" or value} for layer in lists]


def search_space_from_list(layers):
    """LayerSpecs from JSON-able dicts (a table's, a checkpoint's or a user's file); ValueError naming the
    layer when one is malformed or the space does not fit between the stem and the head."""
    if not isinstance(layers, list):
        raise SearchSpaceError("a search space is a list of layers")
    space = []
    numeric = LayerSpec._fields[:4]
    for i, layer in enumerate(layers):
        numbers = [layer.get(key) for key in numeric] if isinstance(layer, dict) else []
        widths = layer.get("widths", []) if isinstance(layer, dict) else None
        if not isinstance(layer, dict) or not set(numeric) | {"ops"} <= set(layer) <= set(LayerSpec._fields) or \
                not all(_is_int(v) for v in numbers) or not isinstance(widths, list) or \
                not all(_is_int(w) for w in widths) or \
                not isinstance(layer["ops"], list) or not all(isinstance(name, str) for name in layer["ops"]):
            raise SearchSpaceError(f"layer {i}: needs integers {', '.join(numeric)}, a list of op names 'ops' and "
                                   "optionally a list of integer 'widths', nothing else")
        space.append(LayerSpec(**dict(layer, ops=tuple(layer["ops"]), widths=tuple(widths))))
    check_search_space(space)
    return space


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def read_search_space(path):
    """The search space of a JSON file: a list of layers, or any object holding one under "search_space"
    (a lookup table, an arch.json, export-ops' manifest). Errors name the file."""
    data = read_json(path, SearchSpaceError, "search space")
    if isinstance(data, dict):
        if "search_space" not in data:
            raise SearchSpaceError(f"{path}: no \"search_space\" in this object")
        data = data["search_space"]
    try:
        return search_space_from_list(data)
    except ValueError as error:
        raise SearchSpaceError(f"{path}: {error}") from None
