"""How every output is written: to a temporary file beside the target, checked, then renamed over it, so a
kill, a full disk or a failed write leaves the previous file as it was, and nothing reports a write that did
not happen. Also here: an output that is one of the inputs is refused, and a folder is built aside and
swapped in whole."""

import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import cv2

from fbnet_pfld.errors import UserError, WriteError

try:
    import fcntl
except ImportError:
    fcntl = None


TEMP_NAME = re.compile(r"\..+\.\d+\.tmp(\.[^.]*)?")  # what temp_beside names: .NAME.PID.tmp.SUFFIX


def temp_beside(path):
    """A temporary name beside ``path`` with its suffix (writers such as OpenCV choose the format by it)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")


@contextmanager
def replacing(path):
    """``with replacing(PATH) as temp:`` write ``temp``; on leaving, it must exist and is renamed over PATH.
    Any failure leaves PATH as it was and raises WriteError naming PATH."""
    path = Path(path)
    temp = temp_beside(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield temp
        if not temp.is_file():
            raise WriteError(f"{path}: nothing was written")
        if path.is_dir():
            raise WriteError(f"{path}: is a folder, not a file to write")
        os.replace(temp, path)
    except UserError:
        raise
    except OSError as error:
        detail = error.strerror or str(error)
        raise WriteError(f"{path}: cannot write ({detail}); the previous file, if any, is as it was") from None
    finally:
        temp.unlink(missing_ok=True)


def stale_temps(folder):
    """The temporary files in FOLDER that a process killed while writing left behind."""
    return sorted(p for p in Path(folder).glob(".*.tmp*") if TEMP_NAME.fullmatch(p.name))


def remove_stale_temps(folder):
    """Delete them (a run folder, when a training starts in it); returns the names removed."""
    removed = []
    for temp in stale_temps(folder):
        temp.unlink(missing_ok=True)
        removed.append(temp.name)
    return removed


def write_text(path, text):
    with replacing(path) as temp:
        temp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path, data):
    with replacing(path) as temp:
        temp.write_bytes(data)
    return Path(path)


def encode_image(image, suffix=".jpg", params=()):
    """An image's file bytes, checked (OpenCV reports a failed encoding by a flag only)."""
    ok, data = cv2.imencode(suffix, image, list(params))
    if not ok:
        raise WriteError(f"an image of shape {image.shape} could not be encoded as {suffix}")
    return data.tobytes()


def write_image(path, image, params=()):
    """An image file, encoded in memory and written checked (OpenCV's own writer fails silently)."""
    return write_bytes(path, encode_image(image, Path(path).suffix or ".png", params))


def refuse_input_as_output(output, inputs, flag="--out"):
    """Refuse an output that is one of the inputs (the same file by any name): writing it would destroy it."""
    for item in inputs:
        if item is not None and Path(item).exists() and Path(output).exists() and os.path.samefile(output, item):
            raise WriteError(f"{output}: is also an input ({item}); give {flag} another file")


@contextmanager
def staged_folder(out):
    """``with staged_folder(OUT) as stage:`` build a folder in ``stage`` (it starts as a copy of OUT), then
    swap it in whole: a failure half way leaves OUT as it was, never half replaced."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise WriteError(f"{out}: names a file; the release is a folder (give another --out)")
    stage = out.with_name(f".{out.name}.{os.getpid()}.building")
    old = out.with_name(f".{out.name}.{os.getpid()}.previous")
    shutil.rmtree(stage, ignore_errors=True)
    try:
        if out.is_dir():
            shutil.copytree(out, stage, symlinks=True)
        else:
            stage.mkdir(parents=True)
        yield stage
        if out.exists():
            out.rename(old)
        stage.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


@contextmanager
def exclusive(path):
    """``with exclusive(PATH):`` one process at a time reads, changes and rewrites PATH (a record that two
    jobs add rows to): a blocking lock on ``.NAME.lock`` beside it. Without advisory locks (Windows), none."""
    path = Path(path)
    if fcntl is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
