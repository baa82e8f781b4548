"""The results table: size, cost, latency and accuracy of each model, measured in one process.

    python -m tools.benchmark --data_root data/faces68 \\
        subnet=released/subnet.pth pfld_lite=released/pfld_lite.pth --out released/benchmark

Each model is a retrain checkpoint (.pth) or an ONNX file (.onnx), optionally labelled ``NAME=PATH``.
Per model: parameters, multiply-adds, ONNX size, batch-1 latency in onnxruntime (1 thread and all
threads), MNN (1 thread) and PyTorch, each the median of --runs calls after warm-up with every model
and runtime interleaved in one process; and NME / failure rate / AUC on DATA_ROOT's test split
computed with the ONNX model. With --faces DIR (whole images with .pts files, e.g. faces68/val),
also the full predict path: the detector on each whole image, its calibrated crop, one refine pass,
reporting how many faces it found and the NME there, beside the NME from ground-truth boxes; with dlib
installed (pip install dlib-bin), also the NME on the faces dlib's HOG detector finds, the faces dlib's
68-point predictor is scored on. With --flip, the detector columns again with test-time flipping.
Prints a Markdown table and writes OUT.md and OUT.json.
"""

import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from fbnet_pfld.argtypes import positive_int
from fbnet_pfld.blocks import INPUT_SIZE
from fbnet_pfld.checkpoints import load_landmark_model
from fbnet_pfld.cli import Parser, exit_on_user_error
from fbnet_pfld.dataset import load_test_set
from fbnet_pfld.deploy import MnnSession, OrtSession, mnn_module, random_feeds, runtime_version, time_interleaved
from fbnet_pfld.detector import hog_available, hog_faces
from fbnet_pfld.errors import DeployError
from fbnet_pfld.exporting import export_landmark_model, parity_images
from fbnet_pfld.jsonfile import write_json
from fbnet_pfld.landmarker import DEFAULT_CALIBRATION, open_model
from fbnet_pfld.machine import cpu_model
from fbnet_pfld.metrics import landmark_metrics, normalised_errors
from fbnet_pfld.models import count_macs, count_parameters
from fbnet_pfld.onnx_counts import onnx_macs, onnx_parameters
from fbnet_pfld.writes import write_text


def parse_model_arg(text):
    name, _, path = text.rpartition("=")
    return (name or Path(path).stem), Path(path)


def crop_batches(dataset, batch_size=64):
    """(crops [B, 3, 112, 112], landmarks [B, 2K]) arrays of a dataset, cut once for any number of models."""
    batches = []
    for start in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(start, min(len(dataset), start + batch_size))]
        batches.append(tuple(torch.stack([item[k] for item in items]).numpy() for k in (0, 1)))
    return batches


def onnx_predictions(session, batches):
    """(predicted, true) landmarks [N, 2K] of an ONNX session over ``crop_batches``."""
    predictions = [session.run({"input": crops})[0] for crops, _ in batches]
    return np.concatenate(predictions), np.concatenate([targets for _, targets in batches])


def onnx_metrics(session, batches):
    """Landmark metrics of an ONNX session over ``crop_batches``."""
    return landmark_metrics(*onnx_predictions(session, batches))


def detect_annotated_faces(faces_dir, calibration_path, peer=None):
    """Each face of faces_dir with its crop box from our detector (calibrated; None where it missed the
    face) and whether a peer detector (dlib's HOG) finds it. It does not depend on the model, so a
    benchmark runs it once and scores every model on it."""
    from fbnet_pfld.dataset import read_image
    from fbnet_pfld.detector import Calibration, detect_faces, match
    from fbnet_pfld.prepare import read_pts_folder

    calibration = Calibration.load(calibration_path)
    found = []
    for face in read_pts_folder(faces_dir):
        image = read_image(face.image, face.image)
        detection = match(detect_faces(image), face.points)
        box = None if detection is None else calibration.landmark_box(detection.box)
        found.append((face, box, None if peer is None else match(peer(image), face.points) is not None))
    return found


