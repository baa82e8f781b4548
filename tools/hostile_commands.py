"""Hostile-input cases of the commands around training: retrain/search flags and files, export, the
benchmark, the release, the sweep, the ranking and time_to_accuracy; and unusual but valid runs of them.
Used by tools/hostile_cases.py."""


import export
import retrain
import supernet_train
import sweep
from fbnet_pfld import prepare
from tools import benchmark, length_protocol, ranking, release, time_to_accuracy
from tools.hostile_fixtures import FAST, copied_run, face_with_pts, fine_tune, fresh, predict_with, search, write_text


def text_file(ctx, name, text="not what it should be\n"):
    return write_text(fresh(ctx, "cmd-files") / name, text)


def with_flags(ctx, *flags):
    """A fine-tune with ``flags``, into a folder of its own."""
    return fine_tune(ctx, None, "--snapshot", str(fresh(ctx, "cmd-flags-" + "".join(flags).replace("/", "")[-40:])),
                     *flags)


def sweep_with(ctx, *flags):
    out = fresh(ctx, "cmd-sweep")
    return sweep.main, ["--data_root", str(ctx["root"]), "--lut", str(ctx["lut"]), "--out", str(out), "--warmup", "1",
                        "--search_epochs", "1", "--finetune_epochs", "1", "--batch_size", "8", "--workers", "0",
                        "--runs", "5", "--randoms", "0", "--baselines", *flags]


def protocol_with(ctx, *flags):
    """The length protocol of one hand-designed network, with ``flags`` last (they win)."""
    return length_protocol.main, ["--data_root", str(ctx["root"]), "--networks", "baseline", "--lengths", "1",
                                  "--out", str(fresh(ctx, "cmd-protocol")), "--batch_size", "8", "--workers", "0",
                                  *flags]


def release_with(ctx, *flags):
    return release.main, ["--no_search", "--out", str(fresh(ctx, "cmd-release") / "out"), *flags]


def tta(ctx, *arms, extra=()):
    common = (f"--model subnet --supernet {ctx['supernet']} --data_root {ctx['root']} --batch_size 8 --workers 0 "
              "--dev_id cpu --fastpath eager")
    return time_to_accuracy.main, ["--out", str(fresh(ctx, "cmd-tta")), "--common", common,
                                   *[a for arm in arms for a in ("--arm", arm)], *extra]


