"""What every script shares: the training flags of both stages, and turning the project's own errors
into one line naming the file and a non-zero exit (a traceback is for bugs only).
"""

import argparse
import math
import sys
from pathlib import Path

from fbnet_pfld.checkpoints import load_checkpoint
from fbnet_pfld.distributed import setup_runtime, teardown_runtime
from fbnet_pfld.errors import UserError
from fbnet_pfld.fastpath import add_fastpath_args
from fbnet_pfld.losses import DEFAULT_LOSS, LOSSES
from fbnet_pfld.recipe import DEFAULT_OCCLUSION, add_recipe_args
from fbnet_pfld.sources import parse_source_weights

# What a user's input or environment can cause: the project's own errors, and the file system's (a full disk,
# a folder without write permission: OSError names the file). Anything else is a bug and keeps its traceback.
USER_ERRORS = (UserError, OSError)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The module docstring as written, and every flag's default in --help (unless it has none, or its help
    already says it)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)".strip()


FRESH_ON_RESUME = {"resume", "stop_after", "overwrite", "workers", "dev_id", "threads"}  # this process's own


def resumed_flags(path):
    """The flags a checkpoint was trained with ({} where it cannot be read: the stage then says why)."""
    try:
        saved = load_checkpoint(path).get("args")
    except USER_ERRORS:
        return {}
    return saved if isinstance(saved, dict) else {}


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``prog: error: ...``, exit status 2), the module docstring as help and
    the defaults shown."""

    resume_fills_flags = False  # set by add_common_args: the training stages' --resume
    filled = frozenset()  # after parse_args: the flags a --resume checkpoint filled in
    resumed = {}  # after parse_args: that checkpoint's flags

    def __init__(self, description=None, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("allow_abbrev", False)  # a flag is given by its whole name (see parse_args)
        super().__init__(description=description, **kwargs)

    def parse_args(self, args=None, namespace=None):
        """As argparse, and with ``--resume CHECKPOINT`` every flag not given takes the checkpoint's value, so
        that a run continues with ``--resume`` alone."""
        tokens = sys.argv[1:] if args is None else [str(a) for a in args]
        parsed = super().parse_args(tokens, namespace)
        self.filled, self.resumed = frozenset(), {}
        if self.resume_fills_flags and getattr(parsed, "resume", None):
            given = {action.dest for action in self._actions for option in action.option_strings
                     for token in tokens if token == option or token.startswith(option + "=")}
            self.resumed = resumed_flags(parsed.resume)
            self.filled = frozenset(name for name in self.resumed
                                    if hasattr(parsed, name) and name not in given and name not in FRESH_ON_RESUME)
            for name in self.filled:
                setattr(parsed, name, self.resumed[name])
        return parsed

    def format_help(self):
        for action in self._actions:  # a flag without help text still shows its default
            if action.help is None and action.option_strings and action.default not in (None, False):
                action.help = "(default: %(default)s)"
        return super().format_help()

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


DRAW_FLAGS = ("jitter", "source_weights", "epoch_size")


def add_draw_args(parser):
    """How training faces are drawn and cropped: flags the stages take and the experiment drivers (sweep,
    length protocol) pass on to every training they run (``draw_flags``)."""
    parser.add_argument("--jitter", help="a detector calibration (tools/calibrate_detector.py) whose spread the "
                        "training crops take (default: crops.CropJitter's, wider than yuface's)")
    parser.add_argument("--source_weights", help="draw training faces by collection or label source: "
                        "'helen=3,ytf=1', 'label:human=12,label:*=1' (default: each face once an epoch)")
    parser.add_argument("--epoch_size", type=int, help="faces drawn per epoch, so that an epoch is a fixed number "
                        "of steps whatever the list's length (default: the training list's length)")


def check_draw_args(parser, args):
    """Refuse an epoch smaller than a batch, or source weights that do not parse, before anything trains."""
    if args.epoch_size is not None and args.epoch_size < args.batch_size:
        parser.error(f"--epoch_size must be at least --batch_size ({args.batch_size}), got {args.epoch_size}")
    if args.source_weights:
        try:
            parse_source_weights(args.source_weights)
        except ValueError as error:
            parser.error(str(error))


def draw_flags(args):
    """The ``add_draw_args`` flags a driver was given, as a stage's command-line tokens."""
    return [token for name in DRAW_FLAGS if getattr(args, name) is not None
            for token in (f"--{name}", str(getattr(args, name)))]