def face_errors(onnx_path, found_faces, refine=1, flip=False):
    """Per face, NME io from its ground-truth landmark box and from our detector's box (nan where the
    detector missed it), and whether the peer found it (None without a peer). ``flip``: predict.py --flip."""
    from fbnet_pfld.dataset import read_image
    from fbnet_pfld.landmarker import FaceLandmarker, LandmarkPredictor, point_box

    landmarker = FaceLandmarker(LandmarkPredictor(onnx_path, flip), refine)
    truth, from_boxes, from_detector = [], [], []
    for face, box, _ in found_faces:
        image = read_image(face.image, face.image)
        truth.append(face.points)
        from_boxes.append(landmarker(image, [point_box(face.points)], passes=0)[0][0])
        from_detector.append(np.full_like(face.points, np.nan, dtype=np.float64) if box is None else
                             landmarker(image, [box])[0][0])
    truth, peer_found = np.array(truth), [peer for _, _, peer in found_faces]
    return {"gt_box": normalised_errors(np.array(from_boxes), truth)["io"],
            "detector": normalised_errors(np.array(from_detector), truth)["io"],
            "peer_found": None if None in peer_found else np.array(peer_found)}


def in_the_loop(errors):
    """The detector columns: found/total, NME io from its boxes on the faces it found, from ground-truth
    boxes on those faces and on all; with a peer, the same NME on the faces the peer also finds."""
    found = ~np.isnan(errors["detector"])
    row = {"faces": len(found), "found": int(found.sum()), "nme_io_detector": float(errors["detector"][found].mean()),
           "nme_io_gt_found": float(errors["gt_box"][found].mean()), "nme_io_gt_all": float(errors["gt_box"].mean())}
    peer = errors["peer_found"]
    if peer is not None:
        both = found & peer
        row.update({"peer_found": int(peer.sum()), "found_of_peer_faces": int(both.sum()),
                    "nme_io_detector_peer_faces": float(errors["detector"][both].mean())})
    return row


def load_entries(specs, workdir):
    """(name, ONNX path, PyTorch model or None) per model; checkpoints are exported to ``workdir``."""
    entries, names = [], [parse_model_arg(spec)[0] for spec in specs]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise DeployError(f"two models named {', '.join(twice)}: name each row (NAME=PATH), or their rows would "
                          "share one model's export")
    for spec in specs:
        name, path = parse_model_arg(spec)
        if path.suffix == ".onnx":
            if not path.is_file():
                raise DeployError(f"{path}: no such ONNX file")
            open_model(path)  # a model that does not take 112x112 crops is refused here, as predict.py refuses it
            entries.append((name, path, None))
            continue
        model, _ = load_landmark_model(path)
        onnx_path = Path(workdir) / f"{name}.onnx"
        export_landmark_model(model, onnx_path, parity_images())
        entries.append((name, onnx_path, model))
    return entries


def mnn_available():
    """Whether MNN is installed (imported with its banner silenced, as every MNN path here imports it)."""
    try:
        mnn_module()
    except DeployError:
        return False
    return True


def latency_calls(entries, threads_all):
    """Named zero-argument calls, one per (model, engine), to time interleaved in one process."""
    calls = {}
    x = torch.rand(1, 3, INPUT_SIZE, INPUT_SIZE)
    for name, path, model in entries:
        feeds = random_feeds(path)
        sessions = {"ort_1thread_ms": OrtSession(path, 1),
                    f"ort_{threads_all}threads_ms": OrtSession(path, threads_all)}
        if mnn_available():
            sessions["mnn_1thread_ms"] = MnnSession(path, 1)
        for column, session in sessions.items():
            calls[(name, column)] = session.runner(feeds)
        if model is not None:
            calls[(name, "torch_ms")] = lambda m=model: m(x)
    return calls


def flipped_in_the_loop(onnx_path, found_faces):
    """The detector columns' NME with test-time flipping (predict.py --flip), keys suffixed ``_flip``."""
    row = in_the_loop(face_errors(onnx_path, found_faces, flip=True))
    return {f"{key}_flip": value for key, value in row.items() if key.startswith("nme_io_detector")}


def short_path(path):
    """A folder named by its last two parts (``data/faces68``), never by the local absolute path; None stays None."""
    return "/".join(Path(path).resolve().parts[-2:]) if path else None


