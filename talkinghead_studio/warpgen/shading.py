"""A procedural mouth interior, for mouths the source portrait never showed open.

Drawn in mouth coordinates: u runs 0..1 between the inner mouth corners, and distances
below the upper lip / above the lower lip are in mouth widths, so the teeth keep their
size as the jaw drops. Layers, back to front: a dark cavity tinted by the lip colour
(darkest in the middle and towards the corners, like a real mouth in shadow), a hint of
tongue, lower teeth (standing just below the upper ones while the jaw is nearly closed,
a hint above the lower lip once it drops), upper teeth hanging from the upper lip with
the lip's shadow on them and faint gaps between incisors.

Colours come from the portrait itself (lip and skin samples), so a painting or a dim
photo gets dim teeth rather than glowing ones.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from talkinghead_studio.warpgen import topology as topo

Tensor = torch.Tensor

UPPER_TEETH = 0.15        # visible height of the upper incisors, mouth widths
LOWER_TEETH = 0.035       # the lower teeth: a hint just above the lower lip
JAW_OPEN = (0.16, 0.30)   # inner-lip gap, mouth widths: teeth together .. jaw dropped past them
LOWER_TEETH_CLOSED = 0.40 # share of a nearly closed jaw's gap the lower teeth fill
TEETH_HALF_WIDTH = 0.34   # teeth recede into the dark beyond this distance from the centre (u)
TOOTH_PITCH = 0.07        # tooth width in u (mouth widths); gaps fall on multiples from the centre
MAROON = (0.50, 0.16, 0.14)


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
    luma = (skin * torch.tensor([0.30, 0.59, 0.11])).sum().clamp(min=0.02)
    # Teeth: a little brighter than the skin, mostly desaturated, in the portrait's
    # colour cast (a varnished painting gets yellowed teeth, a dim photo dim ones).
    tint = 0.35 * skin / luma + 0.65
    teeth = (tint * (luma * 1.25).clamp(0.22, 0.78)).clamp(0.0, 1.0)
    return lip, teeth


# Skin each closed upper lid takes its colour from (MediaPipe indices; right eye = image
# left): topology.SKIN_POINTS split by side, the cheek on the eye's side and the middle
# of the forehead. The skin right around an eye (brow, crease, fold) is too often in
# shadow or under brow hair to be sampled.
LID_SKIN_POINTS = ((50, 205, 151, 9), (280, 425, 151, 9))
LID_SHADE = 0.9   # a lid sits a little deeper than cheek and forehead


def lid_colours(image: Tensor, src: Tensor) -> Tensor:
    """Skin colour of each closed upper lid (right eye, left eye) measured on the source
    crop, 2x3: what a closing lid shows once the fold above the lashes has unfolded."""
    points = src[torch.tensor(LID_SKIN_POINTS), :2]                      # 2x4x2
    return LID_SHADE * torch.stack([_sample(image, points[0]), _sample(image, points[1])])


def _edge(distance_inside: Tensor, px: Tensor) -> Tensor:
    """Anti-aliased coverage from a signed distance (positive inside), 1 px ramp."""
    return (distance_inside / px + 0.5).clamp(0.0, 1.0)


def _arch(u: Tensor, half_width: float) -> Tensor:
    """1 at the mouth centre falling to 0 at |u - 0.5| = half_width (a dental arch seen
    from the front)."""
    return (1.0 - ((u - 0.5) / half_width) ** 2).clamp(min=0.0).sqrt()


def _cavity(u: Tensor, depth: Tensor, above_lower: Tensor, gap: Tensor, px: Tensor,
            lip3: Tensor) -> Tensor:
    """Dark mouth cavity with a tongue at the bottom. 1x3xHxW.

    depth: 0 at the upper lip .. 1 at the lower lip. The roof, in the upper lip's
    shadow, is darkest; the floor and tongue catch some light; the sides fall off."""
    base = 0.5 * lip3 + 0.5 * torch.tensor(MAROON).reshape(1, 3, 1, 1)
    side = _arch(u, 0.55)
    cavity = base * (0.16 + 0.20 * depth * depth) * (0.45 + 0.55 * side)
    open_wide = ((gap - 0.12) / 0.15).clamp(0.0, 1.0)
    across = (u - 0.5) / 0.30
    top = 0.30 * gap * (1.0 - across * across).clamp(min=0.0).sqrt()
    tongue_in = ((top - above_lower) / (3.0 * px)).clamp(0.0, 1.0) * open_wide
    under = (above_lower / top.clamp(min=1e-4)).clamp(0.0, 1.0)
    tongue = base * (0.62 - 0.25 * under) * (0.55 + 0.45 * side)
    return cavity + (tongue - cavity) * tongue_in


def mouth_interior(u: Tensor, below_upper: Tensor, above_lower: Tensor, px: Tensor,
                   lip: Tensor, teeth: Tensor) -> Tensor:
    """RGB 1x3xHxW of the synthetic interior. u, below_upper, above_lower: 1x1xHxW."""
    below_upper, above_lower = below_upper.clamp(min=0.0), above_lower.clamp(min=0.0)
    lip3, teeth3 = lip.reshape(1, 3, 1, 1), teeth.reshape(1, 3, 1, 1)
    gap = below_upper + above_lower
    depth = (below_upper / gap.clamp(min=1e-4)).clamp(0.0, 1.0)
    colour = _cavity(u, depth, above_lower, gap, px, lip3)
    arch = _arch(u, TEETH_HALF_WIDTH)
    # Faint gaps between teeth: a comb of narrow dips, one per TOOTH_PITCH from the centre.
    sigma = torch.maximum(px * 0.7, torch.tensor(0.003))
    phase = torch.sin((u - 0.5) * (3.14159265 / TOOTH_PITCH)) * (TOOTH_PITCH / 3.14159265)
    lines = torch.exp(-((phase / sigma) ** 2))
    # Lower teeth: with the jaw nearly closed (a smile, lips parted in speech) they stand
    # just below the upper ones, a thin dark line between; as the jaw drops past them
    # they sink to a hint above the lower lip.
    together = 1.0 - ((gap - JAW_OPEN[0]) / (JAW_OPEN[1] - JAW_OPEN[0])).clamp(0.0, 1.0)
    hint = torch.minimum(LOWER_TEETH * _arch(u, 0.2), 0.2 * gap) * ((gap - 0.25) / 0.1).clamp(0, 1)
    lower_h = hint + together * (LOWER_TEETH_CLOSED * gap * arch - hint)
    lower_in = _edge(lower_h - above_lower, px) * (lower_h > 0.004).float()
    lower_light = (0.45 + 0.4 * together) * (0.4 + 0.6 * arch) * (1.0 - 0.12 * lines)
    colour = colour + (teeth3 * lower_light - colour) * lower_in
    upper_h = torch.minimum(UPPER_TEETH * arch * arch.sqrt(), 0.55 * gap)
    upper_in = _edge(upper_h - below_upper, px) * (upper_h > 0.004).float()
    shadow = 1.0 - 0.35 * torch.exp(-below_upper / 0.02)
    light = (0.25 + 0.75 * arch * arch) * shadow * (1.0 - 0.12 * lines)
    return colour + (teeth3 * light - colour) * upper_in
