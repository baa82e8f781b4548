"""The FBNet search objective in one object, the theta pass that optimises it, and the final choice.

``SearchObjective`` joins the task loss with the lookup table's expected latency of the architecture
under the current Gumbel-Softmax op weights (stem and head included), in one of three forms:

- ``mul``: ``task * alpha * (1 + log(L / L_min)) ** beta`` (FBNet's form, made safe: L / L_min >= 1);
- ``add``: ``task + alpha * (L / L_min) ** beta``;
- ``target``: ``task * (1 + alpha * max(0, L / T - 1) ** 2)`` for a latency budget T: no penalty at or
  under the budget, a penalty growing smoothly (zero slope at T, then quadratic) above it, and
  scale-free like ``mul`` (the balance does not depend on the task loss's units);
- ``absolute``: ``task * (1 + alpha * |L / T - 1|)``, TuNAS's absolute-value reward (Bender et al.,
  2020) in the same scale-free form: being under the budget costs too, so the search spends it
  instead of settling on whichever cheap ops learn fastest in a short supernet training.

Because a soft expectation can sit at T while the argmax architecture overshoots it (or, with flat op
probabilities, undershoots it by half), the chosen architecture under a budget is the most probable one
(largest sum of log softmax(theta)) whose predicted latency lies in [floor * T, T], found by a dynamic
programme over the layers; the absolute mode spends at least 80% of T by default, the target mode
sets no floor.
"""

import contextlib
import math
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from fbnet_pfld.distributed import average_gradients
from fbnet_pfld.engine import progress, require_finite
from fbnet_pfld.errors import SearchError
from fbnet_pfld.fastpath import EAGER
from fbnet_pfld.losses import distillation_loss
from fbnet_pfld.slicing import batch_norms

MODES = ("mul", "add", "target", "absolute")
BUDGETED = ("target", "absolute")  # the modes with a latency budget T


class SearchObjective:
    """Task loss + latency term of the lookup table; ``choose`` picks the final architecture."""

    def __init__(self, table, mode="mul", alpha=0.25, beta=0.6, target=None, floor=0.0):
        if mode not in MODES:
            raise SearchError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if (mode in BUDGETED) != (target is not None):
            raise SearchError(f"a latency target goes with the modes {' and '.join(BUDGETED)}, and they need one")
        for name, value in (("alpha", alpha), ("beta", beta), ("target", target)):
            if value is not None and not math.isfinite(value):
                raise SearchError(f"{name} must be a finite number, got {value}")
        if mode == "mul" and alpha <= 0:
            raise SearchError("mode mul needs alpha > 0 (it scales the whole loss); use mode add with alpha 0 "
                             "for a search that ignores latency")
        if not 0 <= floor <= 1:
            raise SearchError(f"the share of the budget to spend must be in [0, 1], got {floor}")
        if alpha < 0 or (target is not None and target <= 0):
            raise SearchError("alpha must be >= 0 and a latency target > 0")
        if target is not None and target < table.min_latency():
            raise SearchError(f"{table.source}: no architecture fits the latency target {target:g} {table.unit}: "
                             f"the cheapest costs {table.min_latency():.4g}")
        if target is not None and target > table.max_latency():
            raise SearchError(f"{table.source}: the latency target {target:g} {table.unit} is above the costliest "
                              f"architecture ({table.max_latency():.4g}): every choice fits, so the search would "
                              f"feel no latency pressure; the table spans {table.min_latency():.4g} to "
                              f"{table.max_latency():.4g}")
        self.table, self.mode, self.alpha, self.beta, self.target = table, mode, alpha, beta, target
        self.floor = floor
        self.min_cost = table.min_latency()
        if self.min_cost <= 0:
            raise SearchError(f"{table.source}: the cheapest architecture costs {self.min_cost} {table.unit}; "
                             "a table needs some positive cost (fixed part or ops)")

    def expected_cost(self, weights):
        return self.table.expected_latency(weights)

    def __call__(self, task_loss, weights):
        """(search loss, expected cost) for the per-layer op weights used in this forward pass."""
        cost = self.expected_cost(weights)
        return self.penalise(task_loss, cost), cost

    def penalise(self, task_loss, cost):
        """The search loss of a task loss and a (differentiable) architecture cost."""
        if self.mode == "mul":
            return task_loss * self.alpha * (1 + torch.log(cost / self.min_cost)) ** self.beta
        if self.mode == "add":
            return task_loss + self.alpha * (cost / self.min_cost) ** self.beta
        if self.mode == "absolute":
            return task_loss * (1 + self.alpha * torch.abs(cost / self.target - 1))
        return task_loss * (1 + self.alpha * F.relu(cost / self.target - 1) ** 2)

    def choose(self, supernet):
        """The architecture the search stands for now: argmax, or the most probable within budget."""
        if self.target is None:
            return supernet.chosen_arch()
        return most_probable_within(supernet.log_probabilities(), self.table, self.target, self.floor)

    def describe(self):
        spend = f", the choice spends >= {100 * self.floor:g}% of it" if self.floor else ""
        if self.mode == "target":
            return f"target {self.target:g} {self.table.unit}, task * (1 + {self.alpha:g} * max(0, L/T - 1)^2){spend}"
        if self.mode == "absolute":
            return f"absolute {self.target:g} {self.table.unit}, task * (1 + {self.alpha:g} * |L/T - 1|){spend}"
        return f"{self.mode}, alpha {self.alpha:g}, beta {self.beta:g}"


