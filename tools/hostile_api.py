"""Hostile-input cases of the Python API: ``Landmarker(...)(image)`` and ``Landmarker(...).track(frames)``
given arrays of every odd shape and dtype, boxes, options and model files it cannot use; and the arrays it
converts (grayscale, BGRA, 16-bit, float in [0, 1], strided, read-only), which must run. Each case is run as a
command (``api_main``): the API's own error becomes the one line a script prints."""

import numpy as np

from fbnet_pfld import Landmarker
from fbnet_pfld.cli import exit_on_user_error
from fbnet_pfld.smoothing import OneEuroParams
from tools.hostile_fixtures import fresh, write_text


def grey(height=48, width=64, dtype=np.uint8, value=90):
    """A plain frame (no face in it): the arrays below are built from it."""
    return np.full((height, width, 3), value, dtype)


def read_only():
    image = grey()
    image.flags.writeable = False
    return image


# What ``Landmarker(model)(x)`` is given, by name.
IMAGES = {
    "bool": lambda: grey().astype(bool),
    "all NaN": lambda: np.full((48, 64, 3), np.nan, np.float32),
    "float 0-255": lambda: grey().astype(np.float32),
    "float with inf": lambda: np.where(grey() > 0, np.inf, 0).astype(np.float16),
    "channels-first": lambda: grey().transpose(2, 0, 1).copy(),
    "batched": lambda: np.stack([grey(), grey()]),
    "int64 over 255": lambda: grey(dtype=np.int64) * 300,
    "int8 negative": lambda: -grey(dtype=np.int8),
    "empty": lambda: np.zeros((0, 0, 3), np.uint8),
    "strip 10x20000": lambda: grey(10, 20000),
    "five channels": lambda: np.zeros((48, 64, 5), np.uint8),
    "complex": lambda: grey().astype(np.complex64),
    "object": lambda: grey().astype(object),
    "nested list": lambda: grey().tolist(),
    "None": lambda: None,
    "one row": lambda: np.zeros(100, np.uint8),
    "tiny 8x8": lambda: grey(8, 8),
    "zero-dim": lambda: np.array(5, np.uint8),
}
IMAGE_NAMES = {"bool": "bool", "all NaN": "NaN", "float 0-255": "[0, 1]", "float with inf": "float16",
               "channels-first": "channels-first", "batched": "(2, 48, 64, 3)", "int64 over 255": "int64",
               "int8 negative": "int8", "empty": "0x0", "strip 10x20000": "20000x10", "five channels": "(48, 64, 5)",
               "complex": "complex64", "object": "object", "nested list": "list", "None": "NoneType",
               "one row": "(100,)", "tiny 8x8": "8x8", "zero-dim": "shape ()"}

# Arrays it converts: each must run (a plain grey frame holds no face: an empty answer).
CONVERTED = {
    "uint16": lambda: grey(dtype=np.uint16) * 257,
    "float in [0, 1]": lambda: grey().astype(np.float64) / 255,
    "grayscale": lambda: grey()[..., 0].copy(),
    "grayscale with a channel axis": lambda: grey()[..., :1].copy(),
    "BGRA": lambda: np.dstack([grey(), np.full((48, 64), 255, np.uint8)]),
    "int32 in 0-255": lambda: grey(dtype=np.int32),
    "strided view": lambda: grey(96, 128)[::2, ::2],
    "read-only": read_only,
    "Fortran order": lambda: np.asfortranarray(grey()),
}

# Boxes, options and frames, each with the text its one line must hold.
CALLS = {
    "box with NaN": (lambda m: Landmarker(m)(grey(), box=(1, 2, float("nan"), 40)), "box"),
    "box upside down": (lambda m: Landmarker(m)(grey(), box=(40, 40, 10, 10)), "box"),
    "box outside the image": (lambda m: Landmarker(m)(grey(), box=(500, 500, 600, 600)), "box"),
    "refine out of range": (lambda m: Landmarker(m, refine=1_000_000_000), "refine="),
    "refine not whole": (lambda m: Landmarker(m, refine=1.5), "refine="),
    "calibration missing": (lambda m: Landmarker(m, calibration="no_such_calibration.json"),
                            "no_such_calibration.json"),
    "track frames that are text": (lambda m: list(Landmarker(m).track(["frame.png"])), "frame 0"),
    "track a bool frame": (lambda m: list(Landmarker(m).track([grey(), grey().astype(bool)])), "frame 1"),
    "track a batched frame": (lambda m: list(Landmarker(m).track([np.stack([grey()] * 2)])), "frame 0"),
    "track smooth as text": (lambda m: list(Landmarker(m).track([grey()], smooth="yes")), "smooth="),
    "track redetect zero": (lambda m: list(Landmarker(m).track([grey()], redetect=0)), "redetect="),
    "track fps zero": (lambda m: list(Landmarker(m).track([grey()], fps=0)), "fps"),
    "track negative cut-off": (lambda m: list(Landmarker(m).track([grey()], smooth=OneEuroParams(-1.0))),
                               "min_cutoff"),
}


def api_main(argv):
    """One API call as a command: MODEL GROUP NAME (GROUP: image, converted or call)."""
    model, group, name = argv
    if group == "image":
        exit_on_user_error(lambda: Landmarker(model)(IMAGES[name]()))
    elif group == "converted":
        exit_on_user_error(lambda: Landmarker(model)(CONVERTED[name]()))
    else:
        exit_on_user_error(CALLS[name][0], model)


def model_file(ctx, name, text):
    return write_text(fresh(ctx, "api-models") / name, text)


CASES = {
    **{f"api image {name}": (lambda c, n=name: (api_main, [str(c["model"]), "image", n]), IMAGE_NAMES[name])
       for name in IMAGES},
    **{f"api {name}": (lambda c, n=name: (api_main, [str(c["model"]), "call", n]), CALLS[name][1]) for name in CALLS},
    "api model missing": (lambda c: (api_main, [str(fresh(c, "api-models") / "none.onnx"), "image", "bool"]),
                          "none.onnx"),
    "api model that is text": (lambda c: (api_main, [str(model_file(c, "text.onnx", "not a model")), "image", "bool"]),
                               "text.onnx"),
    "api model a supernet": (lambda c: (api_main, [str(c["supernet"]), "image", "bool"]), "checkpoint_last.pth"),
}

WORKS = {f"api converts {name}": (lambda c, n=name: (api_main, [str(c["model"]), "converted", n]))
         for name in CONVERTED}
