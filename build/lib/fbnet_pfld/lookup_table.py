"""Per-layer latency lookup table: the JSON file that makes the search latency-aware.

A table holds, for every searched layer of its search space and every candidate op, the op's cost on one
device (median with p10/p90 and the number of runs), plus the cost of the fixed stem and head, so
that ``fixed + sum of the chosen ops`` predicts a whole model. Where the layer before chooses its width,
a candidate has one cost per width it can be given (``{"by_input": {"16": stats, "24": stats}}``), so each
layer's cost follows its input and output widths. Loading checks the table against the
search space and names whatever is missing: there is no silent default. Builders, device export/import
and ``check`` live in table_builders.py; the command line is the project root's lookup_table.py.
"""

import math
from pathlib import Path

import torch

from fbnet_pfld.blocks import SEARCH_SPACE, width_choices
from fbnet_pfld.errors import LookupTableError
from fbnet_pfld.jsonfile import read_json, write_json
from fbnet_pfld.space import layer_key, search_space_from_list

UNITS = ("ms", "MMAC")  # latency in milliseconds, or multiply-adds (millions) as a proxy


class LookupTable:
    """A validated table; ``expected_latency`` is the differentiable cost the search minimises."""

    def __init__(self, data, search_space=None, source="<table>"):
        """``search_space`` defaults to the one the table names (its "search_space"), else blocks.SEARCH_SPACE."""
        search_space = table_search_space(data, source) if search_space is None else search_space
        validate(data, search_space, source)
        self.data = data
        self.search_space = list(search_space)
        self.source = source
        self.meta = data["meta"]
        self.unit = self.meta["unit"]
        self.fixed = float(data["fixed"]["median"])
        self.in_widths = width_choices(self.search_space)
        self.costs = [torch.tensor([[float(_entry(entry["ops"][name], width, len(widths) > 1)["median"])
                                     for name in layer.candidates] for width in widths], dtype=torch.float64)
                      for entry, layer, widths in zip(data["layers"], search_space, self.in_widths)]
        # where each (input width, candidate) leads: the index of the next layer's input width
        self.out_index = []
        for i, (layer, widths) in enumerate(zip(self.search_space, self.in_widths)):
            following = self.in_widths[i + 1] if i + 1 < len(self.in_widths) else None
            self.out_index.append(torch.tensor([[following.index(layer.output_width(name, w)) if following else 0
                                                 for name in layer.candidates] for w in widths]))

    @classmethod
    def load(cls, path, search_space=None):
        path = Path(path)
        if not path.is_file():
            raise LookupTableError(f"{path}: no such lookup table")
        return cls(read_json(path, LookupTableError, "lookup table"), search_space, str(path))

    def save(self, path):
        write_json(self.data, path)

    def op_cost(self, layer_index, name, in_width=None):
        """Cost of candidate ``name`` at a layer, given ``in_width`` channels (needed where that varies)."""
        widths = self.in_widths[layer_index]
        row = widths.index(widths[0] if in_width is None and len(widths) == 1 else in_width)
        return float(self.costs[layer_index][row, self.search_space[layer_index].candidates.index(name)])

    def predict(self, arch):
        """Predicted cost of a whole model with candidates ``arch``."""
        total, width = self.fixed, self.search_space[0].c_in
        for i, (name, layer) in enumerate(zip(arch, self.search_space)):
            total += self.op_cost(i, name, width)
            width = layer.output_width(name, width)
        return total

    def expected_latency(self, weights):
        """fixed + sum over layers of the expected cost under the per-layer candidate weights, each layer's
        input width weighted by how likely the layers before give it: exact for independently sampled
        layers, differentiable in every layer's weights, and ``predict`` of the chosen ops under one-hot ones."""
        total = self.fixed
        given = None  # probabilities of the current layer's input widths
        for w, cost, index in zip(weights, self.costs, self.out_index):
            cost = cost.to(w.device, w.dtype)
            given = torch.ones(1, device=w.device, dtype=w.dtype) if given is None else given
            total = total + given @ cost @ w
            joint = (given[:, None] * w[None, :]).flatten()
            given = torch.zeros(int(index.max()) + 1, device=w.device, dtype=w.dtype).index_add(
                0, index.flatten().to(w.device), joint)
        return total

    def _extreme(self, pick):
        """(cost, arch) of the cheapest (``pick`` = min) or costliest (max) architecture, by a pass over the
        layers that keeps the best partial architecture for each width it ends in."""
        best = {self.search_space[0].c_in: (self.fixed, [])}
        for i, layer in enumerate(self.search_space):
            reached = {}
            for width, (cost, arch) in best.items():
                for name in layer.candidates:
                    out, total = layer.output_width(name, width), cost + self.op_cost(i, name, width)
                    if out not in reached or pick(total, reached[out][0]) != reached[out][0]:
                        reached[out] = (total, arch + [name])
            best = reached
        return pick(best.values(), key=lambda item: item[0])

    def min_latency(self):
        """Cost of the cheapest architecture."""
        return self._extreme(min)[0]

    def max_latency(self):
        """Cost of the costliest architecture."""
        return self._extreme(max)[0]

    def reference_latency(self, name="pfld_lite"):
        """A hand-designed network's cost in this table's unit (``meta.references``: timed with the table, or
        its multiply-adds in a FLOPs table), so a budget can be a ratio to it that means the same anywhere."""
        references = self.meta.get("references") or {}
        value = references.get(name) if isinstance(references, dict) else None
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
            raise LookupTableError(f"{self.source}: no {name} latency was measured with this table; give "
                                   f"--target_latency in {self.unit}, or add one (lookup_table.py add-reference)")
        return float(value)

    def cheapest_arch(self):
        return self._extreme(min)[1]

    def costliest_arch(self):
        return self._extreme(max)[1]


