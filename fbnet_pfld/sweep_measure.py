"""What a latency sweep measures of its finished points: each one's ONNX file (checked against PyTorch), its
last-epoch NME, its latency in one interleaved run with every other point, and the supernet's own estimate of it."""

from pathlib import Path

from fbnet_pfld.checkpoints import load_landmark_model
from fbnet_pfld.deploy import time_onnx_files
from fbnet_pfld.exporting import export_landmark_model, parity_images
from fbnet_pfld.one_shot import one_shot_estimates
from fbnet_pfld.utils import training_summary


def record_point(data_root, record, point, log=None):
    """Keep a finished fine-tune in the record: its ONNX file (checked against PyTorch), its row (wall time from
    ``log``, by default the log.csv beside its checkpoint)."""
    model, state = load_landmark_model(point["checkpoint"])
    point["onnx"] = export_landmark_model(model, record.onnx_target(point), parity_images(data_root))["output"]
    log = Path(log or Path(point["checkpoint"]).with_name("log.csv"))
    minutes = training_summary(log)["seconds"] / 60 if log.is_file() else float("nan")
    point["recorded"] = record.add_point(point, state["metrics"], state["epoch"] + 1, minutes, log)


def measure_points(args, out, table, points, warm):
    """Latency (interleaved, one run), last-epoch NME, the supernet's own NME of each point and how probable
    its budget's search found it."""
    images = parity_images(args.data_root)
    for k, point in enumerate(points):
        if "recorded" in point:
            row = point["recorded"]
            point.update(nme_io=row["nme_io"], nme_box=row["nme_box"], epochs=row["epochs"])
            continue
        model, state = load_landmark_model(point["checkpoint"])
        point["onnx"] = export_landmark_model(model, out / "onnx" / f"point{k}.onnx", images)["output"]
        point.update(nme_io=state["metrics"].get("nme_io", float("nan")), nme_box=state["metrics"]["nme_box"],
                     epochs=state["epoch"] + 1)
    for point, stats in zip(points, time_onnx_files([p["onnx"] for p in points], "onnxruntime", 1, args.runs)):
        point["measured_ms"] = stats["median"]
    for point in points:
        if "arch" in point:
            point["predicted_ms"] = table.predict(point["arch"])
    if Path(warm).is_file():  # the one-shot ranking needs the warm-up's supernet (a record alone has none)
        one_shot_estimates(points, warm, args.data_root, args.bn_batches)
