"""Image-quality measures for evaluation: mean absolute error and SSIM.

Inputs: Nx3xHxW float32 in [0,1]. Outputs: N-vectors (one value per image).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

_SSIM_C1 = 0.01 ** 2  # Wang et al. 2004 constants for a dynamic range of 1
_SSIM_C2 = 0.03 ** 2


def l1_per_image(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().flatten(1).mean(dim=1)


def _gaussian_window(size: int, sigma: float, channels: int) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(coords ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim_per_image(a: torch.Tensor, b: torch.Tensor, size: int = 11,
                   sigma: float = 1.5) -> torch.Tensor:
    """SSIM with an 11x11 Gaussian window (sigma 1.5), per channel, averaged; valid
    region only (no padding), as in the reference implementation."""
    channels = a.shape[1]
    window = _gaussian_window(size, sigma, channels).to(a)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, window, groups=channels)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    numerator = (2 * mu_a * mu_b + _SSIM_C1) * (2 * cov + _SSIM_C2)
    denominator = (mu_a ** 2 + mu_b ** 2 + _SSIM_C1) * (var_a + var_b + _SSIM_C2)
    return (numerator / denominator).flatten(1).mean(dim=1)
