"""Hostile-input cases of run folders: a resume into another run's folder, two trainings into one folder at
once. Used by tools/hostile_cases.py."""


import retrain
from fbnet_pfld.runfolder import RunLock
from tools.hostile_fixtures import copied_run, fine_tune, fresh


def resume_into_other_run(ctx):
    main, argv = fine_tune(ctx, None, "--snapshot", str(copied_run(ctx, "otherrun")))
    return main, argv + ["--epochs", "2", "--resume", str(ctx["subnet"])]


def train_while_locked(argv):
    """retrain.main(argv) while this process holds the lock of its snapshot's subnet/ folder: a training that
    runs into the same folder."""
    snapshot = argv[len(argv) - 1 - argv[::-1].index("--snapshot") + 1]  # the last --snapshot counts
    with RunLock(f"{snapshot}/subnet"):
        retrain.main(argv)


def second_training(ctx):
    return train_while_locked, fine_tune(ctx, None, "--snapshot", str(fresh(ctx, "locked")))[1]


CASES = {
    "resume into another run's folder": (resume_into_other_run, "otherrun/subnet"),
    "two trainings into one folder": (second_training, "locked/subnet"),
}


def resume_own_run(ctx):
    """A run stopped after its first epoch, then its resume into its own folder."""
    snapshot = fresh(ctx, "ownrun")
    main, argv = fine_tune(ctx, None, "--snapshot", str(snapshot), "--epochs", "2")
    if not (snapshot / "subnet/checkpoint_last.pth").exists():
        main(argv + ["--stop_after", "1"])
    return main, argv + ["--resume", str(snapshot / "subnet/checkpoint_last.pth")]


WORKS = {
    "resume into its own folder": resume_own_run,
}
