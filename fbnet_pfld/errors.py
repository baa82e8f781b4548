"""The errors a user's input or environment can cause, in one place. Each carries one line naming the file
(and line) at fault; the command line prints that line and exits non-zero (cli.exit_on_user_error), while
any other exception is a bug and keeps its traceback. Each class also derives from the built-in error it
stands for, so ``except ValueError`` around a parser still holds.
"""


class UserError(Exception):
    """Bad input or environment, not a bug: one line for the user, a non-zero exit.

    Raised inside a DataLoader worker, torch re-raises it in the main process with the worker's traceback
    as its message; the original one-line message is recovered here, so the user sees the same line."""

    def __init__(self, message=""):
        text = str(message)
        if "Original Traceback" in text:
            text = text.rstrip().splitlines()[-1].split(f"{type(self).__name__}: ", 1)[-1]
        super().__init__(text)


class DataError(UserError, ValueError):
    """A list.txt, image, point set, calibration or other input file that cannot be used as it is."""


class SearchSpaceError(UserError, ValueError):
    """A search space or architecture that does not fit the stem, the head or the candidate ops."""


class SearchError(UserError, ValueError):
    """A search objective or latency budget that cannot be met or makes no sense."""


class LookupTableError(UserError, ValueError):
    """A table that does not fit the search space or the format, naming the file and the entry."""


class CheckpointError(UserError, RuntimeError):
    """A checkpoint that cannot be read: missing, truncated, corrupted, not ours or of another model."""


class DeployError(UserError, RuntimeError):
    """An export, conversion or engine that fails or disagrees with PyTorch."""


class TrainingError(UserError, RuntimeError):
    """A run that cannot go on (a NaN or infinite loss): one line, the last good checkpoint kept."""


class DeviceError(UserError, ValueError):
    """A device that is not there (``--dev_id 5`` on a machine with fewer GPUs) or a malformed device flag."""


class WriteError(UserError, OSError):
    """An output that could not be written (a full disk, a folder in the way, an output that is an input):
    the previous file, if any, is left as it was."""
