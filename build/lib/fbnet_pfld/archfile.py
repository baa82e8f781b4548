"""arch.json, the searched architecture's file, in one place: what the search writes, what a user edits and
what the fine-tune, the sweep and the tools read. ``{"arch": [op per layer], "search_space": [...], ...}``;
a plain JSON list of op names is accepted too (the default space). Written atomically: a kill mid-write
leaves the previous file.
"""

from fbnet_pfld.errors import DataError
from fbnet_pfld.jsonfile import read_json, write_json
from fbnet_pfld.space import search_space_from_list, search_space_to_list


def write_arch(path, arch, search_space=None, **details):
    """Write an architecture (and its search space, and any JSON-ready ``details``) atomically."""
    data = {"arch": list(arch), **details}
    if search_space is not None:
        data["search_space"] = search_space_to_list(search_space)
    return write_json(data, path)


def read_arch(path):
    """(op names, search space or None) of an arch.json; errors name the file. Older files and hand-written
    ``{"arch": [...]}`` or ``[...]`` have no space: they mean the default one."""
    data = read_json(path, DataError, "architecture")
    arch = data.get("arch") if isinstance(data, dict) else data
    if not isinstance(arch, list) or not arch or not all(isinstance(name, str) for name in arch):
        raise DataError(f"{path}: expected a list of op names or {{\"arch\": [...]}}")
    if not isinstance(data, dict) or data.get("search_space") is None:
        return arch, None
    try:
        return arch, search_space_from_list(data["search_space"])
    except ValueError as error:
        raise DataError(f"{path}: search_space: {error}") from None
