"""Where the pixels inside the mouth and eye holes come from.

Mouth: a driving pixel in the mouth hole belongs to the upper jaw if it is nearer the
upper inner lip, else to the lower jaw. It keeps its offset from that lip (rotated and
scaled with the mouth, never stretched), so teeth stay attached to their lip instead of
being smeared across the gap. Where that offset reaches past the middle of the
*source's* opening there is nothing real to show (a closed source mouth has no
interior at all): those pixels get a synthetic interior (see shading.py), weighted by
``synthetic``.

Eyes: the eyeball is rigid with the eye corners, so a blink lets the lids slide over an
unchanged eye instead of squashing the iris. Gaze moves the iris disc by the driving
iris offset, fading out over the sclera around it.

All functions take P driving points (Px2, crop units) and 478x3 landmarks.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from talkinghead_studio.warpgen import topology as topo
from talkinghead_studio.warpgen.geometry import (
    chain_point,
    polyline_closest,
    safe_norm,
    similarity_from_pair,
    smoothstep,
)

Tensor = torch.Tensor

REAL_INTERIOR_MAR = (0.05, 0.12)  # source mouth-aspect range where its interior is trusted
REAL_INTERIOR_FADE = 0.08         # mouth widths over which real interior fades to synthetic
GAZE_FALLOFF = (1.0, 2.6)         # iris radii: full iris shift inside, none outside


class MouthFields(NamedTuple):
    source: Tensor      # Px2 source point
    distance: Tensor    # P distance to the inner-lip contour, crop units
    synthetic: Tensor   # P in [0,1]: share of synthetic interior
    u: Tensor           # P position between the mouth corners (0..1)
    below_upper: Tensor  # P distance below the upper lip, mouth widths
    above_lower: Tensor  # P distance above the lower lip, mouth widths


def _chains(lm: Tensor) -> tuple[Tensor, Tensor]:
    return lm[list(topo.MOUTH_UPPER), :2], lm[list(topo.MOUTH_LOWER), :2]


def mouth_width(lm: Tensor) -> Tensor:
    a, b = topo.MOUTH_UPPER[0], topo.MOUTH_UPPER[-1]
    return safe_norm(lm[b, :2] - lm[a, :2], 0).clamp(min=1e-3)


def source_openness(src: Tensor) -> Tensor:
    """0 for a closed source mouth, 1 when it is open enough to show its interior."""
    up, lo = _chains(src)
    gap = safe_norm(up[1:-1] - lo[1:-1]).mean()
    return smoothstep(REAL_INTERIOR_MAR[0], REAL_INTERIOR_MAR[1], gap / mouth_width(src))


def mouth_fields(p: Tensor, src: Tensor, drv: Tensor) -> MouthFields:
    up_d, lo_d = _chains(drv)
    up_s, lo_s = _chains(src)
    corner_d, corner_s = up_d[0], up_s[0]
    frame = similarity_from_pair(corner_d, up_d[-1], corner_s, up_s[-1])  # driving -> source
    scale = safe_norm(frame.A[:, 0], 0)
    dist_up, k_up, t_up = polyline_closest(p, up_d)
    dist_lo, k_lo, t_lo = polyline_closest(p, lo_d)
    use_up = dist_up <= dist_lo
    k = torch.where(use_up, k_up, k_lo)
    t = torch.where(use_up, t_up, t_lo)
    near_d = torch.where(use_up[:, None], chain_point(up_d, k, t), chain_point(lo_d, k, t))
    near_s = torch.where(use_up[:, None], chain_point(up_s, k, t), chain_point(lo_s, k, t))
    source = near_s + (p - near_d) @ frame.A.transpose(0, 1)
    # How far into the source's own opening that point lies (half of it per jaw).
    opening_s = safe_norm(chain_point(up_s, k, t) - chain_point(lo_s, k, t))
    depth_s = torch.minimum(dist_up, dist_lo) * scale
    fade = REAL_INTERIOR_FADE * mouth_width(src)
    real = (1.0 - (depth_s - 0.5 * opening_s) / fade).clamp(0.0, 1.0) * source_openness(src)
    width_d = mouth_width(drv)
    axis = (up_d[-1] - corner_d) / width_d
    u = ((p - corner_d) * axis).sum(-1) / width_d
    return MouthFields(source, torch.minimum(dist_up, dist_lo), 1.0 - real, u,
                       dist_up / width_d, dist_lo / width_d)


def _one_eye(p: Tensor, src: Tensor, drv: Tensor, upper, lower, iris) -> tuple[Tensor, Tensor]:
    """(source point Px2, distance to the lid margins P) for one eye."""
    outer, inner = upper[0], upper[-1]
    eye = similarity_from_pair(src[outer, :2], src[inner, :2], drv[outer, :2], drv[inner, :2])
    centre_d, centre_s = drv[iris[0], :2], src[iris[0], :2]
    radius = safe_norm(drv[list(iris[1:]), :2] - centre_d).mean().clamp(min=1e-3)
    shift = centre_d - eye.apply(centre_s)
    reach = smoothstep(GAZE_FALLOFF[0], GAZE_FALLOFF[1], safe_norm(p - centre_d) / radius)
    source = eye.inverse().apply(p - (1.0 - reach)[:, None] * shift)
    d_up = polyline_closest(p, drv[list(upper), :2])[0]
    d_lo = polyline_closest(p, drv[list(lower), :2])[0]
    return source, torch.minimum(d_up, d_lo)


def eye_fields(p: Tensor, src: Tensor, drv: Tensor) -> tuple[Tensor, Tensor]:
    """(source point Px2, distance to the nearer eye's lid margins P)."""
    right = _one_eye(p, src, drv, topo.RIGHT_EYE_UPPER, topo.RIGHT_EYE_LOWER, topo.RIGHT_IRIS)
    left = _one_eye(p, src, drv, topo.LEFT_EYE_UPPER, topo.LEFT_EYE_LOWER, topo.LEFT_IRIS)
    use_right = right[1] <= left[1]
    return (torch.where(use_right[:, None], right[0], left[0]),
            torch.where(use_right, right[1], left[1]))


def window_points(drv: Tensor) -> Tensor:
    """Driving landmarks the inner-layer window must cover (mouth and eye contours)."""
    idx = (topo.MOUTH_UPPER + topo.MOUTH_LOWER + topo.RIGHT_EYE_UPPER + topo.RIGHT_EYE_LOWER
           + topo.LEFT_EYE_UPPER + topo.LEFT_EYE_LOWER)
    return drv[list(idx), :2]
