"""Stage 1: FBNet search. Train the supernet's weights and its architecture parameters theta together,
trading landmark accuracy against the lookup table's latency, and pick one op per layer.

    python supernet_train.py --data_root data/faces68 --snapshot ckpt_save --lut data/lut_x86_ort.json
    python supernet_train.py ... --target_ratio 0.15       # the most accurate under 0.15x pfld_lite's latency
    python supernet_train.py ... --target_latency 0.15     # ... under 0.15 in the table's unit (ms)
    torchrun --nproc_per_node 2 supernet_train.py ...       # DistributedDataParallel

Writes SNAPSHOT/supernet/: checkpoint_best.pth, checkpoint_last.pth, arch.json, log.csv, train.log,
curves.png and theta.png.
"""

import math
from pathlib import Path

from fbnet_pfld.argtypes import non_negative_float
from fbnet_pfld.cli import Parser, add_common_args, check_common_args, run_stage
from fbnet_pfld.runfolder import RunLock
from fbnet_pfld.search import BUDGETED, MODES
from fbnet_pfld.search_stage import SearchStage

DEFAULT_ALPHA = {"target": 20.0, "absolute": 1.0}
MODE_DEFAULTS = ("alpha", "min_budget_use")  # flags whose defaults depend on --mode
WARMUP_SHARE = 0.2  # the warm-up's default share of --epochs
DEFAULT_BUDGET_USE = {"absolute": 0.8}  # the absolute mode is the one that means to spend its budget


def parse_args(argv=None):
    parser = Parser(__doc__)
    add_common_args(parser, default_batch=128)
    parser.add_argument("--lut", default="data/lut_x86_ort.json", help="latency lookup table (JSON)")
    parser.add_argument("--warmup_epochs", type=int, help="epochs training weights only, before theta is searched "
                        "(default: a fifth of --epochs, 20 of the default 100)")
    parser.add_argument("--sample", choices=["soft", "hard"], default="hard",
                        help="soft: Gumbel-Softmax mix of all candidates; hard: straight-through, one candidate")
    parser.add_argument("--mode", choices=MODES,
                        help="mul: loss * alpha * (1 + log(L/L_min))^beta; add: loss + alpha * (L/L_min)^beta; "
                             "target: loss * (1 + alpha * max(0, L/T - 1)^2); absolute: loss * (1 + alpha * "
                             "|L/T - 1|), which spends the budget (default: target with --target_latency, else mul)")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--target_latency", type=float, help="latency budget T in the table's unit")
    budget.add_argument("--target_ratio", type=float, help="latency budget as a ratio to pfld_lite's latency "
                        "measured with the same table (0.16: the reference's budget); means the same on any machine")
    parser.add_argument("--min_budget_use", type=float,
                        help="the chosen architecture spends at least this share of the budget (default: 0.8 in "
                             "absolute mode, 0 in target mode)")
    parser.add_argument("--alpha", type=float, help="latency weight (default 0.25; 20 in target mode, 1 in absolute)")
    parser.add_argument("--beta", type=float, default=0.6)
    parser.add_argument("--deploy_runtime", default="onnxruntime",
                        help="the engine you deploy with; a table measured in another one is warned about")
    parser.add_argument("--theta_lr", type=float, default=0.01, help="AdamW learning rate of theta")
    parser.add_argument("--theta_weight_decay", type=float, default=5e-4)
    parser.add_argument("--temperature", type=float, default=5.0, help="initial Gumbel-Softmax temperature")
    parser.add_argument("--temperature_decay", type=float, default=0.045, help="T *= exp(-decay) per search epoch")
    parser.add_argument("--arch_fraction", type=float, default=0.2, help="share of TRAIN faces used to tune theta")
    parser.add_argument("--theta_only", action="store_true",
                        help="search epochs tune theta alone, the weights stay as the warm-up left them: one supernet, "
                             "trained once, searched at any number of budgets")
    parser.add_argument("--sandwich", action="store_true",
                        help="each weight step also trains the costliest and the cheapest architecture (BigNAS)")
    parser.add_argument("--inplace_distill", type=non_negative_float, default=0.0,
                        help="with --sandwich: weight of the costliest architecture's points as a second target of "
                             "the others (in-place distillation; 0: off)")
    args = parser.parse_args(argv)
    check_common_args(parser, args)
    check_search_args(parser, args)
    return args


def check_search_args(parser, args):
    """Fill the mode's defaults and refuse combinations that cannot mean anything, in one line each."""
    budgeted = args.target_latency is not None or args.target_ratio is not None
    args.mode = args.mode or ("target" if budgeted else "mul")
    if parser.resumed.get("mode") not in (None, args.mode):  # a warm-up resumed into another mode's search:
        for name in MODE_DEFAULTS:  # its defaults follow the new mode unless given
            if name in parser.filled:
                setattr(args, name, None)
    if args.alpha is None:
        args.alpha = DEFAULT_ALPHA.get(args.mode, 0.25)
    if args.min_budget_use is None:
        args.min_budget_use = DEFAULT_BUDGET_USE.get(args.mode, 0.0)
    elif (not budgeted and args.min_budget_use) or not 0 <= args.min_budget_use <= 1:  # 0: a resumed mul run's
        parser.error("--min_budget_use goes with a budget and is a share in [0, 1]")
    if (args.mode in BUDGETED) != budgeted:
        parser.error("--target_latency or --target_ratio goes with --mode target (the default when one is given) or "
                     "absolute")
    if args.mode == "mul" and args.alpha <= 0:
        parser.error("--mode mul needs --alpha > 0 (it scales the whole loss); use --mode add --alpha 0 "
                     "for a search that ignores latency")
    if args.inplace_distill and not args.sandwich:
        parser.error("--inplace_distill needs --sandwich (the costliest architecture is the teacher)")
    if args.warmup_epochs is None:
        args.warmup_epochs = round(WARMUP_SHARE * args.epochs)
    if not 0 <= args.warmup_epochs <= args.epochs:
        parser.error(f"--warmup_epochs {args.warmup_epochs} must be between 0 and --epochs {args.epochs}")
    if args.theta_only and args.warmup_epochs == 0:
        parser.error("--theta_only keeps the warm-up's weights: it needs --warmup_epochs > 0")
    for name in ("alpha", "beta", "temperature", "temperature_decay", "theta_lr", "target_latency", "target_ratio"):
        value = getattr(args, name)
        if value is not None and (not math.isfinite(value) or value < 0):
            parser.error(f"--{name} must be a finite number >= 0, got {value}")
    if args.temperature <= 0 or not 0 < args.arch_fraction < 1:
        parser.error("--temperature must be > 0 and --arch_fraction in (0, 1)")


def run_search(args, runtime):
    """Search; returns the trained supernet."""
    out_dir = Path(args.snapshot) / "supernet"
    with RunLock(out_dir, runtime.is_main):
        stage = SearchStage(args, runtime, out_dir)
        stage.run()
    return stage.supernet


def main(argv=None):
    run_stage(run_search, parse_args(argv))


if __name__ == "__main__":
    main()
