"""Where the pixels inside the mouth and eye openings come from.

Mouth: a driving pixel in the mouth opening belongs to the upper jaw if it is nearer the
upper inner lip, else to the lower jaw. It keeps its offset from that lip (rotated and
scaled with the mouth, never stretched), so teeth stay attached to their lip instead of
being smeared across the gap. Where that offset reaches past the middle of the
*source's* opening there is nothing real to show (a closed source mouth has no
interior at all): those pixels get a synthetic interior (see shading.py), weighted by
``synthetic``.

Eyes: the eyeball is rigid with the eye corners, so a blink lets the lids slide over an
unchanged eye instead of squashing the iris. Gaze moves the iris disc by the driving
iris offset, fading out over the sclera around it.

The three openings are bounded by six contour chains, handled in one batch. All
functions take P driving points (Px2, crop units) and 478x3 landmarks.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from talkinghead_studio.warpgen import topology as topo
from talkinghead_studio.warpgen.geometry import safe_norm, similarity_from_pair, smoothstep

Tensor = torch.Tensor

REAL_INTERIOR_MAR = (0.05, 0.12)  # source mouth-aspect range where its interior is trusted
REAL_INTERIOR_FADE = 0.08         # mouth widths over which real interior fades to synthetic
GAZE_FALLOFF = (1.35, 2.8)        # iris radii: full iris shift inside, none outside


def _pad(chain: tuple[int, ...], length: int = 11) -> list[int]:
    return list(chain) + [chain[-1]] * (length - len(chain))


# Upper/lower chain per opening, each running left to right on screen: mouth, right eye,
# left eye (whose MediaPipe chains run inner -> outer, i.e. right to left: reversed).
_CHAINS = torch.tensor([_pad(topo.MOUTH_UPPER), _pad(topo.MOUTH_LOWER),
                        _pad(topo.RIGHT_EYE_UPPER), _pad(topo.RIGHT_EYE_LOWER),
                        _pad(topo.LEFT_EYE_UPPER[::-1]), _pad(topo.LEFT_EYE_LOWER[::-1])])
_CHAIN_LENGTH = [len(topo.MOUTH_UPPER), len(topo.MOUTH_UPPER)] + [len(topo.RIGHT_EYE_UPPER)] * 4
_CORNERS = torch.tensor([[topo.MOUTH_UPPER[0], topo.MOUTH_UPPER[-1]],
                         [topo.RIGHT_EYE_UPPER[0], topo.RIGHT_EYE_UPPER[-1]],
                         [topo.LEFT_EYE_UPPER[-1], topo.LEFT_EYE_UPPER[0]]])   # 3x2
_IRIS = torch.tensor([topo.RIGHT_IRIS, topo.LEFT_IRIS])                          # 2x5


class InnerFields(NamedTuple):
    source: Tensor       # Px2 source point of the opening the point is in (or nearest)
    depth: Tensor        # P depth inside that opening, crop units (negative outside)
    opening: Tensor      # P local height of the opening, crop units
    synthetic: Tensor    # P in [0,1]: share of synthetic mouth interior
    u: Tensor            # P position between the mouth corners (0..1)
    below_upper: Tensor  # P distance below the upper inner lip, mouth widths
    above_lower: Tensor  # P distance above the lower inner lip, mouth widths


def chains_closest(p: Tensor, chains: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Closest points of C open polylines (CxKx2) to P points: (signed distance PxC,
    positive on the right of the chain's direction, i.e. below a left-to-right chain;
    segment index PxC long; fraction along it PxC).

    Written with two small matrix products so that no P x C x K x 2 tensor is built.
    """
    n_chains, n_pts = chains.shape[0], chains.shape[1]
    a = chains[:, :-1].reshape(-1, 2)                                      # Mx2 segment starts
    ab = (chains[:, 1:] - chains[:, :-1]).reshape(-1, 2)                   # Mx2
    normal = torch.stack([-ab[:, 1], ab[:, 0]], -1)
    proj = p @ torch.cat([ab, normal, a], 0).transpose(0, 1)              # Px3M
    m = a.shape[0]
    dot = proj[:, :m] - (a * ab).sum(-1)                                   # (p-a).ab
    cross = proj[:, m:2 * m] - (a * normal).sum(-1)                        # (p-a).n
    length2 = (ab * ab).sum(-1).clamp(min=1e-12)
    t = (dot / length2).clamp(0.0, 1.0)
    d2 = ((p * p).sum(-1, keepdim=True) - 2.0 * proj[:, 2 * m:] + (a * a).sum(-1)
          - t * (2.0 * dot - t * length2))
    shape = (p.shape[0], n_chains, n_pts - 1)
    d2, t, cross = d2.reshape(shape), t.reshape(shape), cross.reshape(shape)
    k = d2.argmin(-1, keepdim=True)                                        # PxCx1
    side = torch.where(cross.gather(-1, k) >= 0, 1.0, -1.0)
    dist = d2.gather(-1, k).clamp(min=1e-14).sqrt() * side
    return dist[..., 0], k[..., 0], t.gather(-1, k)[..., 0]


