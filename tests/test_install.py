"""A plain (not editable) install carries every file the API reads: built as a wheel, used from elsewhere."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_runs_the_api_from_another_folder(tmp_path):
    source = tmp_path / "source"  # built from a copy: setuptools leaves build/ beside the sources
    shutil.copytree(ROOT / "fbnet_pfld", source / "fbnet_pfld", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                            "-q", "-w", str(tmp_path / "wheel")], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-500:]
    site = tmp_path / "site"
    with zipfile.ZipFile(next((tmp_path / "wheel").glob("*.whl"))) as wheel:
        wheel.extractall(site)
    code = ("import numpy as np, fbnet_pfld; from fbnet_pfld import Landmarker; "
            f"assert fbnet_pfld.__file__.startswith({str(site)!r}), fbnet_pfld.__file__; "
            f"print(Landmarker({str(ROOT / 'released' / 'subnet.onnx')!r})(np.zeros((64, 64, 3), np.uint8)))")
    ran = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert ran.returncode == 0 and ran.stdout.strip() == "[]", ran.stderr[-800:]
