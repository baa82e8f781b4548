import math

import pytest

from fbnet_pfld.archfile import write_arch
from fbnet_pfld.errors import DataError
from fbnet_pfld.lookup_table import LookupTable
from fbnet_pfld.protocol import add_row, length_agreement, read_record, report, shortest_faithful
from fbnet_pfld.synthetic import make_synthetic_dataset
from fbnet_pfld.table_builders import build_flops_table
from tools import length_protocol


def row(network, epochs, nme, seed=0):
    return {"network": network, "spec": network, "epochs": epochs, "seed": seed, "nme_io": nme, "nme_box": nme,
            "minutes": 1.0}


def rows_of(nme_by_length):
    return [row(f"n{k}", epochs, nme) for epochs, values in nme_by_length.items() for k, nme in enumerate(values)]


def test_the_shortest_length_that_ranks_like_the_longest_is_chosen():
    final = [0.05, 0.06, 0.07, 0.08, 0.09, 0.10]
    rows = rows_of({5: [0.10, 0.09, 0.08, 0.07, 0.06, 0.05],   # reversed: tau -1
                    15: [0.06, 0.05, 0.07, 0.08, 0.09, 0.10],  # one pair swapped: tau 13/15
                    150: final})
    agreement = length_agreement(rows, seed=0)
    assert [(e, n) for e, _, n in agreement] == [(5, 6), (15, 6), (150, 6)]
    assert agreement[0][1] == pytest.approx(-1) and agreement[1][1] == pytest.approx(13 / 15)
    assert shortest_faithful(agreement, 0.8, 6) == 15
    assert shortest_faithful(agreement, 0.9, 6) is None  # then the longest length is the protocol
    assert shortest_faithful(agreement, 0.8, 7) is None  # too few networks for a verdict
    text = report(rows, 0, 0.8, 6)
    assert "15 epochs rank like 150" in text and "| -1.00 (6) | 0.87 (6) | 1.00 (6) |" in text


def test_a_diverged_training_ranks_last_and_other_seeds_stay_apart():
    rows = rows_of({5: [0.05, math.nan, 0.07], 50: [0.05, 0.09, 0.07]}) + [row("n0", 5, 0.5, seed=1)]
    (_, tau, count), _ = length_agreement(rows, seed=0)
    assert tau == pytest.approx(1.0) and count == 3
    [(epochs, tau, count)] = length_agreement(rows, seed=1)  # seed 1 has one network: no ranking to compare
    assert (epochs, count) == (5, 1) and math.isnan(tau)


def test_the_record_is_rewritten_whole_and_bad_lines_are_named(tmp_path):
    record = tmp_path / "record.csv"
    add_row(record, row("a", 5, 0.07))
    add_row(record, row("b", 5, 0.08))
    add_row(record, row("a", 5, 0.06))  # the same training again replaces its row
    assert [(r["network"], r["nme_io"]) for r in read_record(record)] == [("a", 0.06), ("b", 0.08)]
    lines = record.read_text().splitlines()
    record.write_text("\n".join(lines[:2] + [lines[2].replace("0.08", "eight")]) + "\n")
    with pytest.raises(DataError, match=r"record.csv:3: expected numbers"):
        read_record(record)
    record.write_text("network,epochs\n")
    with pytest.raises(DataError, match=r"record.csv:1: expected the header"):
        read_record(record)


