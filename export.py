"""Stage 3: export a fine-tuned network to ONNX (and MNN) for mobile engines, and prove it.

    python export.py --resume ckpt_save/subnet/checkpoint_best.pth --output output/subnet.onnx
    python export.py --resume ... --output output/subnet.onnx --format mnn [--mnn_weights fp16]

One input ``input`` [N,3,112,112] (BGR in [0,1], dynamic batch), one output ``landmarks`` [N,2K];
onnx-simplifier applied; onnxruntime (and MNN) are run against PyTorch on real faces and the largest
difference must be <= 1e-4 (fp16/int8 MNN weights print what they cost instead).
"""

import sys
from pathlib import Path

import numpy as np
import torch

from checkpoints import load_checkpoint, load_landmark_model
from cli import Parser, exit_on_user_error
from data.synthetic import draw_face, random_pose
from dataset import load_test_set
from deploy import MNN_WEIGHTS, DeployError, LandmarksOnly, MnnSession, OrtSession, convert_to_mnn, export_onnx

PARITY_TOLERANCE = 1e-4


def parity_images(data_root=None, count=8, seed=0):
    """Real test faces when a DATA_ROOT is given, otherwise generated faces: never plain noise."""
    if data_root:
        dataset = load_test_set(data_root)
        return torch.stack([dataset[i][0] for i in range(min(count, len(dataset)))])
    rng = np.random.default_rng(seed)
    faces = [draw_face(random_pose(rng), rng) for _ in range(count)]
    return torch.from_numpy(np.stack(faces).transpose(0, 3, 1, 2).copy()).float() / 255.0


def max_difference(session, model, images):
    """Largest |runtime - PyTorch| over batch 1 and the whole batch."""
    differences = []
    for batch in (images[:1], images):
        with torch.no_grad():
            expected = model(batch).numpy()
        got = session.run({"input": batch.numpy()})[0]
        if got.shape != expected.shape:
            raise DeployError(f"batch {len(batch)} gave shape {got.shape}, PyTorch {expected.shape}")
        differences.append(float(np.abs(got - expected).max()))
    return max(differences)


def export_landmark_model(model, output, images):
    """Export, simplify and check against PyTorch at two batch sizes; returns a report dict."""
    model = LandmarksOnly(model).eval()
    export_onnx(model, (images[:1],), output, ["input"], ["landmarks"], dynamic_batch=True)
    session = OrtSession(output, threads=1)
    if session.output_names != ["landmarks"]:
        raise DeployError(f"{output}: expected one output 'landmarks', the graph has {session.output_names}")
    return {"output": str(output), "size_bytes": Path(output).stat().st_size,
            "max_abs_diff": max_difference(session, model, images), "batch_sizes": [1, len(images)],
            "landmarks": int(model(images[:1]).shape[1])}


def export_mnn(model, onnx_path, images, weights="fp32"):
    """Convert an exported ONNX file to .mnn beside it and check MNN against PyTorch."""
    mnn_path = Path(onnx_path).with_suffix(".mnn" if weights == "fp32" else f".{weights}.mnn")
    convert_to_mnn(onnx_path, mnn_path, weights)
    session = MnnSession(onnx_path, threads=1, mnn_path=mnn_path)
    return {"output": str(mnn_path), "size_bytes": mnn_path.stat().st_size, "weights": weights,
            "max_abs_diff": max_difference(session, LandmarksOnly(model).eval(), images)}


def parse_args(argv=None):
    parser = Parser(__doc__)
    parser.add_argument("--resume", required=True, help="retrain.py checkpoint (a subnet or a hand-designed net)")
    parser.add_argument("--supernet", help="supernet checkpoint; notes when the subnet's architecture differs")
    parser.add_argument("--output", default="output/subnet.onnx")
    parser.add_argument("--format", choices=["onnx", "mnn"], default="onnx", help="mnn: ONNX, then MNN beside it")
    parser.add_argument("--mnn_weights", choices=MNN_WEIGHTS, default="fp32",
                        help="fp16/int8 store smaller weights; the parity they cost is printed")
    parser.add_argument("--data_root", help="DATA_ROOT whose test faces feed the parity check")
    return parser.parse_args(argv)


def run_export(args):
    model, state = load_landmark_model(args.resume)
    if args.supernet and state["model_type"] == "subnet":
        chosen = load_checkpoint(args.supernet, ("arch",))["arch"]
        if chosen != state["arch"]:
            print(f"note: {args.resume} was fine-tuned with {','.join(state['arch'])}, not the supernet's "
                  f"choice {','.join(chosen)} (an edited arch.json); exporting the fine-tuned one")
    images = parity_images(args.data_root)
    report = export_landmark_model(model, args.output, images)
    print(f"wrote {report['output']}: {report['size_bytes'] / 1024:.1f} KB, {state['model_type']} "
          f"with {report['landmarks'] // 2} landmarks")
    print(f"onnxruntime vs PyTorch, batches {report['batch_sizes']}: max abs difference {report['max_abs_diff']:.2e}")
    failed = report["max_abs_diff"] > PARITY_TOLERANCE
    if args.format == "mnn":
        mnn = export_mnn(model, args.output, images, args.mnn_weights)
        print(f"wrote {mnn['output']}: {mnn['size_bytes'] / 1024:.1f} KB ({args.mnn_weights} weights)")
        print(f"MNN vs PyTorch: max abs difference {mnn['max_abs_diff']:.2e} "
              f"({mnn['max_abs_diff'] * images.shape[-1]:.3f} px of the 112-px crop)")
        failed |= args.mnn_weights == "fp32" and mnn["max_abs_diff"] > PARITY_TOLERANCE
    if failed:
        sys.exit(f"error: {args.output}: parity check failed (> {PARITY_TOLERANCE})")


def main(argv=None):
    exit_on_user_error(run_export, parse_args(argv))


if __name__ == "__main__":
    main()