def add_common_args(parser, default_batch=128):
    """Flags both stages take, with the reference's names (--data_root, --snapshot, --dev_id, --resume)."""
    parser.resume_fills_flags = True
    parser.add_argument("--data_root", default="data/faces68", help="DATA_ROOT with train_data/ and test_data/")
    parser.add_argument("--snapshot", default="ckpt_save", help="where the stage writes its folder")
    parser.add_argument("--dev_id", default="auto", help="'auto' (the first GPU if any, else the CPU), 'cpu', a "
                        "GPU index, or '0,1' for DataParallel")
    parser.add_argument("--num_points", type=int, help="landmarks per face (default: read from list.txt)")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch_size", type=int, default=default_batch)
    parser.add_argument("--loss", choices=list(LOSSES), default=DEFAULT_LOSS, help="training loss (losses.py)")
    add_draw_args(parser)
    parser.add_argument("--augment_scale", type=float, default=1.0, help="multiplies the training crops' shift, "
                        "scale and rotation spread")
    parser.add_argument("--occlusion", type=float, default=DEFAULT_OCCLUSION, help="probability of a random "
                        "rectangle hiding part of a training face")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", default="", help="checkpoint_last.pth to continue exactly; flags not given "
                        "take the checkpoint's values")
    parser.add_argument("--overwrite", action="store_true", help="train into a folder that holds another run, "
                        "moving that run aside first (OUT.old-N); without it such a folder is refused")
    parser.add_argument("--stop_after", type=int, help="stop after this many epochs of this run (time-limited "
                        "jobs); the schedule still spans --epochs, and --resume continues it")
    add_recipe_args(parser)
    add_fastpath_args(parser)


def check_common_args(parser, args):
    """Refuse numbers that would make a run silently wrong (exit 2 with argparse's one-line usage error)."""
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.workers < 0 or (args.stop_after is not None and args.stop_after < 1):
        parser.error("--workers must be >= 0 and --stop_after >= 1")
    check_draw_args(parser, args)
    for name in ("lr", "weight_decay", "augment_scale", "ema"):
        value = getattr(args, name)
        if value is not None and (not math.isfinite(value) or value < 0):
            parser.error(f"--{name} must be a finite number >= 0, got {value}")
    if args.ema >= 1 or not 0 <= args.occlusion <= 1 or args.lr_warmup < 0:
        parser.error("--ema must be below 1, --occlusion in [0, 1] and --lr_warmup >= 0")


def run_to_end(main, flags, folder, until):
    """Run a stage (its ``main``) until ``until`` epochs of its schedule are done, continuing a partial run in
    ``folder`` from its checkpoint_last.pth, or doing nothing when they already are: experiment drivers are
    resumable, and a shared warm-up can stop part way through a longer schedule."""
    from fbnet_pfld.checkpoints import load_checkpoint
    from fbnet_pfld.engine import LAST

    last = Path(folder) / LAST
    done = load_checkpoint(last)["epoch"] + 1 if last.is_file() else 0
    if done >= until:
        return
    main(flags + ["--stop_after", str(until - done)] + (["--resume", str(last)] if last.is_file() else []))


def exit_on_user_error(function, *args, **kwargs):
    """Run ``function``; a user error becomes ``error: <one line>`` on stderr and exit status 1."""
    try:
        return function(*args, **kwargs)
    except USER_ERRORS as error:
        message = " ".join(str(error).split()) or type(error).__name__
        sys.exit(f"error: {message}")


def run_stage(run, args):
    """Set up devices, run a stage with one-line errors, always tear down."""
    runtime = exit_on_user_error(setup_runtime, args.dev_id)
    try:
        return exit_on_user_error(run, args, runtime)
    finally:
        teardown_runtime(runtime)