def _entry(op_entry, width, by_input):
    """An op's stats given ``width`` input channels: its own, or its "by_input" entry for that width."""
    return op_entry["by_input"][str(width)] if by_input else op_entry


def table_search_space(data, source):
    """The search space a table was built for: the table is the space's definition, so a table built for an
    edited space (``build --search_space``) searches that space. Older tables without one use SEARCH_SPACE."""
    if not isinstance(data, dict) or "search_space" not in data:
        return SEARCH_SPACE
    try:
        return search_space_from_list(data["search_space"])
    except ValueError as error:
        raise LookupTableError(f"{source}: search_space: {error}") from None


def validate(data, search_space, source):
    """Check format, unit and that every layer and candidate of ``search_space`` is there."""
    def fail(message):
        raise LookupTableError(f"{source}: {message}")

    if not isinstance(data, dict) or not {"meta", "fixed", "layers"} <= set(data):
        fail("a table needs 'meta', 'fixed' and 'layers'")
    if not isinstance(data["meta"], dict) or not isinstance(data["layers"], list) or \
            not all(isinstance(entry, dict) and isinstance(entry.get("ops", {}), dict) for entry in data["layers"]):
        fail("'meta' must be an object, 'layers' a list of objects with 'ops' objects")
    unit = data["meta"].get("unit")
    if unit not in UNITS:
        fail(f"unit {unit!r} is not one of {', '.join(UNITS)}")
    if not _is_cost(data["fixed"]):
        fail("'fixed' needs a finite numeric 'median' >= 0 (the stem and head)")
    layers = data["layers"]
    if len(layers) != len(search_space):
        fail(f"{len(layers)} layers, but the search space has {len(search_space)}")
    for i, (entry, layer, in_widths) in enumerate(zip(layers, search_space, width_choices(search_space))):
        expected = layer_key(layer)
        for key, value in expected.items():
            got = entry.get(key)
            if key == "input_shape" and isinstance(got, list):
                got, value = got[1:], value[1:]  # the batch size lives in meta
            if got != value:
                fail(f"layer {i}: {key} is {entry.get(key)}, the search space has {expected[key]}")
        missing = [name for name in layer.candidates if name not in entry.get("ops", {})]
        if missing:
            fail(f"layer {i}: no entry for op{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        _validate_costs(entry["ops"], layer, in_widths, i, fail)


def _validate_costs(ops, layer, in_widths, i, fail):
    """Every candidate has a cost for every input width the space can give this layer."""
    for name in layer.candidates:
        if len(in_widths) == 1:
            if not _is_cost(ops[name]):
                fail(f"layer {i}: op {name} needs a finite numeric 'median' >= 0")
            continue
        by_input = ops[name].get("by_input") if isinstance(ops[name], dict) else None
        for width in in_widths:
            if not isinstance(by_input, dict) or str(width) not in by_input:
                fail(f"layer {i}: op {name} has no cost from {width} input channels (the layer before can give "
                     f"{', '.join(map(str, in_widths))}; its entry needs \"by_input\": {{\"{width}\": ...}})")
            if not _is_cost(by_input[str(width)]):
                fail(f"layer {i}: op {name} from {width} channels needs a finite numeric 'median' >= 0")


def _is_cost(entry):
    """A stats dict whose median is a finite number >= 0 (JSON's Infinity and NaN are refused)."""
    value = entry.get("median") if isinstance(entry, dict) else None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value)) and value >= 0
    except OverflowError:  # an integer too large for a float
        return False


