import pytest
import torch

from fbnet_pfld.losses import LOSSES, get_loss, pose_weights, wing
from fbnet_pfld.models import PFLDLite, auxiliary_net_for, count_macs, count_parameters


@pytest.mark.parametrize("num_points", [68, 98, 106])
def test_pfld_lite_shapes_and_its_auxiliary_net(num_points):
    model = PFLDLite(num_points).eval()
    landmarks, feature = model(torch.rand(2, 3, 112, 112))
    assert landmarks.shape == (2, 2 * num_points) and feature.shape == (2, 64, 28, 28)
    assert auxiliary_net_for(model)(feature).shape == (2, 3)


def test_pfld_lite_matches_the_published_size():
    model = PFLDLite(106)
    assert 0.25e6 < count_parameters(model) < 0.28e6
    assert 75e6 < count_macs(model) < 80e6


@pytest.mark.parametrize("name", list(LOSSES))
def test_each_loss_is_finite_differentiable_and_zero_for_a_perfect_prediction(name):
    loss_fn = get_loss(name)
    torch.manual_seed(0)
    target, angles_gt = torch.rand(4, 136), torch.randn(4, 3) * 30
    landmarks = (target + 0.05 * torch.randn(4, 136)).requires_grad_()
    angles = (angles_gt + 10 * torch.randn(4, 3)).requires_grad_()
    loss, squared = loss_fn(landmarks, target, angles, angles_gt)
    loss.backward()
    assert torch.isfinite(loss) and loss > 0 and squared > 0
    assert torch.isfinite(landmarks.grad).all() and landmarks.grad.abs().sum() > 0
    perfect, _ = loss_fn(target, target, angles_gt, angles_gt)
    assert float(perfect) == pytest.approx(0.0, abs=1e-7)


def test_pose_weights_never_reach_zero_and_grow_with_the_pose():
    angles = torch.tensor([[0.0, 0.0, 0.0], [0.0, 90.0, 0.0], [180.0, 180.0, 180.0], [-45.0, 30.0, 10.0]])
    weights = pose_weights(angles)
    assert float(weights[0]) == pytest.approx(1.0) and (weights >= 1).all()
    assert weights[1] > weights[0] and weights[2] > weights[1]


def test_pfld_weight_vanishes_where_pose_aware_weight_does_not():
    """The defect the pose loss fixes: a correct pose estimate silences PFLD's landmark term."""
    target, angles = torch.rand(2, 136), torch.tensor([[5.0, 40.0, 0.0], [0.0, 0.0, 0.0]])
    landmarks = target + 0.1
    assert float(get_loss("pfld")(landmarks, target, angles, angles)[0]) == 0.0
    assert float(get_loss("pose")(landmarks, target, angles, angles)[0]) > 0.0


def test_wing_is_continuous_at_its_width_and_linear_beyond():
    width = torch.tensor([10.0 - 1e-4, 10.0 + 1e-4])
    below, above = wing(width)
    assert float(above - below) == pytest.approx(0.0, abs=1e-3)
    assert float(wing(torch.tensor(30.0)) - wing(torch.tensor(20.0))) == pytest.approx(10.0, rel=1e-5)