def test_the_protocol_trains_each_length_once_and_continues_from_its_record(tmp_path, capsys):
    root = make_synthetic_dataset(tmp_path / "data", num_points=68, train=24, test=8, seed=7)
    table = LookupTable(build_flops_table(68))
    write_arch(tmp_path / "cheap.json", table.cheapest_arch(), table.search_space)
    args = ["--data_root", str(root), "--networks", f"cheap={tmp_path / 'cheap.json'}", "baseline",
            "--lengths", "2", "1", "--out", str(tmp_path / "runs"), "--batch_size", "8", "--workers", "0",
            "--epoch_size", "16", "--min_networks", "2"]
    rows = length_protocol.run_protocol(length_protocol.parse_args(args))
    assert sorted((r["network"], r["epochs"]) for r in rows) == [("baseline", 1), ("baseline", 2), ("cheap", 1),
                                                                 ("cheap", 2)]
    assert all(0 < r["nme_io"] < 10 and r["minutes"] > 0 for r in rows)
    record = tmp_path / "runs/length_protocol.csv"
    assert "Kendall tau against the longest" in record.with_suffix(".md").read_text()
    assert record.with_suffix(".png").stat().st_size > 5_000
    # On a machine without the runs folder, the record alone says what is done: nothing trains again.
    for folder in (tmp_path / "runs").glob("*_epochs"):
        for path in sorted(folder.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        folder.rmdir()
    again = length_protocol.run_protocol(length_protocol.parse_args(args))
    assert again == rows and not list((tmp_path / "runs").glob("*_epochs"))
    with pytest.raises(SystemExit, match="length_protocol.json: this length protocol ran with --epoch_size 16"):
        length_protocol.main(args[:-4] + ["--epoch_size", "24", "--min_networks", "2"])
    capsys.readouterr()


@pytest.mark.parametrize("networks, message", [(["nothing=missing.json"], "expected NAME=ARCH.json"),
                                               (["pfld_lite", "pfld_lite"], "two networks share a name"),
                                               (["resnet9000"], "resnet9000")])
def test_a_bad_network_is_one_line(tmp_path, networks, message):
    with pytest.raises(SystemExit, match=message):
        length_protocol.main(["--data_root", str(tmp_path), "--networks", *networks, "--lengths", "1",
                              "--out", str(tmp_path / "runs")])


def add_rows(record, prefix, count):
    for k in range(count):
        add_row(record, row(f"{prefix}{k}", 5, 0.05 + k / 1000))


def test_two_jobs_adding_rows_to_one_record_lose_none(tmp_path):
    import multiprocessing

    record = tmp_path / "record.csv"
    context = multiprocessing.get_context("fork")
    jobs = [context.Process(target=add_rows, args=(record, prefix, 40)) for prefix in ("a", "b")]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(timeout=120)
    assert [job.exitcode for job in jobs] == [0, 0]
    assert len(read_record(record)) == 80


def test_a_sweeps_recorded_trainings_count_as_the_longest_length(tmp_path):
    from fbnet_pfld.jsonfile import write_json
    from fbnet_pfld.sweep_record import SweepRecord

    root = make_synthetic_dataset(tmp_path / "data", num_points=68, train=8, test=4, seed=9)
    swept = SweepRecord(tmp_path / "sweep_record")
    point = {"kind": "width", "model": "baseline", "seed": 0}
    swept.onnx_target(point).parent.mkdir(parents=True)
    swept.onnx_target(point).write_bytes(b"an ONNX file")
    swept.add_point(point, {"nme_io": 0.061, "nme_box": 0.04}, 150, 42.0)
    flags = {"data_root": root.resolve().name, "batch_size": 64, "loss": "wing", "jitter": None,  # as records keep it
             "source_weights": None, "epoch_size": 4332, "fastpath": "channels_last"}
    write_json(flags, swept.folder / "sweep.json")
    args = ["--data_root", str(root), "--networks", "baseline", "--lengths", "5", "--out", str(tmp_path / "runs"),
            "--epoch_size", "4332", "--from_sweep", str(swept.folder), "--report_only"]
    rows = length_protocol.run_protocol(length_protocol.parse_args(args))
    assert [(r["network"], r["epochs"], r["nme_io"], r["minutes"]) for r in rows] == [("baseline", 150, 0.061, 42.0)]
    with pytest.raises(SystemExit, match="sweep.json: the sweep ran with --epoch_size 4332, the protocol with 2166"):
        length_protocol.main(args[:-5] + ["--epoch_size", "2166", "--from_sweep", str(swept.folder),
                                          "--report_only", "--record", str(tmp_path / "other.csv")])
    with pytest.raises(SystemExit, match="sweep.json: the sweep ran with --fastpath channels_last, the protocol with "
                                         "bf16"):
        length_protocol.main(args + ["--fastpath", "bf16", "--record", str(tmp_path / "third.csv")])


def test_within_run_rows_rank_each_epoch_of_the_runs_against_their_end():
    from fbnet_pfld.protocol import within_run_report, within_run_rows

    curves = {"a": [0.30, 0.10, 0.05], "b": [0.20, 0.20, 0.06], "c": [0.10, 0.30, 0.07]}
    rows = within_run_rows(curves, [1, 2, 3, 9], seed=0)
    assert sorted({r["epochs"] for r in rows}) == [1, 2, 3]  # 9 lies past the runs' end; the end is always there
    assert [(e, round(t, 3), n) for e, t, n in length_agreement(rows, 0)] == [(1, -1.0, 3), (2, 1.0, 3), (3, 1.0, 3)]
    text = within_run_report(rows, 0)
    assert "| a | 30.00 | 10.00 | 5.00 |" in text and "| Kendall tau against the longest | -1.00 (3) |" in text
    assert "Not the protocol" in text
    with pytest.raises(DataError, match="differ in length .*a 3 epochs, d 2 epochs"):
        within_run_rows({"a": [0.3, 0.2, 0.1], "d": [0.3, 0.2]}, [1], seed=0)


def recorded_width(swept, tmp_path, model, curve):
    point = {"kind": "width", "model": model, "seed": 0}
    log = tmp_path / f"{model}_log.csv"
    log.write_text("epoch,nme_io,seconds\n" + "".join(f"{e},{v},1\n" for e, v in enumerate(curve)))
    swept.onnx_target(point).parent.mkdir(parents=True, exist_ok=True)
    swept.onnx_target(point).write_bytes(b"an ONNX file")
    swept.add_point(point, {"nme_io": curve[-1], "nme_box": curve[-1]}, len(curve), 1.0, log=log)


def test_within_runs_reads_a_sweeps_kept_logs_and_names_a_bad_line(tmp_path, capsys):
    from fbnet_pfld.jsonfile import write_json
    from fbnet_pfld.sweep_record import SweepRecord

    swept = SweepRecord(tmp_path / "sweep_record")
    recorded_width(swept, tmp_path, "pfld_lite@0.5", [0.2, 0.08, 0.06])
    recorded_width(swept, tmp_path, "pfld_lite", [0.3, 0.09, 0.05])
    write_json({"data_root": "data", "batch_size": 64, "loss": "wing", "jitter": None, "source_weights": None,
                "epoch_size": None, "fastpath": "channels_last"}, swept.folder / "sweep.json")
    args = ["--data_root", str(tmp_path / "data"), "--lengths", "1", "2", "--out", str(tmp_path / "runs"),
            "--from_sweep", str(swept.folder), "--within_runs", "--networks", "pfld_lite", "pfld_lite@0.5"]
    length_protocol.main(args)
    out = capsys.readouterr().out
    assert "| pfld_lite | 30.00 | 9.00 | 5.00 |" in out
    assert "| Kendall tau against the longest | -1.00 (2) | -1.00 (2) | 1.00 (2) |" in out
    assert not (tmp_path / "runs").exists()  # trains nothing, writes nothing
    (swept.folder / "logs" / "pfld_lite_seed0.csv").write_text("epoch,nme_io,seconds\n0,0.3,1\n1,oops,1\n")
    with pytest.raises(SystemExit, match=r"pfld_lite_seed0.csv: line 3: no number in column nme_io"):
        length_protocol.main(args)
    with pytest.raises(SystemExit, match="points.csv: no training of pfld_lite@0.25"):
        length_protocol.main(args[:-2] + ["pfld_lite@0.25"])
    capsys.readouterr()
    with pytest.raises(SystemExit, match="2"):
        length_protocol.main([a for a in args if a not in ("--from_sweep", str(swept.folder))])
    assert "--within_runs reads the trainings of --from_sweep" in capsys.readouterr().err
