"""argparse types for numbers a flag must hold, so that a bad value ends as argparse's one-line usage error
(``--threads -1``, ``--archs 0``, ``--fixed_ms nan``) instead of a traceback deep in the run.
"""

import argparse
import math


def _number(text, convert, minimum, what):
    try:
        value = convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not math.isfinite(value) or value < minimum:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
    return value


def positive_int(text):
    """An integer >= 1 (counts of threads, runs, points, architectures)."""
    return _number(text, int, 1, "an integer >= 1")


def non_negative_int(text):
    """An integer >= 0."""
    return _number(text, int, 0, "an integer >= 0")


def non_negative_float(text):
    """A finite number >= 0."""
    return _number(text, float, 0, "a finite number >= 0")


def positive_float(text):
    """A finite number > 0 (budgets, ratios, width multipliers)."""
    value = _number(text, float, 0, "a finite number > 0")
    if value == 0:
        raise argparse.ArgumentTypeError("expected a finite number > 0, got 0")
    return value


def model_name(text):
    """A landmark network's name: subnet, a hand-designed one, or ``pfld_lite@W`` (a width multiplier)."""
    from fbnet_pfld.errors import SearchSpaceError
    from fbnet_pfld.models import parse_model_name

    if text == "subnet":
        return text
    try:
        parse_model_name(text)
    except SearchSpaceError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text
