"""The paper's losses: content, adversarial hinge with feature matching, embedding match.

All images here are Bx3xRxR in [0, 1]; scores are B; features are lists of BxCxHxW.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from talkinghead_studio.training.config import LossConfig
from talkinghead_studio.training.vgg import VGG19, VGGFACE, VggFeatures


def _feature_l1(a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
    """Sum over layers of the mean absolute difference; ``b`` is the detached target."""
    return sum(F.l1_loss(x, y.detach()) for x, y in zip(a, b))


class PixelPyramidLoss(nn.Module):
    """Fallback content loss when no VGG weights are given.

    Mean absolute error on a four-level image pyramid (full, 1/2, 1/4, 1/8 size) plus the
    same on horizontal and vertical image gradients. The coarse levels supply what VGG's
    deep layers do (overall shape and colour agree even when details are misplaced); the
    gradient terms reward sharp edges that plain L1 would blur. It knows nothing about
    faces, so expect blurrier results than with VGG19 + VGGFace.
    """

    levels = 4

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        total = fake.new_zeros(())
        for level in range(self.levels):
            if level:
                fake, real = F.avg_pool2d(fake, 2), F.avg_pool2d(real, 2)
            total = total + F.l1_loss(fake, real)
            total = total + F.l1_loss(_dx(fake), _dx(real)) + F.l1_loss(_dy(fake), _dy(real))
        return total / self.levels


def _dx(x: torch.Tensor) -> torch.Tensor:
    return x[..., :, 1:] - x[..., :, :-1]


def _dy(x: torch.Tensor) -> torch.Tensor:
    return x[..., 1:, :] - x[..., :-1, :]


class ContentLoss(nn.Module):
    """L_CNT: VGG19 and/or VGGFace perceptual terms when their weights are given,
    otherwise :class:`PixelPyramidLoss`. forward -> (loss, {term: value})."""

    def __init__(self, cfg: LossConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.vgg19 = VggFeatures(VGG19, cfg.vgg19_weights) if cfg.vgg19_weights else None
        self.vggface = VggFeatures(VGGFACE, cfg.vggface_weights) if cfg.vggface_weights else None
        self.pixel = PixelPyramidLoss() if self.uses_fallback else None

    @property
    def uses_fallback(self) -> bool:
        return not (self.cfg.vgg19_weights or self.cfg.vggface_weights)

    def forward(self, fake: torch.Tensor, real: torch.Tensor):
        terms: dict[str, torch.Tensor] = {}
        # Perceptual networks run in float32 even under autocast: their deep features
        # are large and the loss compares small differences of them.
        fake, real = fake.float(), real.float()
        with torch.autocast(device_type=fake.device.type, enabled=False):
            if self.vgg19 is not None:
                terms["vgg19"] = self.cfg.lambda_vgg19 * _feature_l1(
                    self.vgg19(fake), self.vgg19(real))
            if self.vggface is not None:
                terms["vggface"] = self.cfg.lambda_vggface * _feature_l1(
                    self.vggface(fake), self.vggface(real))
            if self.pixel is not None:
                terms["pixel"] = self.cfg.lambda_pixel * self.pixel(fake, real)
        return sum(terms.values()), terms


def d_hinge(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss: max(0, 1 - r(x)) + max(0, 1 + r(x_hat))."""
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


def g_adversarial(fake_scores: torch.Tensor) -> torch.Tensor:
    """Generator side of the hinge loss: -r(x_hat)."""
    return -fake_scores.mean()


def feature_matching(fake_features: list, real_features: list) -> torch.Tensor:
    """L_FM: L1 between D's block outputs on fake and (detached) real images."""
    return _feature_l1(fake_features, real_features) / max(1, len(fake_features))


def embedding_match(e: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """L_MCH = |W_i - e_i|_1, averaged over the batch and the embedding dimensions
    (a per-dimension mean keeps the paper's weight 80 independent of the width)."""
    return (e - w).abs().mean()
