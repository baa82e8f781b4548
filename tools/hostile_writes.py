"""Hostile-input cases of writing: a full disk under every writer (simulated: a file-size limit, so writes fail
as on a full disk), outputs that cannot be opened, and outputs that are the command's own inputs. Each must
end in one line naming the file, with nothing reported as written that was not. Used by tools/hostile_cases.py.
"""

import resource
import shutil
import signal
from contextlib import contextmanager

import cv2
import numpy as np

import export
import lookup_table
import predict
import retrain
from fbnet_pfld import prepare
from tools.hostile_fixtures import LUT_LINE, face_with_pts, fine_tune, fresh, predict_with, write_text

FULL_AT = 4096  # bytes: a file may grow to this, then every write fails (EFBIG, as ENOSPC would)


@contextmanager
def full_disk(limit=FULL_AT):
    """Inside: writing past ``limit`` bytes of any file fails, as on a full disk (this process only)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def on_full_disk(main):
    def run(argv):
        with full_disk():
            main(argv)
    return run


def small_photo(ctx, name):
    """A folder with one generated 320x240 photo of a test face (its drawn output is far over FULL_AT)."""
    folder = fresh(ctx, name)
    face = cv2.imread(str(ctx["root"] / "test_data/imgs/face00000__0.png"))
    canvas = np.full((240, 320, 3), 90, np.uint8)
    canvas[64:176, 104:216] = face
    cv2.imwrite(str(folder / "photo.png"), canvas)
    return folder / "photo.png"


def predict_full(ctx):
    return on_full_disk(predict.main), [str(small_photo(ctx, "wf1")), "--model", str(ctx["model"]), "--out",
                                        str(fresh(ctx, "wf1") / "out"), "--box", "104", "64", "216", "176"]


def retrain_full(ctx):
    return on_full_disk(retrain.main), fine_tune(ctx, None, "--snapshot", str(fresh(ctx, "wf2")))[1]


def export_full(ctx):
    return on_full_disk(export.main), ["--resume", str(ctx["subnet"]), "--output", str(fresh(ctx, "wf3") / "m.onnx")]


def prepare_full(ctx):
    folder = face_with_pts(ctx, "wf4")
    return on_full_disk(prepare.main), ["--train", str(folder), "--out", str(folder / "out")]


def out_is_a_file(ctx):
    blocker = write_text(fresh(ctx, "wf5") / "taken", "not a folder")
    return predict_with(ctx)[0], predict_with(ctx)[1][:-2] + ["--out", str(blocker)]


def same_in_and_out(ctx, command):
    table = fresh(ctx, f"wf-{command}") / "table.json"
    shutil.copy(ctx["lut"], table)
    if command == "space":
        return lookup_table.main, ["space", "--lut", str(table), "--out", str(table)]
    lut_txt = write_text(fresh(ctx, "wf-txt") / "lut.txt", LUT_LINE)
    return lookup_table.main, ["import-lut", str(lut_txt), "--out", str(lut_txt)]


CASES = {
    "predict on a full disk": (predict_full, "photo_png_landmarks.png"),
    "retrain on a full disk": (retrain_full, "checkpoint_"),
    "export on a full disk": (export_full, "m.onnx"),
    "prepare on a full disk": (prepare_full, "wf4/out"),
    "predict into an output that is a file": (out_is_a_file, "wf5/taken"),
    "table space over its own input table": (lambda c: same_in_and_out(c, "space"), "table.json"),
    "import-lut over its own lut.txt": (lambda c: same_in_and_out(c, "import-lut"), "lut.txt"),
}
