"""The checkpoint format, in one place: what each kind holds, atomic saves, safe loads, checks, slimming.

Kinds: ``supernet`` (search state) and the landmark networks of ``models.LANDMARK_MODELS``
(``subnet``, ``pfld_lite``, ...). Every file is a plain dict of tensors and Python literals, written
atomically and read with ``torch.load(weights_only=True)``: a downloaded checkpoint cannot run code.
"""

import hashlib
import os
import pickle
from pathlib import Path

import torch

from fbnet_pfld.errors import CheckpointError, WriteError
from fbnet_pfld.models import Supernet, auxiliary_net_for, build_landmark_network
from fbnet_pfld.space import search_space_from_list
from fbnet_pfld.writes import replacing

# Keys a checkpoint needs to be resumed, per kind; the slim (released) copy keeps only what describes
# the weights. A landmark checkpoint names its network in "model_type".
RESUME_KEYS = {
    "supernet": ("supernet", "aux", "optimizer", "theta_optimizer", "scheduler", "epoch", "temperature", "rng",
                 "arch", "search_space", "num_points", "theta_history", "best_nme"),
    "landmark": ("model", "aux", "optimizer", "scheduler", "epoch", "rng", "best_nme", "model_type", "num_points"),
}
RELEASE_KEYS = {
    "supernet": ("supernet", "aux", "epoch", "temperature", "arch", "search_space", "num_points", "theta_history",
                 "best_nme", "metrics", "lut_meta", "lut", "args", "fastpath"),
    "landmark": ("model", "epoch", "best_nme", "metrics", "model_type", "arch", "num_points", "search_space", "args",
                 "fastpath"),
}  # a released fine-tune leaves out its auxiliary pose net: only training used it, and it doubles the file
LANDMARK_KEYS = ("model", "model_type", "num_points")


def kind_of(state):
    return "supernet" if "supernet" in state else "landmark"


CHECKSUM_KEY = "checksum"


