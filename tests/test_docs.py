"""The docs stay true by construction: every ``module.NAME`` they cite exists (README.md, docs/*.md,
released/README.md and every script's --help), and the README's result tables are the files released/ holds."""

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = {p.stem for p in (ROOT / "fbnet_pfld").glob("*.py")} - {"__init__"}
TOOLS = {p.stem for p in (ROOT / "tools").glob("*.py")} - {"__init__"}
SCRIPTS = ["prepare", "supernet_train", "retrain", "export", "predict", "lookup_table", "sweep", "label"]
FILE_ENDINGS = {"py", "md", "json", "csv", "txt", "png", "jpg", "pth", "onnx", "mnn", "log", "sh", "jsonl", "toml",
                "pts", "mp4", "yaml", "cfg"}
CITED = re.compile(r"\b((?:fbnet_pfld|tools)\.[a-z_0-9]+(?:\.[A-Za-z_][A-Za-z0-9_]*)?"
                   r"|[a-z_0-9]+\.[A-Za-z_][A-Za-z0-9_]*)")


def citations(text):
    """(package, module, name or None) for each ``package.module[.NAME]`` of the project in text, and each
    ``module.NAME`` whose NAME is capitalised or which a code span holds whole (``landmarker.track(frames)`` is
    a variable's method)."""
    spans = set(re.findall(r"`([^`\s]+)`", text))
    found = set()
    for token in CITED.findall(text):
        parts = token.split(".")
        if parts[0] in ("fbnet_pfld", "tools"):
            package, module, name = parts[0], parts[1], parts[2] if len(parts) > 2 else None
        elif parts[0] in PACKAGE and (parts[1][0].isupper() or token in spans):
            package, module, name = "fbnet_pfld", parts[0], parts[1]
        else:
            continue
        if module in FILE_ENDINGS or name in FILE_ENDINGS or module == "NAME":
            continue
        found.add((package, module, name))
    return found


def exists(package, module, name):
    if package == "tools":
        return module in TOOLS
    if module[0].isupper():  # fbnet_pfld.Landmarker: the package's own export
        return hasattr(importlib.import_module("fbnet_pfld"), module) and name is None
    return module in PACKAGE and (name is None or hasattr(importlib.import_module(f"fbnet_pfld.{module}"), name))


def help_texts(capsys):
    texts = {}
    for script in SCRIPTS:
        module = importlib.import_module(script)
        with pytest.raises(SystemExit):
            module.main(["--help"])
        texts[f"{script}.py --help"] = capsys.readouterr().out
    return texts


def test_every_cited_module_and_name_exists(capsys):
    sources = {str(p.relative_to(ROOT)): p.read_text() for p in
               [ROOT / "README.md", ROOT / "released" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]}
    sources.update(help_texts(capsys))
    missing = []
    for where, text in sources.items():
        for package, module, name in sorted(citations(text), key=str):
            if not exists(package, module, name):
                missing.append(f"{where}: {'.'.join(filter(None, (package, module, name)))}")
    assert not missing, "\n".join(missing)


def test_the_citation_scan_sees_what_it_checks():
    text = ("see `dataset.NO_SUCH_NAME`, fbnet_pfld.crops.CropJitter, `python -m tools.benchmark`, train.log, x.py, "
            "landmarker.track(frames), `smoothing.centred_mean`")
    assert citations(text) == {("fbnet_pfld", "dataset", "NO_SUCH_NAME"), ("fbnet_pfld", "crops", "CropJitter"),
                               ("tools", "benchmark", None), ("fbnet_pfld", "smoothing", "centred_mean")}
    assert not exists("fbnet_pfld", "dataset", "NO_SUCH_NAME") and exists("fbnet_pfld", "crops", "CropJitter")


def test_the_readme_result_tables_are_the_released_files():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"<!-- from (\S+) -->\n(.*?)<!-- end -->", readme, re.S)
    assert blocks, "the README's tables come from released/ (tools.readme_tables)"
    for path, table in blocks:
        assert (ROOT / path).read_text().strip() == table.strip(), f"README's table differs from {path}"
