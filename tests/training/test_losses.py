"""Losses: hinge and feature matching, embedding match, content (VGG or fallback)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from talkinghead_studio.training.config import LossConfig  # noqa: E402
from talkinghead_studio.training.errors import TrainingError  # noqa: E402
from talkinghead_studio.training.losses import (  # noqa: E402
    ContentLoss, PixelPyramidLoss, d_hinge, embedding_match, feature_matching, g_adversarial)
from talkinghead_studio.training.vgg import VGG19, build_features, load_conv_weights  # noqa: E402


def test_hinge_losses():
    assert float(d_hinge(torch.tensor([2.0]), torch.tensor([-2.0]))) == 0.0  # confident, right
    assert float(d_hinge(torch.tensor([0.0]), torch.tensor([0.0]))) == 2.0
    assert float(d_hinge(torch.tensor([-1.0]), torch.tensor([1.0]))) == 4.0
    assert float(g_adversarial(torch.tensor([1.0, 3.0]))) == -2.0


def test_feature_matching_and_embedding_match():
    a = [torch.ones(2, 4, 8, 8), torch.zeros(2, 8, 4, 4)]
    b = [torch.zeros(2, 4, 8, 8), torch.zeros(2, 8, 4, 4)]
    assert float(feature_matching(a, b)) == pytest.approx(0.5)
    e, w = torch.zeros(3, 16), torch.full((3, 16), 0.25)
    assert float(embedding_match(e, w)) == pytest.approx(0.25)


def test_pixel_fallback_is_zero_only_for_equal_images_and_has_gradients():
    loss = PixelPyramidLoss()
    real = torch.rand(2, 3, 32, 32)
    assert float(loss(real, real)) == 0.0
    fake = torch.roll(real, 2, dims=3).requires_grad_(True)
    value = loss(fake, real)
    value.backward()
    assert value.item() > 0 and fake.grad.abs().sum() > 0
    content = ContentLoss(LossConfig())
    assert content.uses_fallback
    total, terms = content(fake, real)
    assert set(terms) == {"pixel"} and total.item() == pytest.approx(10 * value.item())


def test_vgg_weights_load_by_name_or_by_order_and_wrong_ones_are_refused(tmp_path):
    source = build_features((4, "M", 8))
    torch.save(source.state_dict(), tmp_path / "named.pth")  # torchvision-style keys
    renamed = {"conv1_1.weight": source[0].weight, "conv1_1.bias": source[0].bias,
               "conv2_1.weight": source[3].weight, "conv2_1.bias": source[3].bias}
    torch.save({"state_dict": renamed}, tmp_path / "ordered.pth")
    for name in ("named.pth", "ordered.pth"):
        target = build_features((4, "M", 8))
        load_conv_weights(target, tmp_path / name)
        torch.testing.assert_close(target[3].weight, source[3].weight)
    with pytest.raises(TrainingError, match="shape"):
        load_conv_weights(build_features((5, "M", 8)), tmp_path / "named.pth")
    with pytest.raises(TrainingError, match="not found"):
        load_conv_weights(build_features((4,)), tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(TrainingError, match="Could not read"):
        load_conv_weights(build_features((4,)), tmp_path / "junk.pth")


def test_vgg19_content_loss_from_a_torchvision_layout_state_dict(tmp_path):
    torch.manual_seed(0)
    weights = tmp_path / "vgg19.pth"
    torch.save(build_features(VGG19.layout).state_dict(), weights)
    content = ContentLoss(LossConfig(vgg19_weights=str(weights)))
    assert not content.uses_fallback
    real = torch.rand(1, 3, 32, 32)
    fake = real.flip(3).requires_grad_(True)
    same, _ = content(real, real)
    total, terms = content(fake, real)
    total.backward()
    assert set(terms) == {"vgg19"} and float(same) == 0.0 and total.item() > 0
    assert fake.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in content.vgg19.parameters())
