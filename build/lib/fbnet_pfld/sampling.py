"""Random architectures of a space, for checking a table and for a search's random controls.

A space of a few layers is drawn uniformly. In a space that chooses widths over a whole network, uniform
draws all cost about the same (a sum of many independent choices), so each draw there takes a random
lean towards cheap or costly candidates, and the draws spread over the whole latency range.
"""

import random

import numpy as np

from fbnet_pfld.blocks import has_widths

LEAN = 4.0  # the largest lean: candidates' draw weights span exp(-LEAN/2) to exp(LEAN/2) at one draw


def _leaning(costs, lean):
    """Draw weights over candidates that favour cheap ones (lean < 0) or costly ones (lean > 0)."""
    low, high = min(costs), max(costs)
    return [np.exp(lean * ((c - low) / (high - low) - 0.5)) if high > low else 1.0 for c in costs]


def spread_draw(table, rng):
    """One architecture, each layer drawn with one random lean (by the candidates' costs at the widest input)."""
    lean = rng.uniform(-LEAN, LEAN)
    archs = []
    for i, layer in enumerate(table.search_space):
        costs = [table.op_cost(i, name, table.in_widths[i][-1]) for name in layer.candidates]
        archs.append(rng.choices(layer.candidates, weights=_leaning(costs, lean))[0])
    return archs


def random_archs(table, count, seed=0):
    """``count`` random architectures: uniform in a space of fixed widths, spread in one that chooses them."""
    rng = random.Random(seed)
    if has_widths(table.search_space):
        return [spread_draw(table, rng) for _ in range(count)]
    return [[rng.choice(layer.candidates) for layer in table.search_space] for _ in range(count)]


def matching_random_archs(table, predicted, count, seed, tolerance=0.05, draws=100_000):
    """Up to ``count`` distinct random architectures whose predicted latency is within ``tolerance`` of
    ``predicted``, drawn spread over the range (uniform draws would rarely reach a budget far from the
    middle) and kept when they match."""
    rng, found = random.Random(seed), []
    for _ in range(draws):
        arch = spread_draw(table, rng)
        if abs(table.predict(arch) - predicted) <= tolerance * predicted and arch not in found:
            found.append(arch)
            if len(found) == count:
                break
    return found
