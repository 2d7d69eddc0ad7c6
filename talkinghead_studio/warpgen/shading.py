"""A procedural mouth interior, for mouths the source portrait never showed open.

Drawn in mouth coordinates: u runs 0..1 between the inner mouth corners, and distances
below the upper lip / above the lower lip are in mouth widths, so the teeth keep their
size as the jaw drops. Layers, back to front: a dark cavity tinted by the lip colour
(darkest in the middle and towards the corners, like a real mouth in shadow), a hint of
tongue, lower teeth (only when the mouth is well open), upper teeth hanging from the
upper lip with the lip's shadow on them and faint gaps between incisors.

Colours come from the portrait itself (lip and skin samples), so a painting or a dim
photo gets dim teeth rather than glowing ones.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from talkinghead_studio.warpgen import topology as topo

Tensor = torch.Tensor

IVORY = (0.90, 0.86, 0.78)
UPPER_TEETH = 0.20        # visible height of the upper incisors, mouth widths
LOWER_TEETH = 0.09
TOOTH_GAPS = (0.0, 0.085, -0.085, 0.165, -0.165, 0.235, -0.235)  # from the centre, in u


def _sample(image: Tensor, points: Tensor) -> Tensor:
    """Mean colour of image (1x3xHxW) around points (Nx2 crop units), 3x3 taps each. (3,)"""
    side = image.shape[-1]
    taps = torch.tensor([[-1.5, -1.5], [0.0, -1.5], [1.5, -1.5], [-1.5, 0.0], [0.0, 0.0],
                         [1.5, 0.0], [-1.5, 1.5], [0.0, 1.5], [1.5, 1.5]]) / side
    grid = (points[:, None, :] + taps[None]).reshape(1, 1, -1, 2) * 2.0 - 1.0
    return F.grid_sample(image, grid, align_corners=False).mean((0, 2, 3))


def portrait_colours(image: Tensor, src: Tensor) -> tuple[Tensor, Tensor]:
    """(lip colour (3,), tooth colour (3,)) measured on the source crop."""
    pairs = torch.tensor(topo.LIP_COLOUR_PAIRS)
    lips = 0.5 * (src[pairs[:, 0], :2] + src[pairs[:, 1], :2])
    lip = _sample(image, lips)
    skin = _sample(image, src[list(topo.SKIN_POINTS), :2])
    luma = (skin * torch.tensor([0.30, 0.59, 0.11])).sum()
    # Teeth are a little brighter than the skin they sit in, and share its light.
    light = (luma / 0.55).clamp(0.35, 1.15)
    teeth = (torch.tensor(IVORY) * 0.85 + skin * 0.15) * light
    return lip, teeth


def _edge(distance_inside: Tensor, px: Tensor) -> Tensor:
    """Anti-aliased coverage from a signed distance (positive inside), 1 px ramp."""
    return (distance_inside / px + 0.5).clamp(0.0, 1.0)


def mouth_interior(u: Tensor, below_upper: Tensor, above_lower: Tensor, px: Tensor,
                   lip: Tensor, teeth: Tensor) -> Tensor:
    """RGB 1x3xHxW of the synthetic interior. u, below_upper, above_lower: 1x1xHxW."""
    gap = below_upper + above_lower
    arch = (1.0 - ((u - 0.5) / 0.46) ** 2).clamp(min=0.0).sqrt()
    depth = (torch.minimum(below_upper, above_lower) / (0.5 * gap).clamp(min=1e-4)).clamp(0, 1)
    lip3, teeth3 = lip.reshape(1, 3, 1, 1), teeth.reshape(1, 3, 1, 1)
    cavity = lip3 * (0.30 - 0.16 * depth) * (0.55 + 0.45 * arch)
    open_wide = ((gap - 0.12) / 0.15).clamp(0.0, 1.0)
    tongue_in = _edge(0.30 * gap - above_lower, px) * _edge(0.32 - (u - 0.5).abs(), px)
    colour = cavity + (lip3 * 0.55 * (0.6 + 0.4 * arch) - cavity) * (tongue_in * open_wide)
    lower_h = torch.minimum(LOWER_TEETH * arch, 0.3 * gap) * open_wide
    lower_in = _edge(lower_h - above_lower, px) * (lower_h > 0.002).float()
    colour = colour + (teeth3 * 0.62 * (0.55 + 0.45 * arch) - colour) * lower_in
    upper_h = torch.minimum(UPPER_TEETH * arch, 0.6 * gap)
    upper_in = _edge(upper_h - below_upper, px)
    sigma = torch.maximum(px * 0.8, torch.tensor(0.004))
    lines = sum(torch.exp(-(((u - 0.5 - g) / sigma) ** 2)) for g in TOOTH_GAPS)
    shadow = 1.0 - 0.5 * torch.exp(-below_upper / 0.03)
    tip = 1.0 - 0.25 * ((below_upper / upper_h.clamp(min=1e-3)) ** 4).clamp(max=1.0)
    upper = teeth3 * (0.55 + 0.45 * arch) * shadow * tip * (1.0 - 0.3 * lines)
    return colour + (upper - colour) * upper_in
