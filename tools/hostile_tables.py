"""Hostile-input cases of latency lookup tables, arch.json files, budgets, and spaces whose layers choose
widths."""

import json

import lookup_table
from fbnet_pfld.blocks import SEARCH_SPACE
from fbnet_pfld.space import search_space_to_list
from tools.hostile_fixtures import (
    LUT_LINE,
    arch_file,
    build_space,
    fine_tune,
    fresh,
    odd_width_before_ghost,
    search,
    set_op,
    table_with,
    width_table,
    write_bytes,
    write_text,
    zero_lut,
    zero_table,
)

CASES = {
    # lookup tables
    "table missing": (lambda c: search(c, None, fresh(c, "t0") / "none.json"), "none.json"),
    "table invalid JSON": (lambda c: search(c, None, table_with(c, "t1", text='{"meta": {,}')), "lut.json:1"),
    "table binary": (lambda c: search(c, None, table_with(c, "t2", raw=b"\xff\xfe\x81" * 30)), "lut.json"),
    "table Infinity": (lambda c: search(c, None, table_with(c, "t3", text=c["lut"].read_text().replace(
        '"median": 0.', '"median": Infinity, "x": 0.', 1))), "lut.json"),
    "table NaN op": (lambda c: search(c, None, table_with(c, "t4", set_op(2, "gh_k5", float("nan")))), "lut.json"),
    "table negative op": (lambda c: search(c, None, table_with(c, "t5", set_op(1, "gh_k3", -1.0))), "lut.json"),
    "table string op": (lambda c: search(c, None, table_with(c, "t6", set_op(0, "sep_k3", "fast"))), "lut.json"),
    "table boolean op": (lambda c: search(c, None, table_with(c, "t7", set_op(0, "sep_k3", True))), "lut.json"),
    "table missing op": (lambda c: search(c, None, table_with(c, "t8", lambda d: d["layers"][3]["ops"].pop(
        "gh_k5"))), "lut.json"),
    "table wrong shape": (lambda c: search(c, None, table_with(c, "t9", lambda d: d["layers"][0].__setitem__(
        "c_out", 48))), "lut.json"),
    "table wrong unit": (lambda c: search(c, None, table_with(c, "t10", lambda d: d["meta"].__setitem__(
        "unit", "us"))), "lut.json"),
    "table no fixed": (lambda c: search(c, None, table_with(c, "t11", lambda d: d.pop("fixed"))), "lut.json"),
    "table meta not object": (lambda c: search(c, None, table_with(c, "t12", lambda d: d.__setitem__(
        "meta", []))), "lut.json"),
    "table is a list": (lambda c: search(c, None, table_with(c, "t13", text="[1, 2]")), "lut.json"),
    "table all zero": (lambda c: search(c, None, table_with(c, "t14", zero_table)), "lut.json"),
    "table show invalid": (lambda c: (lookup_table.main, ["show", "--lut", str(table_with(
        c, "t15", text="{"))]), "lut.json"),
    "lut.txt malformed": (lambda c: (lookup_table.main, ["import-lut", str(write_text(fresh(c, "l1") / "lut.txt",
                                                                                "{'op_name': 1,\n")),
                                                         "--out", str(fresh(c, "l1") / "o.json")]), "lut.txt:1"),
    "device CSV bad row": (lambda c: (lookup_table.main, ["import", "--manifest", str(write_text(
        fresh(c, "l2") / "manifest.json", json.dumps({"search_space": search_space_to_list(SEARCH_SPACE),
                                                      "entries": []}))), "--csv", str(write_text(
            fresh(c, "l2") / "phone.csv", "file,median_ms\na.onnx,fast\n")), "--out", str(fresh(c, "l2") / "o.json"),
        "--device", "d", "--runtime", "r"]), "phone.csv:2"),
    "manifest not ours": (lambda c: (lookup_table.main, ["import", "--manifest", str(write_text(
        fresh(c, "l3") / "manifest.json", "[]")), "--csv",
        str(write_text(fresh(c, "l3") / "p.csv", "file,median_ms\n")),
        "--out", str(fresh(c, "l3") / "o.json"), "--device", "d", "--runtime", "r"]), "manifest.json"),
    "table duplicate key": (lambda c: search(c, None, table_with(c, "d1", text=c["lut"].read_text().replace(
        '"unit":', '"unit": "ms", "unit":', 1))), "lut.json"),
    "table input_shape a number": (lambda c: search(c, None, table_with(c, "d2", lambda d: d["layers"][0].__setitem__(
        "input_shape", 64))), "lut.json"),
    "table 400-digit cost": (lambda c: search(c, None, table_with(c, "d3", text=c["lut"].read_text().replace(
        '"median": 0.', '"median": 1' + "0" * 400 + ', "x": 0.', 1))), "lut.json"),
    "table nested too deep": (lambda c: search(c, None, table_with(c, "d4", text="[" * 200000 + "]" * 200000)),
                              "lut.json"),
    "table null median": (lambda c: search(c, None, table_with(c, "d5", set_op(0, "sep_k3", None))), "lut.json"),
    "table layers not a list": (lambda c: search(c, None, table_with(c, "d6", lambda d: d.__setitem__(
        "layers", {"a": 1}))), "lut.json"),
    "table extra layer": (lambda c: search(c, None, table_with(c, "d7", lambda d: d["layers"].append(
        d["layers"][-1]))), "lut.json"),
    "lut.txt entry repeated more than its layers": (lambda c: (lookup_table.main, ["import-lut", str(write_text(
        fresh(c, "l4") / "lut.txt", LUT_LINE * 3)), "--out", str(fresh(c, "l4") / "o.json")]), "lut.txt:3"),
    "lut.txt all zero": (lambda c: (lookup_table.main, ["import-lut", str(write_text(
        fresh(c, "l5") / "lut.txt", zero_lut())), "--out", str(fresh(c, "l5") / "o.json")]), "lut.txt"),
    "lut.txt negative latency": (lambda c: (lookup_table.main, ["import-lut", str(write_text(
        fresh(c, "l6") / "lut.txt", LUT_LINE.replace("0.1", "-0.1"))), "--out", str(fresh(c, "l6") / "o.json")]),
        "lut.txt:1"),
    "import-lut fixed_ms nan": (lambda c: (lookup_table.main, ["import-lut", "lut.txt", "--out", "o.json",
                                                               "--fixed_ms", "nan"]), "--fixed_ms"),
    "check archs 0": (lambda c: (lookup_table.main, ["check", "--lut", str(c["lut"]), "--archs", "0"]), "--archs"),
    "build num_points 0": (lambda c: (lookup_table.main, ["build", "--method", "flops", "--num_points", "0", "--out",
                                                          str(fresh(c, "b0") / "o.json")]), "--num_points"),
    "build threads -1": (lambda c: (lookup_table.main, ["build", "--method", "measure", "--threads", "-1", "--out",
                                                        str(fresh(c, "b1") / "o.json")]), "--threads"),
    # arch.json
    "arch invalid JSON": (lambda c: fine_tune(c, None, "--arch", str(arch_file(c, "a1", "{"))), "arch.json"),
    "arch unknown op": (lambda c: fine_tune(c, None, "--arch", str(arch_file(c, "a2", json.dumps(
        ["gh_k3", "gh_k3", "gh_k5", "gh_k5", "warp_k9"])))), "warp_k9"),
    "arch too short": (lambda c: fine_tune(c, None, "--arch", str(arch_file(c, "a3", '["gh_k3"]'))), "arch"),
    "arch not a list": (lambda c: fine_tune(c, None, "--arch", str(arch_file(c, "a4", '{"arch": 5}'))), "arch.json"),
    "arch missing": (lambda c: fine_tune(c, None, "--arch", str(fresh(c, "a5") / "arch.json")), "arch.json"),
    "arch binary": (lambda c: fine_tune(c, None, "--arch", str(write_bytes(fresh(c, "a6") / "arch.json",
                                                                           b"\xff\xfe\x81"))), "arch.json"),
    "arch error names the file": (lambda c: fine_tune(c, None, "--arch", str(arch_file(c, "a7", json.dumps(
        ["gh_k3", "gh_k3", "gh_k5", "gh_k5", "warp_k9"])))), "arch.json"),
    "arch empty list": (lambda c: fine_tune(c, None, "--arch", str(arch_file(c, "a8", "[]"))), "arch.json"),
    "arch numbers": (lambda c: fine_tune(c, None, "--arch", str(arch_file(c, "a9", "[1, 2, 3, 4, 5]"))),
                     "arch.json"),
    "arch duplicate key": (lambda c: fine_tune(c, None, "--arch", str(arch_file(c, "a10", '{"arch": [], "arch": []}'))),
                           "arch.json"),
    # budgets
    "target above the costliest": (lambda c: search(c, None, None, "--target_latency", "1e6"), "costliest"),
    "target ratio without a reference": (lambda c: search(c, None, table_with(c, "r0", lambda d: d["meta"].pop(
        "references")), "--target_ratio", "0.16"), "lut.json"),
    # spaces whose layers choose widths
    "space: skip between unequal widths": (lambda c: build_space(c, "w1", lambda s: s[2].update(widths=[12, 24])),
                                           "layer 2"),
    "space: odd width for a grouped op": (lambda c: build_space(c, "w2", odd_width_before_ghost), "layer 1"),
    "table lacking a width pair": (lambda c: (lookup_table.main, ["show", "--lut", str(width_table(
        c, "w3", lambda d: d["layers"][2]["ops"]["skip"]["by_input"].pop("24")))]), "24 input channels"),
    "width budget above the range": (lambda c: search(c, None, width_table(c, "w4"), "--target_latency", "1e6"),
                                     "costliest"),
}