def _chain_point(chain: Tensor, k: Tensor, t: Tensor) -> Tensor:
    """Point at segment k, fraction t of a chain (Kx2); k, t: (P,). Px2."""
    return chain[k] + t[:, None] * (chain[k + 1] - chain[k])


def mouth_width(lm: Tensor) -> Tensor:
    a, b = topo.MOUTH_UPPER[0], topo.MOUTH_UPPER[-1]
    return safe_norm(lm[b, :2] - lm[a, :2], 0).clamp(min=1e-3)


def source_openness(src: Tensor) -> Tensor:
    """0 for a closed source mouth, 1 when it is open enough to show its interior."""
    up, lo = src[list(topo.MOUTH_UPPER), :2], src[list(topo.MOUTH_LOWER), :2]
    gap = safe_norm(up[1:-1] - lo[1:-1]).mean()
    return smoothstep(REAL_INTERIOR_MAR[0], REAL_INTERIOR_MAR[1], gap / mouth_width(src))


def _mouth_source(p: Tensor, src: Tensor, drv: Tensor, dist: Tensor, k: Tensor, t: Tensor
                  ) -> tuple[Tensor, Tensor]:
    """(source point Px2, real-interior weight P) for the mouth; dist/k/t: Px2 for the
    upper and lower inner-lip chains."""
    up_d, lo_d = drv[_CHAINS[0], :2], drv[_CHAINS[1], :2]
    up_s, lo_s = src[_CHAINS[0], :2], src[_CHAINS[1], :2]
    frame = similarity_from_pair(up_d[0], up_d[-1], up_s[0], up_s[-1])   # driving -> source
    below, above = dist[:, 0], -dist[:, 1]
    use_up = below <= above
    kk = torch.where(use_up, k[:, 0], k[:, 1])
    tt = torch.where(use_up, t[:, 0], t[:, 1])
    near_d = torch.where(use_up[:, None], _chain_point(up_d, kk, tt), _chain_point(lo_d, kk, tt))
    near_s = torch.where(use_up[:, None], _chain_point(up_s, kk, tt), _chain_point(lo_s, kk, tt))
    source = near_s + (p - near_d) @ frame.A.transpose(0, 1)
    # How far into the source's own opening that point lies (half of it per jaw).
    opening_s = safe_norm(_chain_point(up_s, kk, tt) - _chain_point(lo_s, kk, tt))
    reach_s = torch.minimum(below, above).clamp(min=0.0) * safe_norm(frame.A[:, 0], 0)
    fade = REAL_INTERIOR_FADE * mouth_width(src)
    real = (1.0 - (reach_s - 0.5 * opening_s) / fade).clamp(0.0, 1.0) * source_openness(src)
    return source, real


