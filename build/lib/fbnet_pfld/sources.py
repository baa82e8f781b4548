"""Where a training face comes from, in one place: its collection (the file name's prefix: ``helen``,
``ytf``, ``utk``) and where its points came from (its label source: ``human`` for annotators' points,
``machine`` for points another program extracted, ``teacher:NAME`` for a teacher's pseudo-labels, the
last token of its list.txt line, ``label=SOURCE``; a line without one is ``unknown``). Training draws faces
by both (``--source_weights helen=3,ytf=1,label:machine=0.5``).
"""

import math
import re
from pathlib import Path

from fbnet_pfld.errors import DataError

LABEL_TOKEN = "label="
UNKNOWN_LABEL = "unknown"
LABEL_KEY = "label:"
_LABEL = re.compile(r"(human|machine|unknown|teacher:[A-Za-z0-9+_.-]+)")


def check_label(label, where):
    if not _LABEL.fullmatch(label):
        raise DataError(f"{where}: label source {label!r}: expected human, machine or teacher:NAME")
    return label


def split_label(tokens, where):
    """A list.txt line's tokens without its trailing ``label=SOURCE`` token, and the source."""
    if tokens and tokens[-1].startswith(LABEL_TOKEN):
        return tokens[:-1], check_label(tokens[-1][len(LABEL_TOKEN):], where)
    return tokens, UNKNOWN_LABEL


def parse_label_sources(spec, where="--label_source"):
    """``human`` -> {"*": "human"}; ``ytf=machine,*=human`` -> by collection."""
    if "=" not in spec:
        return {"*": check_label(spec, where)}
    mapping = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, label = part.partition("=")
        if not name or name in mapping:
            raise DataError(f"{where}: {part!r} needs a new collection name (or '*') before '='")
        mapping[name] = check_label(label, where)
    return mapping


def label_for(name, mapping, where="--label_source"):
    """The label source of a face named ``name`` (its collection prefix) under a parse_label_sources mapping."""
    label = mapping.get(source_of(name), mapping.get("*"))
    if label is None:
        raise DataError(f"{where}: no label source for the collection {source_of(name)!r} (name it, or '*')")
    return label


def source_of(path):
    """The collection a face comes from, by its file name's prefix: ``ytf_Abdel_00.jpg`` -> ``ytf``."""
    return Path(path).name.split("_")[0]


def parse_source_weights(spec):
    """``"helen=3,ytf=1"`` -> {"helen": 3.0, "ytf": 1.0}; ``label:machine=0.5`` weighs a label source;
    ValueError naming the bad part."""
    weights = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, value = part.partition("=")
        try:
            weight = float(value)
        except ValueError:
            raise ValueError(f"--source_weights: {part!r} is not NAME=WEIGHT") from None
        if not name or not math.isfinite(weight) or weight < 0 or name in weights:
            raise ValueError(f"--source_weights: {part!r} needs a new name and a finite weight >= 0")
        weights[name] = weight
    if not weights or not any(weights.values()):
        raise ValueError(f"--source_weights: {spec!r} gives no source a weight above 0")
    return weights


def _factors(keys, weights, source, kind):
    """Per-sample factors for one kind of key (collection or label source): 1 when no key of that kind is
    given, else every value present must be named (``*`` names the rest)."""
    if not weights:
        return [1.0] * len(keys)
    missing = sorted({k for k in keys if k not in weights and "*" not in weights})
    if missing:
        listed = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        star = "'*'" if kind == "collection" else f"'{LABEL_KEY}*'"
        raise DataError(f"{source}: --source_weights gives no weight to the {kind} {listed} (name it, or {star} "
                        "for the rest)")
    return [weights.get(k, weights.get("*")) for k in keys]


def sample_weights(samples, weights, source):
    """Per-sample drawing weights: a face's collection weight times its label source's (``label:NAME`` keys)."""
    by_label = {k[len(LABEL_KEY):]: v for k, v in weights.items() if k.startswith(LABEL_KEY)}
    by_collection = {k: v for k, v in weights.items() if not k.startswith(LABEL_KEY)}
    collections = _factors([source_of(s.image) for s in samples], by_collection, source, "collection")
    labels = _factors([s.label for s in samples], by_label, source, "label source")
    drawn = [c * w for c, w in zip(collections, labels)]
    if not any(drawn):
        raise DataError(f"{source}: --source_weights gives every face weight 0")
    return drawn
