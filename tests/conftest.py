"""Make the flat project importable from tests and keep torch to the machine's 2 cores."""

import os
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]
torch.set_num_threads(2)
# Training in tests runs plain eager (fast and repeatable); tests/test_fastpath.py tests the automatic choice.
os.environ["FBNET_PFLD_FASTPATH"] = "eager"


def _loopback_only(connect):
    """Refuse any connection that leaves this machine (gloo's DDP tests use loopback)."""
    import ipaddress
    import socket

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and self.family in (socket.AF_INET, socket.AF_INET6):
            try:
                loopback = host == "localhost" or ipaddress.ip_address(host.split("%")[0]).is_loopback
            except ValueError:
                loopback = False
            if not loopback:
                raise ConnectionRefusedError(f"tests must not reach the network (tried {address})")
        return connect(self, address)
    return guarded


def pytest_configure(config):
    import socket

    socket.socket.connect = _loopback_only(socket.socket.connect)


def onnx_checkpoint_difference(checkpoint, onnx_path):
    """Largest difference between a landmark checkpoint and its ONNX export on two random crops."""
    import numpy as np

    from fbnet_pfld.checkpoints import load_landmark_model
    from fbnet_pfld.deploy import OrtSession

    model, _ = load_landmark_model(checkpoint)
    x = np.random.default_rng(0).random((2, 3, 112, 112), dtype=np.float32)
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(x))[0].numpy()
    return float(np.abs(OrtSession(onnx_path).run({"input": x})[0] - expected).max())
