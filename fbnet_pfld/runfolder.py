"""Who may write into a run folder: one training at a time (a lock held while it trains), a new run only
into a folder without one (``--overwrite`` moves the old run aside first), and a resume only into the run
its checkpoint came from."""

import os
from pathlib import Path

from fbnet_pfld.errors import TrainingError
from fbnet_pfld.jsonfile import read_json, write_json
from fbnet_pfld.utils import read_csv_rows

BEST, LAST = "checkpoint_best.pth", "checkpoint_last.pth"

try:
    import fcntl
except ImportError:
    fcntl = None


def holds_run(out_dir):
    """True when OUT_DIR holds a run: a checkpoint or a logged epoch."""
    out_dir = Path(out_dir)
    return (out_dir / LAST).is_file() or (out_dir / BEST).is_file() or len(logged_rows(out_dir)) > 0


def logged_rows(out_dir):
    log = Path(out_dir) / "log.csv"
    return read_csv_rows(log) if log.is_file() else []


class RunLock:
    """``with RunLock(OUT_DIR):`` holds an exclusive lock on OUT_DIR while a training writes into it: a second
    training into the same folder is refused while the first runs (the lock ends with the process, however it
    ends). The lock file lies beside the folder (``.NAME.lock``), so that moving an old run aside keeps it."""

    def __init__(self, out_dir, is_main=True):
        self.out_dir, self.is_main, self.handle = Path(out_dir), is_main, None

    def __enter__(self):
        if not self.is_main or fcntl is None:  # Windows: no advisory locks; the folder checks still hold
            return self
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.out_dir.parent / f".{self.out_dir.name}.lock", "a+")  # noqa: SIM115
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.handle.seek(0)
            holder = self.handle.read().strip() or "another process"
            self.handle.close()
            raise TrainingError(f"{self.out_dir}: a training is running into this folder ({holder}); wait for "
                                "it to end, or give another --snapshot") from None
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(f"pid {os.getpid()}\n")
        self.handle.flush()
        return self

    def __exit__(self, *exc):
        if self.handle is not None:
            # Unlocked explicitly: loader workers forked during the run share the lock through the descriptor
            # they inherited, and would otherwise hold it until they are reaped.
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()


def same_folder(a, b):
    return Path(a).resolve() == Path(b).resolve()


def claim_run_folder(out_dir, resume, overwrite, is_main=True):
    """Refuse to train into a folder that holds another run (its checkpoints and log would be replaced),
    unless resuming that very run; ``overwrite`` moves the old run aside to OUT_DIR.old-N first. Returns the
    folder the old run was moved to, or None."""
    out_dir = Path(out_dir)
    if not is_main or not holds_run(out_dir):
        return None
    if resume and (not Path(resume).is_file() or same_folder(Path(resume).parent, out_dir)):
        return None  # a checkpoint that is not there is named by the loader, the error that matters first
    if resume and not overwrite:
        raise TrainingError(f"{out_dir}: holds another run than {resume}'s; resume it into its own folder "
                            f"(--snapshot {Path(resume).parent.parent}), or give --overwrite to move this one aside")
    if not overwrite:
        raise TrainingError(f"{out_dir}: holds another run ({LAST} or log.csv); continue it with --resume "
                            f"{out_dir / LAST}, or give --overwrite to move it aside")
    n = 1
    while out_dir.with_name(f"{out_dir.name}.old-{n}").exists():
        n += 1
    aside = out_dir.with_name(f"{out_dir.name}.old-{n}")
    out_dir.rename(aside)
    return aside


def remember_flags(record, flags, error, what):
    """An experiment's fixed flags (a dict, JSON-ready) are written to RECORD on its first run; a rerun that
    changes one is refused with ``error`` (more points may be added; what each point is may not change). A flag the
    record lacks (fixed by a later version) is added to it."""
    record = Path(record)
    if not record.is_file():
        write_json(flags, record)
        return
    saved = read_json(record, error, f"{what} record")
    for name, value in flags.items():
        if name in saved and saved[name] != value:
            raise error(f"{record}: this {what} ran with --{name} {saved[name]}, this run asks for {value}; its "
                        "results would mix both (give another --out)")
    if flags.keys() - saved.keys():  # a flag fixed since the record began: fixed from now on
        write_json(saved | flags, record)