def _eye_sources(p: Tensor, src: Tensor, drv: Tensor) -> Tensor:
    """Source points for both eyes, Px2x2 (point, eye): rigid eyeball plus gaze shift."""
    corners = _CORNERS[1:]                                                 # 2x2
    a_s, b_s = src[corners[:, 0], :2], src[corners[:, 1], :2]             # 2x2 each
    a_d, b_d = drv[corners[:, 0], :2], drv[corners[:, 1], :2]
    vs, vd = b_s - a_s, b_d - a_d
    n2 = (vs * vs).sum(-1).clamp(min=1e-10)
    c = (vd * vs).sum(-1) / n2                                             # complex vd/vs
    s = (vd[:, 1] * vs[:, 0] - vd[:, 0] * vs[:, 1]) / n2
    iris_d, iris_s = drv[_IRIS[:, 0], :2], src[_IRIS[:, 0], :2]           # 2x2
    rel = iris_s - a_s
    iris_fwd = a_d + torch.stack([c * rel[:, 0] - s * rel[:, 1], s * rel[:, 0] + c * rel[:, 1]], -1)
    # The portrait's own iris size (scaled with the eye), not the driver's: the whole
    # visible iris must move as one disc, or its rim smears across the white.
    radius = (safe_norm(src[_IRIS[:, 1:], :2] - iris_s[:, None]).mean(-1)
              * (c * c + s * s).sqrt()).clamp(min=1e-3)
    reach = smoothstep(GAZE_FALLOFF[0], GAZE_FALLOFF[1],
                       safe_norm(p[:, None] - iris_d[None]) / radius)      # Px2
    q = p[:, None] - (1.0 - reach)[..., None] * (iris_d - iris_fwd)[None] - a_d[None]
    inv = 1.0 / (c * c + s * s).clamp(min=1e-10)                           # inverse rotation
    back = torch.stack([c * q[..., 0] + s * q[..., 1], -s * q[..., 0] + c * q[..., 1]], -1)
    return a_s[None] + back * inv[None, :, None]


def inner_fields(p: Tensor, src: Tensor, drv: Tensor) -> InnerFields:
    chains = drv[_CHAINS, :2]                                              # 6x11x2
    dist, k, t = chains_closest(p, chains)
    ends = drv[_CORNERS, :2]                                               # 3x2x2
    axis = (ends[:, 1] - ends[:, 0]) / safe_norm(ends[:, 1] - ends[:, 0])[:, None]
    from_left = ((p[:, None] - ends[None, :, 0]) * axis[None]).sum(-1)      # Px3
    from_right = ((ends[None, :, 1] - p[:, None]) * axis[None]).sum(-1)
    below, above = dist[:, 0::2], -dist[:, 1::2]                           # Px3 each
    depth = torch.minimum(torch.minimum(below, above), torch.minimum(from_left, from_right))
    region = depth.argmax(1, keepdim=True)                                 # Px1
    mouth_src, real = _mouth_source(p, src, drv, dist[:, :2], k[:, :2], t[:, :2])
    sources = torch.cat([mouth_src[:, None], _eye_sources(p, src, drv)], 1)  # Px3x2
    source = sources.gather(1, region[..., None].expand(-1, -1, 2))[:, 0]
    is_mouth = (region[:, 0] == 0).float()
    width = mouth_width(drv)
    return InnerFields(source, depth.gather(1, region)[:, 0],
                       (below + above).gather(1, region)[:, 0], (1.0 - real) * is_mouth,
                       from_left[:, 0] / width, below[:, 0] / width, above[:, 0] / width)


def window_points(drv: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Driving landmarks each inner-layer window must cover: the mouth's contours, the
    right eye's, the left eye's (22x2 each)."""
    return tuple(drv[_CHAINS[2 * k:2 * k + 2].reshape(-1), :2] for k in range(3))
