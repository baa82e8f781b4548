"""Export a landmark network to ONNX (and MNN) and prove each file against PyTorch: one input ``input``
[N,3,112,112] (BGR in [0,1], dynamic batch), one output ``landmarks`` [N,2K], checked at two batch sizes on
real or generated faces. A difference that is not finite fails like a large one.
"""

import shutil
from pathlib import Path

import numpy as np
import torch

from fbnet_pfld.dataset import load_test_set
from fbnet_pfld.deploy import LandmarksOnly, MnnSession, OrtSession, convert_to_mnn, export_onnx, same_mnn_network
from fbnet_pfld.errors import DeployError
from fbnet_pfld.synthetic import draw_face, random_pose
from fbnet_pfld.writes import replacing

PARITY_TOLERANCE = 1e-4


def parity_failed(difference, tolerance=PARITY_TOLERANCE):
    """True unless ``difference`` is a finite number within ``tolerance``: a NaN network never passes."""
    return not (np.isfinite(difference) and difference <= tolerance)


def parity_images(data_root=None, count=8, seed=0):
    """Real test faces when a DATA_ROOT is given, otherwise generated faces: never plain noise."""
    if data_root:
        dataset = load_test_set(data_root)
        return torch.stack([dataset[i][0] for i in range(min(count, len(dataset)))])
    rng = np.random.default_rng(seed)
    faces = [draw_face(random_pose(rng), rng) for _ in range(count)]
    return torch.from_numpy(np.stack(faces).transpose(0, 3, 1, 2).copy()).float() / 255.0


def outputs(reference, batch):
    """``reference``'s landmarks for a batch: a PyTorch module's, or an engine session's."""
    if isinstance(reference, torch.nn.Module):
        with torch.no_grad():
            return reference(batch).numpy()
    return reference.run({"input": batch.numpy()})[0]


def max_difference(session, reference, images):
    """Largest |runtime - reference| (PyTorch, or another runtime) over batch 1 and the whole batch."""
    differences = []
    for batch in (images[:1], images):
        expected = outputs(reference, batch)
        got = session.run({"input": batch.numpy()})[0]
        if got.shape != expected.shape:
            raise DeployError(f"batch {len(batch)} gave shape {got.shape}, the reference {expected.shape}")
        differences.append(float(np.abs(got - expected).max()))
    return max(differences)


def require_parity(difference, output, against="PyTorch"):
    if parity_failed(difference):
        raise DeployError(f"{output}: differs from {against} by {difference:.2e} (parity gate {PARITY_TOLERANCE:g}): "
                          "not written; the previous file, if any, is as it was")


def export_landmark_model(model, output, images):
    """Export, simplify and check against PyTorch at two batch sizes; OUTPUT is replaced only by a model that
    passed (a kill or a failed check leaves the previous file). Returns a report dict."""
    model = LandmarksOnly(model).eval()
    with replacing(output) as temp:
        export_onnx(model, (images[:1],), temp, ["input"], ["landmarks"], dynamic_batch=True)
        session = OrtSession(temp, threads=1)
        if session.output_names != ["landmarks"]:
            raise DeployError(f"{output}: expected one output 'landmarks', the graph has {session.output_names}")
        difference = max_difference(session, model, images)
        require_parity(difference, output)
        size = temp.stat().st_size
    return {"output": str(output), "size_bytes": size, "max_abs_diff": difference, "batch_sizes": [1, len(images)],
            "landmarks": int(model(images[:1]).shape[1])}


def export_mnn(model, onnx_path, images, weights="fp32"):
    """Convert an exported ONNX file to .mnn beside it and check MNN against PyTorch, or, with ``model`` None,
    against the ONNX file in onnxruntime (a file proved against PyTorch when it was exported). fp32 weights
    must pass the parity gate before the file is replaced; fp16 and int8 report their difference."""
    mnn_path = Path(onnx_path).with_suffix(".mnn" if weights == "fp32" else f".{weights}.mnn")
    reference = OrtSession(onnx_path, threads=1) if model is None else LandmarksOnly(model).eval()
    against = f"{Path(onnx_path).name} in onnxruntime" if model is None else "PyTorch"
    with replacing(mnn_path) as temp:
        convert_to_mnn(onnx_path, temp, weights)
        session = MnnSession(onnx_path, threads=1, mnn_path=temp)
        difference = max_difference(session, reference, images)
        if weights == "fp32":
            require_parity(difference, mnn_path, against)
        if same_mnn_network(temp, mnn_path):  # an unchanged network keeps its file's bytes (and its git history)
            shutil.copyfile(mnn_path, temp)
        size = temp.stat().st_size
    return {"output": str(mnn_path), "size_bytes": size, "weights": weights, "max_abs_diff": difference}
