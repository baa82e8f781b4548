"""Images handed to the Python API, in one place: the conversions it makes (grayscale, BGRA, 16-bit, float in
[0, 1], a single channel) to the 8-bit BGR [H, W, 3] the detector and the model take, and the arrays it
refuses with the project's own error naming their shape and dtype."""

import cv2
import numpy as np

from fbnet_pfld.errors import DataError

MIN_SIDE = 16  # pixels: smaller images hold no face the detector can find
MAX_ASPECT = 20  # longer side over shorter: beyond it a frame is a strip, not a photo


def _describe(image):
    return f"{image.dtype} array of shape {image.shape}"


def _to_uint8(image, where):
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return (image // 257).astype(np.uint8)
    if np.issubdtype(image.dtype, np.floating):
        finite = image[np.isfinite(image)]
        if finite.size < image.size or image.min() < 0 or image.max() > 1:
            span = f"from {finite.min():g} to {finite.max():g}" if finite.size else "and nothing finite"
            raise DataError(f"{where}: a float image must hold finite values in [0, 1], got {_describe(image)} "
                            f"{span}{'' if finite.size == image.size else ' (and NaN or infinity)'}")
        return np.round(image * 255).astype(np.uint8)
    if np.issubdtype(image.dtype, np.integer) and image.size and 0 <= image.min() and image.max() <= 255:
        return image.astype(np.uint8)
    raise DataError(f"{where}: expected an 8-bit, 16-bit or [0, 1] float image, got {_describe(image)}")


def as_bgr8(image, where="image"):
    """``image`` as 8-bit BGR [H, W, 3]: grayscale [H, W] or [H, W, 1] and BGRA [H, W, 4] are converted, 16-bit
    is scaled down, float must lie in [0, 1]; anything else is a DataError naming ``where``, shape and dtype."""
    if not isinstance(image, np.ndarray):
        raise DataError(f"{where}: expected a numpy array (as cv2.imread gives) or a path, got "
                        f"{type(image).__name__}")
    if image.ndim == 3 and image.shape[0] in (1, 3, 4) and image.shape[2] not in (1, 3, 4):
        raise DataError(f"{where}: {_describe(image)} is channels-first: give [H, W, C] (image.transpose(1, 2, 0))")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise DataError(f"{where}: expected one image [H, W], [H, W, 3] or [H, W, 4], got {_describe(image)}")
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE or max(height, width) > MAX_ASPECT * min(height, width):
        raise DataError(f"{where}: {width}x{height} pixels: too small (under {MIN_SIDE}) or too narrow (over "
                        f"{MAX_ASPECT}:1) to hold a face")
    image = _to_uint8(image, where)
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(np.ascontiguousarray(image.reshape(height, width)), cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(image)