CASES = {
    # training flags
    "retrain weight_decay negative": (lambda c: with_flags(c, "--weight_decay", "-1"), "--weight_decay"),
    "retrain epoch_size 0": (lambda c: with_flags(c, "--epoch_size", "0"), "--epoch_size"),
    "retrain distill_weight nan": (lambda c: with_flags(c, "--distill_weight", "nan"), "--distill_weight"),
    "retrain lr negative": (lambda c: with_flags(c, "--lr", "-0.1"), "--lr"),
    "retrain arch file missing": (lambda c: with_flags(c, "--arch", str(fresh(c, "cmd-files") / "none.json")),
                                  "none.json"),
    "retrain jitter file missing": (lambda c: with_flags(c, "--jitter", str(fresh(c, "cmd-files") / "none.json")),
                                    "none.json"),
    "retrain jitter not JSON": (lambda c: with_flags(c, "--jitter", str(text_file(c, "jitter.json"))), "jitter.json"),
    "retrain snapshot is a file": (lambda c: (retrain.main, fine_tune(c)[1] + [
        "--snapshot", str(text_file(c, "snapshot_file"))]), "snapshot_file"),
    "retrain data_root missing": (lambda c: (retrain.main, fine_tune(c)[1] + [
        "--data_root", str(fresh(c, "cmd-files") / "no_data")]), "no_data"),
    "retrain model unknown": (lambda c: with_flags(c, "--model", "resnet9000"), "--model"),
    "retrain width multiplier zero": (lambda c: with_flags(c, "--model", "pfld_lite@0"), "--model"),
    "search lut missing": (lambda c: search(c, None, fresh(c, "cmd-files") / "none_lut.json"), "none_lut.json"),
    "search theta_lr negative": (lambda c: search(c, None, None, "--theta_lr", "-1"), "--theta_lr"),
    "search target_ratio nan": (lambda c: search(c, None, None, "--target_ratio", "nan"), "--target_ratio"),
    "search snapshot is a file": (lambda c: (supernet_train.main, search(c)[1] + [
        "--snapshot", str(text_file(c, "search_snapshot_file"))]), "search_snapshot_file"),
    # export
    "export output under a file": (lambda c: (export.main, ["--resume", str(c["subnet"]), "--output",
                                                            str(text_file(c, "blocker") / "m.onnx")]), "blocker"),
    "export data_root missing": (lambda c: (export.main, ["--resume", str(c["subnet"]), "--output", str(
        fresh(c, "cmd-export") / "m.onnx"), "--data_root", str(fresh(c, "cmd-files") / "no_root")]), "no_root"),
    "export checkpoint that is text": (lambda c: (export.main, ["--resume", str(text_file(c, "text.pth")), "--output",
                                                                str(fresh(c, "cmd-export") / "t.onnx")]), "text.pth"),
    "export unknown format": (lambda c: (export.main, ["--resume", str(c["subnet"]), "--format", "tflite"]),
                              "--format"),
    # benchmark
    "benchmark model missing": (lambda c: (benchmark.main, [str(fresh(c, "cmd-files") / "none.onnx")]), "none.onnx"),
    "benchmark a supernet": (lambda c: (benchmark.main, [str(c["supernet"])]), "checkpoint_last.pth"),
    "benchmark runs 0": (lambda c: (benchmark.main, ["--runs", "0", str(c["model"])]), "--runs"),
    "benchmark text .onnx": (lambda c: (benchmark.main, [str(text_file(c, "bench.onnx"))]), "bench.onnx"),
    "benchmark two rows of one name": (lambda c: (benchmark.main, [f"a={c['model']}", f"a={c['subnet']}"]), "a"),
    "benchmark data_root missing": (lambda c: (benchmark.main, ["--data_root", str(fresh(c, "cmd-files") / "nodata"),
                                                                str(c["model"])]), "nodata"),
    "predict refine a billion": (lambda c: predict_with(c, "--refine", "1000000000"), "--refine"),
    # release
    "release model folder missing": (lambda c: release_with(c, "--models", f"m={fresh(c, 'cmd-files') / 'nofolder'}"),
                                     "nofolder"),
    "release sweep without pareto.csv": (lambda c: release_with(c, "--models", "--sweep", str(fresh(c, "cmd-empty"))),
                                         "pareto.csv"),
    "release keep of a model not released": (lambda c: release_with(c, "--keep", "ghost", "--models"), "ghost.pth"),
    "release out is a file": (lambda c: (release.main, [
        "--no_search", "--models", f"m={copied_run(c, 'cmd-run')}/subnet", "--out", str(text_file(c, "release_file"))]),
                              "release_file"),
    "release a search with --lut not a table": (lambda c: (release.main, [
        "--supernet", str(c["supernet"].parent), "--lut", str(text_file(c, "id_rsa", "PRIVATE KEY\n")), "--models",
        "--out", str(fresh(c, "cmd-release-lut"))]), "id_rsa"),
    "release keep_search without one": (lambda c: (release.main, ["--keep_search", "--models", "--out", str(
        fresh(c, "cmd-release-keep"))]), "--keep_search"),
    "release record without sweep.json": (lambda c: release_with(c, "--record", str(broken_record(c, "1")),
                                                                 "--models", "b=baseline"), "sweep.json"),
    "release record model without a spec": (lambda c: release_with(c, "--record", str(record_of(c)), "--models",
                                                                   "small"), "NAME=ARCH_JSON"),
    "release record of a model it never trained": (lambda c: release_with(c, "--record", str(record_of(c)),
                                                                          "--models", "x=pfld_lite@0.5"),
                                                   "no training of pfld_lite@0.5"),
    "release record row without its log": (lambda c: release_with(c, "--record", str(record_of(c)), "--models",
                                                                  "b=baseline"), "logs/p.csv"),
    "release record arch file missing": (lambda c: release_with(c, "--record", str(record_of(c)), "--models",
                                                                f"s={fresh(c, 'cmd-files') / 'none.json'}"),
                                         "none.json"),
    "release record sweep.json of another kind": (lambda c: release_with(c, "--record", str(record_of(
        c, '["a list"]')), "--models", "b=baseline"), "not a sweep's record"),
    # sweep
    "sweep lut missing": (lambda c: (sweep.main, sweep_with(c)[1] + ["--lut", str(fresh(c, "cmd-files") / "x.json")]),
                          "x.json"),
    "sweep ratios zero": (lambda c: sweep_with(c, "--ratios", "0"), "--ratios"),
    "sweep targets negative": (lambda c: sweep_with(c, "--targets", "-1"), "--targets"),
    "sweep width family zero": (lambda c: sweep_with(c, "--width_family", "0"), "--width_family"),
    "sweep out is a file": (lambda c: (sweep.main, sweep_with(c)[1] + ["--out", str(text_file(c, "sweep_file"))]),
                            "sweep_file"),
    "sweep rerun with another loss": (lambda c: sweep_rerun(c, "--loss", "pfld"), "--loss"),
    "sweep rerun with another fast path": (lambda c: sweep_rerun(c, "--fastpath", "eager"), "--fastpath"),
    "sweep fast path auto": (lambda c: sweep_with(c, "--fastpath", "auto"), "--fastpath"),
    "sweep source_weights malformed": (lambda c: sweep_with(c, "--source_weights", "helen"), "--source_weights"),
    "sweep record with a bad line": (lambda c: sweep_with(c, "--record", str(broken_record(c, "one"))),
                                     "points.csv:2"),
    "sweep record without its ONNX": (lambda c: sweep_with(c, "--record", str(broken_record(c, "1", "x.onnx"))),
                                      "onnx/x.onnx"),
    # length protocol
    "length protocol arch file missing": (lambda c: protocol_with(c, "--networks", "a=none.json"), "NAME=ARCH.json"),
    "length protocol length zero": (lambda c: protocol_with(c, "--lengths", "0"), "--lengths"),
    "length protocol fast path auto": (lambda c: protocol_with(c, "--fastpath", "auto"), "--fastpath"),
    "length protocol threshold above 1": (lambda c: protocol_with(c, "--threshold", "2"), "--threshold"),
    "length protocol record with a bad line": (lambda c: protocol_with(c, "--record", str(text_file(
        c, "record.csv", "network,spec,epochs,seed,nme_io,nme_box,minutes\na,a,5,0,low,0.1,1\n"))), "record.csv:2"),
    # ranking
    "ranking pareto missing": (lambda c: (ranking.main, ["--pareto", str(fresh(c, "cmd-files") / "p.csv"),
                                                         f"a={c['supernet']}"]), "p.csv"),
    "ranking supernet without a name": (lambda c: (ranking.main, ["--pareto", str(text_file(c, "p2.csv")),
                                                                  str(c["supernet"])]), "NAME="),
    # time_to_accuracy
    "tta arm without flags": (lambda c: tta(c, "a"), "--arm"),
    "tta arm names twice": (lambda c: tta(c, "a=--epochs 1", "a=--epochs 2"), "unique"),
    "tta chunk 0": (lambda c: tta(c, "a=--epochs 1", extra=("--chunk", "0")), "--chunk"),
    "tta arm with an unknown flag": (lambda c: tta(c, "a=--epochz 2"), "--epochz"),
    "tta report before any run": (lambda c: tta(c, "a=--epochs 1", extra=("--report_only",)), "log.csv"),
    # prepare
    "prepare train folder missing": (lambda c: (prepare.main, ["--train", str(fresh(c, "cmd-files") / "nope"), "--out",
                                                               str(fresh(c, "cmd-prep"))]), "nope"),
    "prepare label_source malformed": (lambda c: (prepare.main, ["--train", str(c["root"]), "--out", str(
        fresh(c, "cmd-prep")), "--label_source", "ytf"]), "--label_source"),
    "prepare append of another point count": (lambda c: append_to(
        c, "cmd-append-mixed", face_with_pts(c, "cmd-pts5", points=5), face_with_pts(c, "cmd-pts68")), "list.txt"),
}


