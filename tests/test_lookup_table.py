import csv
import json
import re

import pytest
import torch

from fbnet_pfld.blocks import SEARCH_SPACE, LayerSpec
from fbnet_pfld.errors import LookupTableError
from fbnet_pfld.lookup_table import LookupTable
from fbnet_pfld.table_builders import (
    build_flops_table,
    build_measured_table,
    check_table,
    export_ops,
    import_measurements,
    import_reference_lut,
    make_meta,
    spearman,
)

# A two-layer space keeps the ONNX-exporting tests quick.
TINY_SPACE = [LayerSpec(32, 32, 1, 14, ("gh_k3", "sep_k3")), LayerSpec(32, 64, 2, 14, ("gh_k5", "mb_k5_res"))]


@pytest.fixture(scope="module")
def flops_data():
    return build_flops_table(68)


def test_json_round_trip(tmp_path, flops_data):
    table = LookupTable(flops_data)
    table.save(tmp_path / "t.json")
    loaded = LookupTable.load(tmp_path / "t.json")
    assert loaded.data == json.loads(json.dumps(flops_data))
    arch = [layer.ops[-1] for layer in SEARCH_SPACE]
    assert loaded.predict(arch) == pytest.approx(table.predict(arch))
    assert loaded.unit == "MMAC" and loaded.fixed > 0


def test_flops_table_predicts_whole_model_macs(flops_data):
    from fbnet_pfld.models import Subnet, count_macs

    table = LookupTable(flops_data)
    arch = [layer.ops[3] for layer in SEARCH_SPACE]
    assert table.predict(arch) == pytest.approx(count_macs(Subnet(arch, 68)) / 1e6, rel=1e-6)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["layers"][2]["ops"].pop("gh_k5"), r"layer 2: no entry for op gh_k5"),
    (lambda d: d["layers"][3].__setitem__("input_shape", [1, 64, 14, 14]),
     r"layer 3: input_shape is \[1, 64, 14, 14\]"),
    (lambda d: d["layers"][0].__setitem__("stride", 2), r"layer 0: stride is 2"),
    (lambda d: d["meta"].__setitem__("unit", "us"), r"unit 'us' is not one of ms, MMAC"),
    (lambda d: d["layers"].pop(), r"4 layers, but the search space has 5"),
    (lambda d: d["layers"][1]["ops"]["sep_k3"].__setitem__("median", "fast"),
     r"layer 1: op sep_k3 needs a finite numeric"),
    (lambda d: d.pop("fixed"), r"needs 'meta', 'fixed' and 'layers'"),
])
def test_validation_errors_are_clear(tmp_path, flops_data, mutate, message):
    data = json.loads(json.dumps(flops_data))
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(LookupTableError, match=message) as error:
        LookupTable.load(path)
    assert str(path) in str(error.value)


def test_invalid_json_names_the_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n "meta": {,\n}')
    with pytest.raises(LookupTableError, match=r"broken.json:2: not valid JSON"):
        LookupTable.load(path)


def test_expected_latency_is_differentiable_and_one_hot_equals_sum(flops_data):
    table = LookupTable(flops_data)
    logits = [torch.randn(len(layer.ops), requires_grad=True) for layer in SEARCH_SPACE]
    soft = [torch.softmax(x, 0) for x in logits]
    table.expected_latency(soft).backward()
    assert all(x.grad is not None and x.grad.abs().sum() > 0 for x in logits)
    arch = [layer.ops[i % len(layer.ops)] for i, layer in enumerate(SEARCH_SPACE)]
    one_hot = [torch.nn.functional.one_hot(torch.tensor(layer.ops.index(name)), len(layer.ops)).double()
               for name, layer in zip(arch, SEARCH_SPACE)]
    assert float(table.expected_latency(one_hot)) == pytest.approx(table.predict(arch))
    assert table.min_latency() == pytest.approx(table.predict(table.cheapest_arch()))


def write_reference_lut(path, skip=None):
    lines = []
    for i, layer in enumerate(SEARCH_SPACE):
        for j, name in enumerate(layer.ops):
            if (i, name) != skip:
                shape = (layer.in_size, layer.in_size, layer.c_in, layer.c_out, layer.stride)
                lines.append(str({"op_name": name, "op_data_shape": shape, "op_latency": 0.1 * (j + 1) + i}))
    path.write_text("\n".join(lines) + "\n")


def test_reference_lut_txt_imports(tmp_path):
    write_reference_lut(tmp_path / "lut.txt")
    table = LookupTable(import_reference_lut(tmp_path / "lut.txt", fixed_ms=1.5))
    assert table.op_cost(2, SEARCH_SPACE[2].ops[1]) == pytest.approx(0.2 + 2)
    assert table.op_cost(4, SEARCH_SPACE[4].ops[0]) == pytest.approx(0.1 + 4)
    assert table.fixed == 1.5


def test_reference_lut_txt_errors_never_run_code(tmp_path):
    write_reference_lut(tmp_path / "lut.txt", skip=(2, "gh_k5"))
    with pytest.raises(LookupTableError, match=r"layer 2: no entry for op gh_k5"):
        LookupTable(import_reference_lut(tmp_path / "lut.txt", fixed_ms=0.0))
    marker = tmp_path / "pwned"
    (tmp_path / "evil.txt").write_text(f"__import__('pathlib').Path({str(marker)!r}).touch()\n")
    with pytest.raises(LookupTableError, match=r"evil.txt:1: not a lut.txt entry"):
        import_reference_lut(tmp_path / "evil.txt")
    assert not marker.exists()


