"""Package trained results under released/: slim checkpoints (no optimiser state), ONNX files,
arch.json and the lookup table used, so that a fresh clone runs predict.py and benchmark.py.

    python release.py --run ckpt_save --out released
"""

import argparse
import shutil
from pathlib import Path

from export import export_landmark_model, parity_images
from models import landmark_model_from_checkpoint
from utils import load_checkpoint, save_checkpoint

SUPERNET_KEYS = ("supernet", "aux", "epoch", "temperature", "arch", "search_space", "num_points", "theta_history",
                 "best_nme", "metrics", "lut_meta", "lut", "args")
RETRAIN_KEYS = ("model", "aux", "epoch", "best_nme", "metrics", "model_type", "arch", "num_points", "search_space",
                "args")


def slim(source, target, keys):
    """Copy only ``keys`` of a checkpoint: the weights and what describes them, not the optimisers."""
    state = load_checkpoint(source)
    save_checkpoint({k: state[k] for k in keys if k in state}, target)
    return state


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="ckpt_save", help="SNAPSHOT of the search and retrain runs")
    parser.add_argument("--out", default="released")
    parser.add_argument("--data_root", help="test faces for the export parity check")
    args = parser.parse_args(argv)
    run, out = Path(args.run), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    supernet = slim(run / "supernet/checkpoint_best.pth", out / "supernet.pth", SUPERNET_KEYS)
    shutil.copy(run / "supernet/arch.json", out / "arch.json")
    for name in ("log.csv", "theta.png", "curves.png"):
        shutil.copy(run / "supernet" / name, out / f"supernet_{name}")
    shutil.copy(supernet["lut"], out / Path(supernet["lut"]).name)
    for model in ("subnet", "baseline"):
        state = slim(run / model / "checkpoint_best.pth", out / f"{model}.pth", RETRAIN_KEYS)
        shutil.copy(run / model / "log.csv", out / f"{model}_log.csv")
        shutil.copy(run / model / "curves.png", out / f"{model}_curves.png")
        report = export_landmark_model(landmark_model_from_checkpoint(state), out / f"{model}.onnx",
                                       parity_images(args.data_root))
        print(f"{model}: {report['output']} {report['size_bytes'] / 1024:.0f} KB, "
              f"parity {report['max_abs_diff']:.1e}")
    for path in sorted(out.iterdir()):
        print(f"{path}  {path.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