def run_benchmark(specs, data_root=None, runs=300, faces_dir=None, calibration=DEFAULT_CALIBRATION, flip=False):
    threads_all = os.cpu_count() or 1
    peer = hog_faces if faces_dir and hog_available() else None
    found_faces = detect_annotated_faces(faces_dir, calibration, peer) if faces_dir else None
    dataset = load_test_set(data_root) if data_root else None
    test_batches = crop_batches(dataset) if dataset is not None else None
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        entries = load_entries(specs, tmp)
        calls = latency_calls(entries, threads_all)
        timed = dict(zip(calls, time_interleaved(list(calls.values()), runs=runs, warmup=30)))
        rows = []
        for name, path, model in entries:
            row = {"model": name, "parameters": count_parameters(model) if model else onnx_parameters(path),
                   "macs": count_macs(model) if model else onnx_macs(path), "onnx_bytes": path.stat().st_size,
                   "torch_ms": None}
            row.update({column: stats["median"] for (entry, column), stats in timed.items() if entry == name})
            if dataset is not None:
                row.update(onnx_metrics(OrtSession(path, threads_all), test_batches))
            if found_faces:
                row.update(in_the_loop(face_errors(path, found_faces)))
                if flip:
                    row.update(flipped_in_the_loop(path, found_faces))
            rows.append(row)
    meta = {"cpu": cpu_model(), "arch": platform.machine(), "threads_all": threads_all, "runs": runs,
            "torch": torch.__version__, "onnxruntime": runtime_version("onnxruntime"),
            "mnn": runtime_version("mnn") if mnn_available() else None,
            "test_set": short_path(data_root), "test_faces": len(dataset) if dataset else None,
            "faces_dir": short_path(faces_dir),
            "peer": "dlib HOG, upsample 1" if peer else None,
            "date": time.strftime("%Y-%m-%d")}
    return {"meta": meta, "rows": rows}