COST_STEPS = 20000  # the choice's cost resolution: partial architectures within budget / COST_STEPS compete


def most_probable_within(log_probabilities, table, budget, floor=0.0):
    """The most probable architecture with ``floor * budget <= table.predict(arch) <= budget``.

    A dynamic programme over the layers that keeps, for each width a partial architecture ends in and each
    cost step of ``budget / COST_STEPS``, only the most probable partial (with its exact cost), so it is
    exact up to partials whose costs agree to that resolution. The floor (a lower bound on the share of
    the budget spent) makes a search that should spend its budget choose an architecture that does, even
    when its op probabilities are still too flat for the most probable one to; where no architecture
    spends that much (a coarse space), the costliest within budget is taken. Raises SearchError when
    nothing fits the budget."""
    low = floor * budget
    if table.min_latency() > budget:
        raise SearchError(f"no architecture fits {budget:g} {table.unit}: the cheapest costs "
                         f"{table.min_latency():.4g}")
    step = budget / COST_STEPS
    states = {table.search_space[0].c_in: (np.array([table.fixed]), np.array([0.0]))}
    trail = []  # per layer: {width: (previous width, previous state, op index) arrays}
    for i, (layer, log_p) in enumerate(zip(table.search_space, log_probabilities)):
        grown = {}
        for width, (cost, score) in states.items():
            for k, (name, lp) in enumerate(zip(layer.candidates, log_p)):
                new_cost = cost + table.op_cost(i, name, width)
                keep = np.flatnonzero(new_cost <= budget + 1e-12)
                parts = grown.setdefault(layer.output_width(name, width), [])
                parts.append((new_cost[keep], score[keep] + float(lp), np.full(len(keep), width), keep,
                              np.full(len(keep), k)))
        states, trail_layer = {}, {}
        for width, parts in grown.items():
            cost, score, before, index, op = (np.concatenate(column) for column in zip(*parts))
            bucket = np.floor(cost / step)
            order = np.lexsort((-score, bucket))
            _, first = np.unique(bucket[order], return_index=True)
            kept = order[first]
            states[width] = (cost[kept], score[kept])
            trail_layer[width] = (before[kept], index[kept], op[kept])
        trail.append(trail_layer)
    return _best_in_range(states, trail, table, low - step)


def _best_in_range(states, trail, table, low):
    """Walk back from the most probable complete architecture costing at least ``low`` (else the costliest)."""
    finals = [(cost[j], score[j], width, j) for width, (cost, score) in states.items() for j in range(len(cost))]
    spending = [f for f in finals if f[0] >= low]
    _, _, width, j = max(spending, key=lambda f: f[1]) if spending else max(finals, key=lambda f: f[0])
    ops = []
    for layer, trail_layer in zip(reversed(table.search_space), reversed(trail)):
        before, index, op = trail_layer[width]
        ops.append(layer.candidates[op[j]])
        width, j = int(before[j]), int(index[j])
    return ops[::-1]