def test_measured_table_and_check_on_a_tiny_space():
    data = build_measured_table(threads=1, runs=20, num_points=68, search_space=TINY_SPACE, in_context=True)
    table = LookupTable(data, TINY_SPACE)
    assert table.unit == "ms" and table.fixed > 0
    assert all(entry["runs"] > 0 for layer in data["layers"] for entry in layer["ops"].values())
    result = check_table(table, archs=3, runs=20)
    assert len(result["measured"]) == 3 and all(m > 0 for m in result["measured"])
    assert -1 <= result["spearman"] <= 1 and result["mape"] >= 0


def test_export_ops_then_import_device_csv(tmp_path):
    manifest = export_ops(tmp_path / "ops", num_points=68, search_space=TINY_SPACE)
    entries = json.loads(manifest.read_text())["entries"]
    assert all((tmp_path / "ops" / e["file"]).is_file() for e in entries)
    with open(tmp_path / "phone.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "median_ms", "p10_ms", "p90_ms", "runs"])
        for k, e in enumerate(entries):
            writer.writerow([e["file"], 1 + k, 0.5 + k, 2 + k, 50])
    meta = make_meta("import", "ms", threads=1, runtime="MNN", device="phone")
    table = LookupTable(import_measurements(manifest, tmp_path / "phone.csv", meta), TINY_SPACE)
    assert table.fixed == pytest.approx(1 + 2)  # stem (row 0) + head (row 1)
    assert table.op_cost(1, "mb_k5_res") == pytest.approx(1 + 5)
    rows = (tmp_path / "phone.csv").read_text().splitlines()
    (tmp_path / "short.csv").write_text("\n".join(rows[:-1]) + "\n")
    with pytest.raises(LookupTableError, match=r"short.csv: no measurement for layer1_mb_k5_res.onnx"):
        import_measurements(manifest, tmp_path / "short.csv", meta)


def test_spearman():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1)
    assert spearman([1, 2, 2, 3], [1, 2, 2, 3]) == pytest.approx(1)


def space_list(space):
    from fbnet_pfld.space import search_space_to_list

    return search_space_to_list(space)


def test_a_table_names_its_search_space_and_loads_with_it(tmp_path):
    import lookup_table
    from fbnet_pfld.models import Subnet, count_macs
    from fbnet_pfld.space import read_search_space

    lookup_table.main(["space", "--out", str(tmp_path / "default.json")])
    assert read_search_space(tmp_path / "default.json") == SEARCH_SPACE
    (tmp_path / "tiny.json").write_text(json.dumps(space_list(TINY_SPACE)))
    lookup_table.main(["build", "--method", "flops", "--num_points", "68",
                       "--search_space", str(tmp_path / "tiny.json"), "--out", str(tmp_path / "lut.json")])
    table = LookupTable.load(tmp_path / "lut.json")  # no space given: the table's own
    assert table.search_space == TINY_SPACE
    arch = ["sep_k3", "mb_k5_res"]
    assert table.predict(arch) == pytest.approx(count_macs(Subnet(arch, 68, TINY_SPACE)) / 1e6, rel=1e-6)
    lookup_table.main(["space", "--lut", str(tmp_path / "lut.json"), "--out", str(tmp_path / "again.json")])
    assert read_search_space(tmp_path / "again.json") == TINY_SPACE


@pytest.mark.parametrize("edit, message", [
    (lambda s: s[1]["ops"].append("mb_k9_res"), r"layer 1: ops must be distinct names .*unknown: mb_k9_res"),
    (lambda s: s[1].__setitem__("c_in", 48), r"layer 1: takes 48 x 14 x 14, but the layer before gives 32 x 14 x 14"),
    (lambda s: s[0].__setitem__("in_size", 28), r"layer 0: takes 32 x 28 x 28, but the stem gives one of "
                                                r"3 x 112 x 112, 16 x 56 x 56, 16 x 28 x 28, 32 x 14 x 14"),
    (lambda s: s[1]["ops"].append("skip"), r"layer 1: 'skip' is a residual op: it needs stride 1 and the same width"),
    (lambda s: s[1].__setitem__("stride", 1), r"the last layer gives 14 x 14; the head needs 7 x 7"),
    (lambda s: s[0].__setitem__("width", 2), r"layer 0: needs integers c_in, c_out, stride, in_size"),
    (lambda s: s[0].__setitem__("c_out", "32"), r"layer 0: needs integers"),
    (lambda s: s.clear(), r"a search space needs at least one layer"),
])
def test_a_bad_search_space_is_refused_naming_the_file_and_layer(tmp_path, edit, message):
    import lookup_table

    space = space_list(TINY_SPACE)
    edit(space)
    bad = tmp_path / "space.json"
    bad.write_text(json.dumps(space))
    with pytest.raises(SystemExit) as exit_info:
        lookup_table.main(["build", "--method", "flops", "--search_space", str(bad), "--out", str(tmp_path / "t.json")])
    assert str(exit_info.value.code).startswith(f"error: {bad}: ")
    assert re.search(message, str(exit_info.value.code))
    table = build_flops_table(68, TINY_SPACE)
    table["search_space"] = space  # a table whose own space is broken
    (tmp_path / "lut.json").write_text(json.dumps(table))
    with pytest.raises(LookupTableError, match=f"lut.json: search_space: {message}"):
        LookupTable.load(tmp_path / "lut.json")
