"""Make the flat project importable from tests and keep torch to the machine's 2 cores."""

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "data")]
torch.set_num_threads(2)
