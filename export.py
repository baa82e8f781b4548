"""Stage 3: export a fine-tuned network to ONNX (and MNN) for mobile engines, and prove it.

    python export.py --resume ckpt_save/subnet/checkpoint_best.pth --output output/subnet.onnx
    python export.py --resume ... --output output/subnet.onnx --format mnn [--mnn_weights fp16]

One input ``input`` [N,3,112,112] (BGR in [0,1], dynamic batch), one output ``landmarks`` [N,2K];
onnx-simplifier applied; onnxruntime (and MNN) are run against PyTorch on real faces and the largest
difference must be <= 1e-4 (fp16/int8 MNN weights print what they cost instead).
"""

from pathlib import Path

from fbnet_pfld.checkpoints import load_checkpoint, load_landmark_model
from fbnet_pfld.cli import Parser, exit_on_user_error
from fbnet_pfld.deploy import MNN_WEIGHTS
from fbnet_pfld.exporting import export_landmark_model, export_mnn, parity_images
from fbnet_pfld.writes import refuse_input_as_output


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
    for output in (Path(args.output), Path(args.output).with_suffix(".mnn")):
        refuse_input_as_output(output, (args.resume, args.supernet), "--output")
    model, state = load_landmark_model(args.resume)
    print(provenance(args.resume, state))
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
    if args.format == "mnn":
        mnn = export_mnn(model, args.output, images, args.mnn_weights)
        print(f"wrote {mnn['output']}: {mnn['size_bytes'] / 1024:.1f} KB ({args.mnn_weights} weights)")
        print(f"MNN vs PyTorch: max abs difference {mnn['max_abs_diff']:.2e} "
              f"({mnn['max_abs_diff'] * images.shape[-1]:.3f} px of the 112-px crop)")


def provenance(path, state):
    """Which epoch a checkpoint holds and how it was picked: the last epoch is the honest model; the lowest
    test NME was chosen on the test split, so its figure is not a test result."""
    epoch, total = state.get("epoch"), (state.get("args") or {}).get("epochs")
    metrics, best = state.get("metrics") or {}, state.get("best_nme")
    where = f"{path}: {state['model_type']}, epoch {epoch} of {total}"
    if epoch is not None and total is not None and epoch + 1 == total:
        return f"{where} (the last epoch of its run)"
    if best is not None and metrics and best == metrics.get("nme_io", metrics.get("nme_box")):
        return (f"{where}; warning: the epoch of lowest test NME, chosen on the test split, so its NME is not a "
                "test result; export checkpoint_last.pth for an unbiased model")
    return f"{where} (an unfinished run)"


def main(argv=None):
    exit_on_user_error(run_export, parse_args(argv))


if __name__ == "__main__":
    main()