def broken_record(ctx, epochs, onnx="p.onnx", name=None):
    """A sweep record of one row: ``epochs`` (a bad number) or an ONNX file it does not hold."""
    folder = fresh(ctx, name or f"cmd-record-{epochs}-{onnx}")
    (folder / "onnx").mkdir(exist_ok=True)
    write_text(folder / "onnx" / "p.onnx", "not read until it is timed")
    write_text(folder / "points.csv", "network,seed,epochs,nme_io,nme_box,minutes,onnx\n"
                                      f"baseline,0,{epochs},0.05,0.03,1.5,{onnx}\n")
    return folder


def record_of(ctx, flags='{"finetune_epochs": 1}'):
    """A sweep record of one training (baseline, 1 epoch) with its sweep.json ``flags`` and no logs."""
    folder = broken_record(ctx, "1", name=f"cmd-record-of-{len(flags)}")
    write_text(folder / "sweep.json", flags + "\n")
    return folder


def sweep_rerun(ctx, *flags):
    """A finished (tiny) sweep, then the same sweep asked again with ``flags`` changed."""
    main, argv = sweep_with(ctx)
    argv = argv[:argv.index("--out") + 1] + [str(fresh(ctx, "cmd-sweep2"))] + argv[argv.index("--out") + 2:]
    if not (fresh(ctx, "cmd-sweep2") / "pareto.csv").exists():
        main(argv + ["--budgets", "1"])
    return main, argv + ["--budgets", "1", *flags]


WORKS = {
    "tta arm with --epochs=1": lambda c: tta(c, "a=--epochs=1"),
    "prepare append of a source twice": lambda c: append_to(c, "cmd-append-twice", face_with_pts(c, "cmd-pts68"),
                                                            face_with_pts(c, "cmd-pts68")),
    "prepare append of a source with the same names": lambda c: append_to(
        c, "cmd-append-names", face_with_pts(c, "cmd-pts68b", shift=3), face_with_pts(c, "cmd-pts68")),
    "retrain with FAST flags and --ema": lambda c: (retrain.main, fine_tune(c, None, "--snapshot", str(
        fresh(c, "cmd-ema")), "--ema", "0.9", *FAST)[1]),
}


def append_to(ctx, out_name, source, first=None):
    """``prepare --append`` of ``source`` into an output that ``first`` (a folder) was prepared into."""
    out = fresh(ctx, out_name) / "out"
    if first is not None and not (out / "train_data/list.txt").exists():
        prepare.main(["--train", str(first), "--out", str(out)])
    return prepare.main, ["--train", str(source), "--out", str(out), "--append"]

