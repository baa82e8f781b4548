"""Stage 2: fine-tune the searched subnet (or train a hand-designed network with the same recipe).

    python retrain.py --supernet ckpt_save/supernet/checkpoint_best.pth --data_root data/faces68
    python retrain.py --supernet ... --arch my_arch.json          # an edited architecture
    python retrain.py --supernet ... --from_scratch               # no weight transfer, to compare
    python retrain.py --model baseline --data_root data/faces68   # a hand-designed network

Writes SNAPSHOT/MODEL/ (subnet, baseline, ...): checkpoint_best.pth (lowest test NME),
checkpoint_last.pth, log.csv, train.log, curves.png.
"""

from pathlib import Path

from fbnet_pfld.argtypes import model_name, non_negative_float
from fbnet_pfld.cli import Parser, add_common_args, check_common_args, run_stage
from fbnet_pfld.retrain_stage import RetrainStage
from fbnet_pfld.runfolder import RunLock


def parse_args(argv=None):
    parser = Parser(__doc__)
    add_common_args(parser, default_batch=64)  # the recipe's: twice the steps at about the same cost
    parser.add_argument("--supernet", help="supernet checkpoint: the architecture and the weights to start from")
    parser.add_argument("--arch", help="arch.json (or a JSON list of op names) overriding the checkpoint's choice")
    parser.add_argument("--model", type=model_name, default="subnet",
                        help="subnet, pfld_lite, baseline, or pfld_lite@W: pfld_lite at width multiplier W")
    parser.add_argument("--from_scratch", action="store_true", help="random init instead of the supernet's weights")
    parser.add_argument("--teacher", help="a trained landmark checkpoint (same points) to distil from")
    parser.add_argument("--distill_weight", type=non_negative_float, default=1.0,
                        help="weight of the teacher's points as a second target (with --teacher)")
    args = parser.parse_args(argv)
    check_common_args(parser, args)
    if args.model == "subnet" and not args.supernet and not (args.arch and args.from_scratch):
        parser.error("a subnet needs --supernet (architecture and weights), or --arch with --from_scratch")
    return args


def run_retrain(args, runtime):
    """Fine-tune; returns the trained network."""
    out_dir = Path(args.snapshot) / args.model
    with RunLock(out_dir, runtime.is_main):
        stage = RetrainStage(args, runtime, out_dir)
        stage.run()
    return stage.network


def main(argv=None):
    run_stage(run_retrain, parse_args(argv))


if __name__ == "__main__":
    main()
