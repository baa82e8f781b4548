"""The README's result tables: the targets judged from a benchmark's JSON, and README blocks kept equal to
the files the tools wrote."""

import json

import pytest

from fbnet_pfld.errors import DataError, DeployError
from tools import readme_tables, targets


def benchmark_row(model, nme, ms, kb, found=337, detector=None, **extra):
    row = {"model": model, "nme_io": nme, "ort_1thread_ms": ms, "onnx_bytes": kb * 1024, "faces": 337,
           "found": found, "nme_io_detector": nme if detector is None else detector}
    return {**row, **extra}


def verdicts(result):
    return [judged for _, _, judged in targets.target_rows(result, "subnet", "pfld_lite")]


def test_targets_are_judged_with_their_margins():
    baseline = benchmark_row("pfld_lite", 0.0600, 2.000, 990)
    good = {"rows": [benchmark_row("subnet", 0.0500, 0.300, 600, detector=0.0560), baseline]}
    assert verdicts(good) == ["met (0.067x to spare)", "met (0.010x to spare)", "met (93 KB to spare)",
                              "met (26 faces to spare)", "met (0.12 points to spare)"]
    bad = {"rows": [benchmark_row("subnet", 0.0660, 0.400, 700, found=300, detector=0.0700), baseline]}
    assert verdicts(bad) == ["**missed** by 0.200x", "**missed** by 0.040x", "**missed** by 7 KB",
                             "**missed** by 11 faces", "**missed** by 1.28 points"]


def test_the_peer_target_is_strict_and_uses_the_benchmarks_own_count_of_hog_faces():
    baseline = benchmark_row("pfld_lite", 0.0600, 2.000, 990)
    tie = benchmark_row("subnet", 0.0540, 0.320, 693, found=320, detector=targets.PEER_NME, peer_found=321,
                        found_of_peer_faces=300, nme_io_detector_peer_faces=0.0550)
    rows = targets.target_rows({"rows": [tie, baseline]}, "subnet", "pfld_lite")
    # Equal to the reference's ratios and size is met; equal to dlib's NME is not below it.
    assert [judged.split(" ")[0] for _, _, judged in rows] == ["met", "met", "met", "**missed**", "**missed**"]
    assert rows[3][0].startswith("detector in the loop finds >= 321 of 337")
    assert "5.50% on the 300 dlib's HOG finds" in rows[4][1]


def test_targets_refuse_a_benchmark_without_the_columns_they_judge(tmp_path, capsys):
    no_detector = {"rows": [{"model": "subnet", "nme_io": 0.05, "ort_1thread_ms": 0.3, "onnx_bytes": 1000},
                            benchmark_row("pfld_lite", 0.06, 2.0, 990)]}
    with pytest.raises(DeployError, match="no 'found' for subnet: run it with --faces"):
        targets.target_rows(no_detector, "subnet", "pfld_lite")
    with pytest.raises(DeployError, match="no model 'mine'; it has subnet, pfld_lite"):
        targets.target_rows(no_detector, "mine", "pfld_lite")
    broken = tmp_path / "benchmark.json"
    broken.write_text('{"rows": [\n  oops]}')
    with pytest.raises(SystemExit) as exit_info:
        targets.main([str(broken)])
    assert exit_info.value.code == f"error: {broken}: line 2: not a benchmark's JSON (Expecting value)"


def test_targets_write_markdown_and_json(tmp_path):
    source = tmp_path / "benchmark.json"
    source.write_text(json.dumps({"rows": [benchmark_row("subnet", 0.05, 0.3, 600, detector=0.056),
                                           benchmark_row("pfld_lite", 0.06, 2.0, 990)]}))
    targets.main([str(source), "--out", str(tmp_path / "targets")])
    table = (tmp_path / "targets.md").read_text().splitlines()
    assert table[:2] == ["| target | subnet | verdict |", "|---|---|---|"] and len(table) == 9
    assert json.loads((tmp_path / "targets.json").read_text())["targets"][0]["subnet"] == "5.00 / 6.00% = 0.833x"


def test_the_docs_tables_are_the_released_files():
    texts = ""
    for document in readme_tables.documents():
        text, stale = readme_tables.synced(document)
        assert stale == [], f"{document}: run python -m tools.readme_tables after regenerating released/"
        texts += text
    for source in ("released/benchmark.headline.md", "../released/benchmark.md", "../released/training.md",
                   "../released/targets.md", "../released/fit_gap.md"):
        assert f"<!-- from {source} -->" in texts


def test_readme_blocks_are_rewritten_from_their_files(tmp_path):
    (tmp_path / "table.md").write_text("| a |\n|---|\n| 2 |\n")
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- from table.md -->\n| a |\n|---|\n| 1 |\n<!-- end -->\noutro\n")
    text, stale = readme_tables.synced(readme)
    assert stale == [(2, "table.md")]
    assert text == "intro\n<!-- from table.md -->\n| a |\n|---|\n| 2 |\n<!-- end -->\noutro\n"
    for flags, code in ((["--check"], 1), ([], 0), (["--check"], 0)):  # check, rewrite, check again
        with pytest.raises(SystemExit) as exit_info:
            readme_tables.main(["--readme", str(readme), *flags])
        assert exit_info.value.code == code
    assert readme.read_text() == text


@pytest.mark.parametrize("body, message", [
    ("<!-- from table.md -->\n| a |\n", "line 1: block from table.md has no '<!-- end -->'"),
    ("text\n<!-- end -->\n", "line 2: '<!-- end -->' here needs a block's start first"),
    ("<!-- from table.md -->\n<!-- from table.md -->\n<!-- end -->\n", "line 2: .* needs a block's end first"),
    ("<!-- from missing.md -->\n<!-- end -->\n", "line 1: block from missing.md, which does not exist"),
])
def test_bad_readme_blocks_name_their_line(tmp_path, body, message):
    (tmp_path / "table.md").write_text("| a |\n")
    readme = tmp_path / "README.md"
    readme.write_text(body)
    with pytest.raises(DataError, match=message):
        readme_tables.synced(readme)