def format_table(table):
    """Readable per-layer listing, the cheapest op of each layer marked with *."""
    lines = [f"{table.source}: unit {table.unit}, {table.meta.get('method')}, {table.meta.get('runtime')}, "
             f"threads {table.meta.get('threads')}, {table.meta.get('cpu')} ({table.meta.get('arch')})",
             f"fixed (stem + head): {table.fixed:.4f} {table.unit}"]
    for i, (layer, cost, widths) in enumerate(zip(table.search_space, table.costs, table.in_widths)):
        lines.append(f"layer {i}: {layer.c_in}->{layer.c_out} s{layer.stride} {layer.in_size}x{layer.in_size}")
        for row, width in enumerate(widths):
            if len(widths) > 1:
                lines.append(f"  from {width} channels:")
            cheapest = int(cost[row].argmin())
            for j, name in enumerate(layer.candidates):
                lines.append(f"  {'*' if j == cheapest else ' '} {name:18s} {float(cost[row, j]):9.4f}")
    lines.append(f"cheapest model {table.min_latency():.4f} {table.unit}: {','.join(table.cheapest_arch())}")
    return "\n".join(lines)


def machine_mismatch(table, machine):
    """A line when the table records the machine it was timed on (CPU, flags, cores) and it is not this one:
    two CPUs of one model name can time ops very differently."""
    recorded = table.meta.get("machine")
    if table.unit != "ms" or not isinstance(recorded, dict) or recorded == machine:
        return None
    differs = ", ".join(f"{key} {recorded.get(key)} here {machine.get(key)}" for key in machine
                        if recorded.get(key) != machine.get(key))
    return f"{table.source} was timed on another machine ({differs}); its latencies may not hold here"


def runtime_mismatches(table, runtime, threads, cpu):
    """What differs between the machine a table was measured on and the deployment being searched for
    (a table from a phone is legal: that is the point of importing one; the search warns, not fails)."""
    meta = table.meta
    if table.unit != "ms":
        return []
    differences = []
    table_runtime = str(meta.get("runtime") or "unknown")
    if not table_runtime.lower().startswith(runtime.lower()):
        differences.append(f"runtime {table_runtime} (searching for {runtime})")
    if meta.get("threads") not in (None, threads):
        differences.append(f"{meta.get('threads')} thread(s) (searching for {threads})")
    if meta.get("cpu") and meta.get("cpu") != cpu:
        differences.append(f"CPU {meta.get('cpu')} (this machine: {cpu})")
    return differences
