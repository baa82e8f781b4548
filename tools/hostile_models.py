"""Hostile-input cases of model files: an ONNX classifier (its 1000 scores would read as 500 points), and an
ONNX landmark model exported with a fixed batch of 1 run with --flip (two crops a call). Used by
tools/hostile_cases.py."""

import torch

from fbnet_pfld.checkpoints import load_landmark_model
from fbnet_pfld.deploy import LandmarksOnly, export_onnx
from tools.hostile_fixtures import fresh, predict_with


def classifier_onnx(ctx):
    """A 1000-class image classifier taking 112x112 crops (scores, not points)."""
    path = fresh(ctx, "m-cls") / "classifier.onnx"
    if not path.exists():
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=4), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                  torch.nn.Flatten(), torch.nn.Linear(8, 1000), torch.nn.Softmax(dim=1)).eval()
        export_onnx(net, (torch.rand(1, 3, 112, 112),), path, ["image"], ["probabilities"], dynamic_batch=True)
    return path


def grey_input_onnx(ctx):
    """A landmark-shaped model taking one-channel (grey) 112x112 crops."""
    path = fresh(ctx, "m-grey") / "grey.onnx"
    if not path.exists():
        net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, stride=4), torch.nn.AdaptiveAvgPool2d(1),
                                  torch.nn.Flatten(), torch.nn.Linear(4, 136)).eval()
        export_onnx(net, (torch.rand(1, 1, 112, 112),), path, ["input"], ["landmarks"], dynamic_batch=True)
    return path


def fixed_batch_onnx(ctx):
    """The context's fine-tuned subnet exported with a fixed batch of 1."""
    path = fresh(ctx, "m-fixed") / "fixed.onnx"
    if not path.exists():
        model, _ = load_landmark_model(ctx["subnet"])
        export_onnx(LandmarksOnly(model).eval(), (torch.rand(1, 3, 112, 112),), path, ["input"], ["landmarks"])
    return path


CASES = {
    "predict with an image classifier": (lambda c: predict_with(c, model=classifier_onnx(c)), "classifier.onnx"),
    "predict with a model of grey input": (lambda c: predict_with(c, model=grey_input_onnx(c)), "grey.onnx"),
}

WORKS = {
    "predict --flip with a fixed-batch model": lambda c: predict_with(c, "--flip", model=fixed_batch_onnx(c)),
}