def train_theta(supernet, aux, loader, optimizer, objective, loss_fn, sample, temperature, runtime, fast=EAGER):
    """One pass over the architecture split updating theta only: backward reaches theta alone, so no
    weight gradient is computed; theta's gradients are averaged over ranks by hand.
    Returns (mean search loss, mean expected cost)."""
    thetas = supernet.arch_parameters()
    aux.eval()
    totals, batches = torch.zeros(2), 0
    for images, landmarks_gt, angles_gt in progress(loader, runtime, "theta"):
        images = fast.images(images.to(runtime.device))
        landmarks_gt, angles_gt = (t.to(runtime.device) for t in (landmarks_gt, angles_gt))
        with fast.autocast():
            landmarks, feature, weights = supernet(images, sample, temperature, arch_grad=True)
            with torch.no_grad():
                angles = aux(feature)
        task, _ = loss_fn(landmarks.float(), landmarks_gt, angles.float(), angles_gt)
        loss, cost = objective(task, weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward(inputs=thetas)
        average_gradients(thetas, runtime)
        optimizer.step()
        totals += torch.tensor([float(loss.detach()), float(cost.detach())])
        batches += 1
    aux.train()
    return (totals / max(1, batches)).tolist()


class Sandwich(NamedTuple):
    """The sandwich rule (BigNAS): every weight step also trains the costliest and the cheapest architecture;
    with ``distill`` > 0, the sampled and cheapest ones also learn the costliest one's points (in-place
    distillation), weighted so."""

    largest: list
    smallest: list
    distill: float = 0.0


def train_weights_sandwich(model, aux, loader, optimizer, runtime, loss_fn, sandwich, sample, temperature,
                           fast=EAGER):
    """One weight pass of the supernet under the sandwich rule: per batch the costliest architecture, the
    cheapest and one sampled path, their gradients summed into one step. Returns mean loss and mean squared
    error of the sampled path."""
    totals, batches = torch.zeros(2), 0
    for images, landmarks_gt, angles_gt in progress(loader, runtime, "weights (sandwich)"):
        images = fast.images(images.to(runtime.device))
        landmarks_gt, angles_gt = (t.to(runtime.device) for t in (landmarks_gt, angles_gt))
        optimizer.zero_grad(set_to_none=True)
        teacher = None
        for path in ("largest", "smallest", "sampled"):
            with fast.autocast():
                if path == "sampled":
                    landmarks, feature, _ = model(images, mode=sample, temperature=temperature, arch_grad=False)
                else:
                    landmarks, feature, _ = model(images, arch=getattr(sandwich, path))
                angles = aux(feature)
            loss, squared = loss_fn(landmarks.float(), landmarks_gt, angles.float(), angles_gt)
            if teacher is not None and sandwich.distill > 0:
                loss = loss + sandwich.distill * distillation_loss(landmarks.float(), teacher)
            loss.backward()
            teacher = landmarks.detach().float() if teacher is None else teacher
        optimizer.step()
        totals += torch.stack([loss.detach().cpu(), squared.detach().cpu()])
        batches += 1
    result = (totals / max(1, batches)).tolist()
    require_finite(result, "weights (sandwich): the training loss")
    return result


@contextlib.contextmanager
def path_batchnorm(supernet, arch, loader, batches):
    """BatchNorm statistics of one path, re-estimated on ``batches`` training batches (SPOS, Once-for-All):
    a supernet's shared BatchNorm layers otherwise hold a running mix of every path trained, which misjudges
    the paths that differ most from the mix. The supernet's own statistics are restored on exit; with
    ``batches`` 0 the supernet's own are used."""
    if not batches:
        supernet.eval()
        yield supernet
        return
    norms = batch_norms(supernet)
    saved = [(m.momentum, {k: v.clone() for k, v in m.state_dict().items()}) for m in norms]
    try:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a plain average over the batches
        supernet.train()
        with torch.no_grad():
            for _, (images, *_) in zip(range(batches), loader):
                supernet(images, arch=arch)
        supernet.eval()
        yield supernet
    finally:
        for m, (momentum, state) in zip(norms, saved):
            m.momentum = momentum
            m.load_state_dict(state)