def markdown(result):
    meta, rows = result["meta"], result["rows"]
    n = meta["threads_all"]
    columns = [("params", lambda r: f"{r['parameters']:,}"),
               ("MACs (M)", lambda r: f"{r['macs'] / 1e6:.2f}"),
               ("ONNX (KB)", lambda r: f"{r['onnx_bytes'] / 1024:.0f}"),
               ("ORT 1 thread (ms)", lambda r: f"{r['ort_1thread_ms']:.3f}")]
    if meta["mnn"]:
        columns.append(("MNN 1 thread (ms)", lambda r: f"{r['mnn_1thread_ms']:.3f}"))
    columns += [(f"ORT {n} threads (ms)", lambda r: f"{r[f'ort_{n}threads_ms']:.3f}"),
                ("PyTorch (ms)", lambda r: f"{r['torch_ms']:.2f}" if r.get("torch_ms") else "n/a")]
    if any("nme_io" in r for r in rows):
        columns += [("NME io (%)", lambda r: f"{100 * r['nme_io']:.2f}"),
                    ("FR@0.1 (%)", lambda r: f"{100 * r['fr_io']:.1f}"), ("AUC@0.1", lambda r: f"{r['auc_io']:.3f}")]
    if any("nme_box" in r for r in rows):
        columns.append(("NME box (%)", lambda r: f"{100 * r['nme_box']:.2f}"))
    if any("found" in r for r in rows):
        columns += [("detector found", lambda r: f"{r['found']}/{r['faces']}"),
                    ("NME io, detector (%)", lambda r: f"{100 * r['nme_io_detector']:.2f}"),
                    ("NME io, GT box, same faces (%)", lambda r: f"{100 * r['nme_io_gt_found']:.2f}"),
                    ("detector / GT", lambda r: f"{r['nme_io_detector'] / r['nme_io_gt_found']:.3f}")]
    if any("peer_found" in r for r in rows):
        columns += [("dlib HOG found", lambda r: f"{r['peer_found']}/{r['faces']}"),
                    ("NME io, detector, HOG's faces (%)", lambda r: f"{100 * r['nme_io_detector_peer_faces']:.2f}")]
    if any("nme_io_detector_flip" in r for r in rows):
        columns.append(("NME io, detector, flip (%)", lambda r: f"{100 * r['nme_io_detector_flip']:.2f}"))
    if any("nme_io_detector_peer_faces_flip" in r for r in rows):
        columns.append(("NME io, detector, HOG's faces, flip (%)",
                        lambda r: f"{100 * r['nme_io_detector_peer_faces_flip']:.2f}"))
    lines = ["| model | " + " | ".join(c for c, _ in columns) + " |", "|" + "---|" * (len(columns) + 1)]
    lines += ["| " + " | ".join([r["model"], *(cell(r) for _, cell in columns)]) + " |" for r in rows]
    where = f"{meta['test_faces']} test faces of {meta['test_set']}" if meta["test_set"] else "no test set"
    engines = ", ".join(e for e in (meta["onnxruntime"], meta["mnn"], f"torch {meta['torch']}") if e)
    lines.append(f"\n{meta['cpu']} ({meta['arch']}), {engines}; batch 1, median of {meta['runs']} calls after "
                 f"warm-up, every model and engine interleaved in one process; {where}.")
    if meta["faces_dir"]:
        lines.append(f"Detector in the loop: yuface on each whole image of {meta['faces_dir']}, calibrated crop, "
                     "one refine pass; NME io on the faces it found, beside crops from their ground-truth boxes.")
    if meta.get("peer"):
        lines.append(f"Peer detector: {meta['peer']} (how dlib's 68-point predictor is run); the \"HOG's faces\" "
                     "columns are our detector-in-the-loop NME on the faces both detectors find, dlib's comparable "
                     "figure.")
    if any("nme_io_detector_flip" in r for r in rows):
        lines.append("flip: the same detector-in-the-loop path with test-time flipping (predict.py --flip: each crop "
                     "also run mirrored, the answers averaged; twice the model's cost per face).")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = Parser(__doc__)
    parser.add_argument("models", nargs="+", help="[NAME=]PATH of a .pth retrain checkpoint or an .onnx file")
    parser.add_argument("--data_root", help="DATA_ROOT whose test split gives NME")
    parser.add_argument("--runs", type=positive_int, default=300, help="timed calls per model (at least 200 advised)")
    parser.add_argument("--out", help="write OUT.md and OUT.json")
    parser.add_argument("--faces", help="whole images with .pts files for the detector-in-the-loop columns")
    parser.add_argument("--calibration", default=str(DEFAULT_CALIBRATION), help="detector calibration")
    parser.add_argument("--flip", action="store_true", help="also the detector columns with test-time flipping")
    return parser.parse_args(argv)


def headline(result):
    """The few columns a reader compares first: size, speed and accuracy, with and without the detector."""
    lines = ["| model | MACs (M) | ONNX (KB) | onnxruntime 1 thread (ms) | NME io (%) | NME io, detector in the loop "
             "(%) |", "|---|---:|---:|---:|---:|---:|"]
    for row in result["rows"]:
        detector = f"{100 * row['nme_io_detector']:.2f}" if row.get("nme_io_detector") is not None else "-"
        lines.append(f"| {row['model']} | {row['macs'] / 1e6:.2f} | {row['onnx_bytes'] / 1024:.0f} | "
                     f"{row['ort_1thread_ms']:.3f} | {100 * row['nme_io']:.2f} | {detector} |")
    return "\n".join(lines)


def publish(table, result, out=None):
    """Print a Markdown table; with ``out``, also write it to OUT.md, its figures to OUT.json and the
    headline columns to OUT.headline.md (when the result has benchmark rows)."""
    print(table)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        write_text(out + ".md", table + "\n")
        write_json(result, out + ".json")
        if isinstance(result, dict) and result.get("rows") and "ort_1thread_ms" in result["rows"][0]:
            write_text(out + ".headline.md", headline(result) + "\n")


def run(args):
    result = run_benchmark(args.models, args.data_root, args.runs, args.faces, args.calibration, args.flip)
    publish(markdown(result), result, args.out)


def main(argv=None):
    exit_on_user_error(run, parse_args(argv))


if __name__ == "__main__":
    main()