def tensor_checksum(state):
    """SHA-256 over every tensor of a checkpoint, in key order: a flipped bit in the weights is named at
    load, not found later as a NaN loss or a wrong answer."""
    digest = hashlib.sha256()

    def feed(value, key):
        if torch.is_tensor(value):
            digest.update(key.encode())
            digest.update(value.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(value, dict):
            for name in sorted(value, key=str):
                feed(value[name], f"{key}.{name}")
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                feed(item, f"{key}[{i}]")

    feed({k: v for k, v in state.items() if k != CHECKSUM_KEY}, "")
    return digest.hexdigest()


def save_checkpoint(state, path):
    """Write atomically (writes.replacing: a temp file beside it, flushed to disk, renamed over the target)
    with a checksum of its tensors. A run killed mid-save, or a full disk, leaves the previous checkpoint
    untouched, and the error names the file."""
    state = {**state, CHECKSUM_KEY: tensor_checksum(state)}
    try:
        with replacing(path) as temp, open(temp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
    except RuntimeError:  # torch's zip writer reports a full disk as RuntimeError
        raise WriteError(f"{path}: cannot write (the disk is full or the file too large); the previous file, "
                         "if any, is as it was") from None


def load_checkpoint(path, required=()):
    """Load with ``weights_only=True`` (a downloaded file cannot run code); clear errors otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    if not is_torch_file(path):
        raise CheckpointError(f"{path}: not a PyTorch checkpoint (neither torch.save's zip format nor a pickle)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights_only" in str(error) or "Unsupported global" in str(error):
            raise CheckpointError(f"{path}: holds code or objects a checkpoint must not (refused unread; a "
                                  "checkpoint of this project is only tensors and plain values)") from None
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupted)") from None
    except Exception as error:  # torch raises several types for truncated or foreign files
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupted?): {first}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not a checkpoint of this project (expected a dict)")
    if CHECKSUM_KEY in state and state[CHECKSUM_KEY] != tensor_checksum(state):
        raise CheckpointError(f"{path}: its tensors do not match the checksum written with them: the file was "
                              "changed or damaged after it was saved")
    require_keys(state, required, path)
    return state


def is_torch_file(path):
    """Whether the file begins as torch.save writes (a zip archive, or its legacy format's pickle) or is empty
    (then torch reports it unreadable): a JSON, text or image file given for a checkpoint is named as such."""
    with open(path, "rb") as f:
        head = f.read(2)
    return head in (b"", b"PK") or head[:1] == b"\x80"


def require_keys(state, required, path):
    missing = [key for key in required if key not in state]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")


def slim(state):
    """The released form: the weights and what describes them, no optimiser or RNG state."""
    return {k: state[k] for k in RELEASE_KEYS[kind_of(state)] if k in state}


def state_search_space(state, path):
    """The search space a checkpoint was made for (None for hand-designed networks); errors name the file."""
    if not state.get("search_space"):
        return None
    try:
        return search_space_from_list(state["search_space"])
    except ValueError as error:
        raise CheckpointError(f"{path}: search_space: {error}") from None


def check_matches(state, path, num_points, arch=None, search_space=None, model_type=None):
    """Refuse a checkpoint of another point count, network, architecture or search space."""
    if state.get("num_points") != num_points:
        raise CheckpointError(f"{path}: made for {state.get('num_points')} points, this run has {num_points}")
    if model_type is not None and state.get("model_type", "supernet") != model_type:
        raise CheckpointError(f"{path}: holds a {state.get('model_type', 'supernet')}, this run trains a {model_type}")
    if arch is not None and state.get("arch") is not None and list(state["arch"]) != list(arch):
        raise CheckpointError(f"{path}: holds architecture {','.join(state['arch'])}, this run trains "
                              f"{','.join(arch)}")
    if search_space is not None and state.get("search_space") is not None and \
            state_search_space(state, path) != list(search_space):
        raise CheckpointError(f"{path}: made for another search space")


def load_state_dict(module, weights, path):
    """``module.load_state_dict`` with a one-line error naming the file when shapes or names differ."""
    try:
        module.load_state_dict(weights)
    except RuntimeError as error:
        detail = " ".join(str(error).split())[:200]
        raise CheckpointError(f"{path}: weights do not fit the network ({detail})") from None


def landmark_network_from_state(state, path="<checkpoint>"):
    """Rebuild the landmark network a retrain checkpoint holds, with its weights, in eval mode."""
    search_space = state_search_space(state, path)
    try:
        model = build_landmark_network(state["model_type"], state["num_points"], state.get("arch"), search_space)
    except (KeyError, ValueError) as error:
        raise CheckpointError(f"{path}: {error}") from None
    load_state_dict(model, state["model"], path)
    require_finite_weights(model, path)
    return model.eval()


def require_finite_weights(module, path):
    """A network with a NaN or infinite weight (a diverged run) is refused before it can be exported,
    released or run, naming the first such tensor."""
    for name, tensor in module.state_dict().items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"{path}: weight {name} holds NaN or infinite values (a diverged run?)")


def load_landmark_model(path):
    """(network in eval mode, state) of a retrain checkpoint; a search's supernet is refused saying what to use."""
    state = load_checkpoint(path)
    if "supernet" in state and "model" not in state:
        raise CheckpointError(f"{path}: a search's supernet, not a landmark model: use a retrain checkpoint or its "
                              "ONNX (released/subnet.onnx; retrain.py --supernet fine-tunes one from it)")
    require_keys(state, LANDMARK_KEYS, path)
    return landmark_network_from_state(state, path), state


def load_supernet(path):
    """(supernet, auxiliary net, state) of a search checkpoint, weights and theta loaded."""
    state = load_checkpoint(path, ("supernet", "aux", "arch", "search_space", "num_points"))
    supernet = Supernet(state["num_points"], state_search_space(state, path))
    load_state_dict(supernet, state["supernet"], path)
    aux = auxiliary_net_for(supernet)
    load_state_dict(aux, state["aux"], path)
    return supernet, aux, state
