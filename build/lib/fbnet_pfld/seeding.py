"""Seeds and RNG state: what makes a run repeatable and a resumed run continue exactly."""

import random

import numpy as np
import torch


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state():
    """The global RNG state a resumed run must restore to continue exactly (Gumbel noise, shuffles)."""
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state):
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_stochastic_parts(seed, rank, start_epoch, resumed_rng=None, is_main=True):
    """Seed the RNG behind Gumbel noise and loader workers per rank; on resume, rank 0 restores the
    saved state instead, so one process continues exactly where it stopped."""
    torch.manual_seed(seed * 1000 + rank + 7919 * start_epoch)
    if resumed_rng is not None and is_main:
        set_rng_state(resumed_rng)
