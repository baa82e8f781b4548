"""Stage 3: export a fine-tuned subnet (or the baseline) to ONNX for mobile engines, and prove it.

    python export.py --supernet ckpt_save/supernet/checkpoint_best.pth \\
        --resume ckpt_save/subnet/checkpoint_best.pth --output output/subnet.onnx

One input ``input`` [N,3,112,112] (BGR in [0,1], dynamic batch), one output ``landmarks`` [N,2K];
onnx-simplifier applied; then onnxruntime is run against PyTorch on real-looking faces and the
largest difference must be <= 1e-4.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from data.synthetic import draw_face, random_pose
from dataset import DataError, LandmarkDataset
from lookup_table import LandmarksOnly
from models import landmark_model_from_checkpoint
from onnx_tools import export_onnx, make_session
from utils import CheckpointError, load_checkpoint

PARITY_TOLERANCE = 1e-4


def parity_images(data_root=None, count=8, seed=0):
    """Real test faces when a DATA_ROOT is given, otherwise generated faces: never plain noise."""
    if data_root:
        dataset = LandmarkDataset(Path(data_root) / "test_data" / "list.txt", data_root)
        return torch.stack([dataset[i][0] for i in range(min(count, len(dataset)))])
    rng = np.random.default_rng(seed)
    faces = [draw_face(random_pose(rng), rng) for _ in range(count)]
    return torch.from_numpy(np.stack(faces).transpose(0, 3, 1, 2).copy()).float() / 255.0


def export_landmark_model(model, output, images):
    """Export, simplify and check against PyTorch at two batch sizes; returns a report dict."""
    model = LandmarksOnly(model).eval()
    export_onnx(model, (images[:1],), output, ["input"], ["landmarks"], dynamic_batch=True)
    session = make_session(output, threads=1)
    outputs = [o.name for o in session.get_outputs()]
    if outputs != ["landmarks"]:
        raise RuntimeError(f"{output}: expected one output 'landmarks', the graph has {outputs}")
    differences = []
    for batch in (images[:1], images):
        with torch.no_grad():
            expected = model(batch).numpy()
        got = session.run(None, {"input": batch.numpy()})[0]
        if got.shape != expected.shape:
            raise RuntimeError(f"{output}: batch {len(batch)} gave shape {got.shape}, PyTorch {expected.shape}")
        differences.append(float(np.abs(got - expected).max()))
    return {"output": str(output), "size_bytes": Path(output).stat().st_size, "max_abs_diff": max(differences),
            "batch_sizes": [1, len(images)], "landmarks": int(expected.shape[1])}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resume", required=True, help="retrain.py checkpoint (subnet or baseline)")
    parser.add_argument("--supernet", help="supernet checkpoint; its architecture must match the subnet's")
    parser.add_argument("--output", default="output/subnet.onnx")
    parser.add_argument("--data_root", help="DATA_ROOT whose test faces feed the parity check")
    args = parser.parse_args(argv)
    try:
        state = load_checkpoint(args.resume, ("model", "model_type", "num_points"))
        if args.supernet and state["model_type"] == "subnet":
            chosen = load_checkpoint(args.supernet, ("arch",))["arch"]
            if chosen != state["arch"]:
                print(f"note: {args.resume} was fine-tuned with {','.join(state['arch'])}, not the supernet's "
                      f"choice {','.join(chosen)} (an edited arch.json); exporting the fine-tuned one")
        model = landmark_model_from_checkpoint(state)
        report = export_landmark_model(model, args.output, parity_images(args.data_root))
    except (CheckpointError, DataError) as error:
        sys.exit(f"error: {error}")
    print(f"wrote {report['output']}: {report['size_bytes'] / 1024:.1f} KB, {state['model_type']} "
          f"with {report['landmarks'] // 2} landmarks")
    print(f"onnxruntime vs PyTorch, batches {report['batch_sizes']}: max abs difference {report['max_abs_diff']:.2e}")
    if report["max_abs_diff"] > PARITY_TOLERANCE:
        sys.exit(f"error: parity check failed ({report['max_abs_diff']:.2e} > {PARITY_TOLERANCE})")


if __name__ == "__main__":
    main()
