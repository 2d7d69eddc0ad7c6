"""Clean closing of eyes and lips: driving-landmark fixes before the warp.

Tracker contours are noisy and retargeting is approximate, so before warping:

1. Un-cross: where an upper lid margin dips below its lower margin, the upper one stops
   on the lower one; pressed lips that cross meet half way. Crossed contours would turn
   the opening into a string of slivers.
2. Snap shut: an eye whose lid gap is below SNAP_SHUT of the portrait's own reads as
   closed and is closed completely (smoothly between the two values); a slit of eyeball
   along a closed lid looks like a glitch.
3. Slide: in the face mesh the thin band between the upper lid margin and the next ring
   of landmarks holds the lashes. When the lid drops, that ring is pushed down with it
   (and the next ring partly), so the lash band keeps its height and the stretch goes to
   the lid skin above, as a real lid unfolds. Only closing motion is passed on.
4. Tuck: MediaPipe's margins sit a little inside the visible eye, so the lid bands next
   to them hold a strip of sclera and waterline. As an eye closes, the lower margin's
   *source* points slide down by a share of the lower band, and its driving points (with
   the closed upper margin on them) drop by the same amount: the lower lid keeps its
   texture unstretched while its waterline strip disappears under the upper lid. The
   upper margin's source points slide up into the lashes a little for the same reason.
5. Lip thickness: a smiling portrait closing its mouth (or pursing it) would pull each
   lip's inner edge far from its outer edge and stretch a thin lip into a tall red band.
   Each lip column keeps at most LIP_GROWTH times its own height (plus a pixel or two);
   the skin beyond the lip takes the rest of the stretch.
6. Fill sources: the mouth/eye fill triangles' lower vertices take source points that
   slide from the lower margin to the upper one as a pair closes, so a closing slit
   samples lashes or the upper lip's edge, not a squeezed eye or set of teeth.

All landmark tensors: 478x3 crop units, no batch axis. ``down``: the head's unit down
vector (2,).
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from talkinghead_studio.warpgen import topology as topo
from talkinghead_studio.warpgen.geometry import Affine, smoothstep

Tensor = torch.Tensor

SNAP_SHUT = (0.12, 0.30)
RING_FOLLOW = (0.9, 0.45)   # share of the margin's extra closing each ring above follows
TUCK_LOWER = 0.85
TUCK_UPPER = 0.25
LIP_GROWTH = (1.3, 0.004)   # a lip column may grow to 1.3 x its height + 0.004 crop units

# Lip landmark rows from corner to corner, outer contour first, inner contour last; the
# i-th points of the four rows form a column across the lip.
UPPER_LIP_ROWS = ((61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291),
                  (76, 184, 74, 73, 72, 11, 302, 303, 304, 408, 306),
                  (62, 183, 42, 41, 38, 12, 268, 271, 272, 407, 292),
                  topo.MOUTH_UPPER)
LOWER_LIP_ROWS = ((61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291),
                  (76, 77, 90, 180, 85, 16, 315, 404, 320, 307, 306),
                  (62, 96, 89, 179, 86, 15, 316, 403, 319, 325, 292),
                  topo.MOUTH_LOWER)

# Landmark rings around each eye, from the mesh adjacency (nearest ring first).
RIGHT_UPPER_RINGS = ((247, 30, 29, 27, 28, 56, 190, 243), (113, 225, 224, 223, 222, 221, 189))
LEFT_UPPER_RINGS = ((463, 414, 286, 258, 257, 259, 260, 467), (413, 441, 442, 443, 444, 445, 342))
RIGHT_LOWER_RING = (25, 110, 24, 23, 22, 26, 112)
LEFT_LOWER_RING = (341, 256, 252, 253, 254, 339, 255)

_PAIR_UP = [up for _, up in topo.FILL_PAIRS]     # 23 pairs: 7 + 7 eye, then 9 mouth
_PAIR_LO = [low for low, _ in topo.FILL_PAIRS]
_EYE_UP = tuple(_PAIR_UP[:14])
_EYE_LO = tuple(_PAIR_LO[:14])
_UPPER_SHARE = [1.0] * 14 + [0.5] * 9
_MARGINS = [list(topo.RIGHT_EYE_UPPER), list(topo.LEFT_EYE_UPPER)]     # 2x9 with corners
_RINGS = [v for rings in (RIGHT_UPPER_RINGS, LEFT_UPPER_RINGS) for ring in rings for v in ring]
_RING_EYE = [e for e, rings in enumerate((RIGHT_UPPER_RINGS, LEFT_UPPER_RINGS))
             for ring in rings for _ in ring]
_RING_FOLLOW = [f for rings in (RIGHT_UPPER_RINGS, LEFT_UPPER_RINGS)
                for ring, f in zip(rings, RING_FOLLOW) for _ in ring]
_BAND_UP = [list(RIGHT_UPPER_RINGS[0]), list(LEFT_UPPER_RINGS[0])]
_BAND_LO = [list(RIGHT_LOWER_RING), list(LEFT_LOWER_RING)]


class Cleaned(NamedTuple):
    driving: Tensor      # 478x3 driving landmarks after steps 1-3
    mesh_source: Tensor  # 478x3 source landmarks for the mesh (step 4)
    fill_source: Tensor  # len(topo.FILL_PAIRS)x2 source points of the fill copies (step 5)
    closed: Tensor       # (2,) per eye (right, left): 0 open as the portrait, 1 shut


def _along(v: Tensor, down: Tensor) -> Tensor:
    return (v * down).sum(-1)


def _close_pairs(src: Tensor, drv: Tensor, down: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Steps 1-2 on the 23 contour pairs. Returns (upper 23x2, lower 23x2, eye
    closedness (2,): 0 open as the portrait, 1 shut)."""
    up, lo = drv[_PAIR_UP, :2], drv[_PAIR_LO, :2]
    fix = (-_along(lo - up, down)).clamp(min=0.0)[:, None] * down
    share = torch.tensor(_UPPER_SHARE)[:, None]
    up, lo = up - share * fix, lo + (1.0 - share) * fix
    n_eye = len(_EYE_UP)
    gap_d = _along(lo[:n_eye] - up[:n_eye], down).clamp(min=0.0)          # 14
    gap_s = _along(src[list(_EYE_LO), :2] - src[list(_EYE_UP), :2], down)
    openness = gap_d.reshape(2, -1).mean(1) / gap_s.reshape(2, -1).mean(1).clamp(min=1e-4)
    keep = smoothstep(SNAP_SHUT[0], SNAP_SHUT[1], openness).repeat_interleave(n_eye // 2)
    eye_up = up[:n_eye] + ((1.0 - keep) * gap_d)[:, None] * down
    closed = 1.0 - (openness * smoothstep(SNAP_SHUT[0], SNAP_SHUT[1], openness)).clamp(0, 1)
    drop = (closed * TUCK_LOWER * _lower_band(src, down)).repeat_interleave(n_eye // 2)
    eye_up = eye_up + drop[:, None] * down
    eye_lo = lo[:n_eye] + drop[:, None] * down
    return torch.cat([eye_up, up[n_eye:]], 0), torch.cat([eye_lo, lo[n_eye:]], 0), closed


def _lower_band(src: Tensor, down: Tensor) -> Tensor:
    """Per eye (2,): mean height of the band between the lower margin and the ring below."""
    n = len(_EYE_LO) // 2
    margin = _along(src[torch.tensor([list(_EYE_LO[:n]), list(_EYE_LO[n:])])][..., :2],
                    down).mean(-1)
    ring = _along(src[torch.tensor(_BAND_LO)][..., :2], down).mean(-1)
    return (ring - margin).clamp(min=0.0)


def _keep_lip_height(src: Tensor, drv: Tensor) -> Tensor:
    """Step 5: driving landmarks with over-tall lip columns shortened towards the inner
    lip edge (both lips; corners untouched)."""
    rows = torch.tensor([[list(r[1:-1]) for r in UPPER_LIP_ROWS],
                         [list(r[1:-1]) for r in LOWER_LIP_ROWS]])      # 2 lips x 4 rows x 9
    inner_s, outer_s = src[rows[:, 3]][..., :2], src[rows[:, 0]][..., :2]
    inner_d = drv[rows[:, 3]][..., :2]
    height_s = (outer_s - inner_s).norm(dim=-1)                        # 2x9
    height_d = (drv[rows[:, 0]][..., :2] - inner_d).norm(dim=-1).clamp(min=1e-6)
    limit = height_s * LIP_GROWTH[0] + LIP_GROWTH[1]
    keep = (limit / height_d).clamp(max=1.0)                            # 2x9
    idx = rows[:, :3].reshape(-1)                                       # outer + middle rows
    pts = drv[rows[:, :3]][..., :2]                                     # 2x3x9x2
    moved = inner_d[:, None] + (pts - inner_d[:, None]) * keep[:, None, :, None]
    return drv.index_put((idx,), torch.cat([moved.reshape(-1, 2), drv[idx, 2:]], -1))


def _slide_rings(src: Tensor, drv: Tensor, head: Affine, down: Tensor) -> Tensor:
    """Step 3: new positions (len(_RINGS)x2) of the rings above the upper lids.
    ``drv`` already holds the closed margins."""
    margins = torch.tensor(_MARGINS)                                       # 2x9
    m_src, m_drv = src[margins][..., :2], drv[margins][..., :2]             # 2x9x2
    closing = _along(m_drv - head.apply(m_src), down)                      # 2x9
    axis = m_src[:, -1] - m_src[:, 0]                                      # 2x2
    width = axis.norm(dim=-1).clamp(min=1e-3)
    axis = axis / width[:, None]
    pos_m = (m_src * axis[:, None]).sum(-1)                                # 2x9
    eye = torch.tensor(_RING_EYE)
    r_src, r_drv = src[_RINGS, :2], drv[_RINGS, :2]
    pos_r = (r_src * axis[eye]).sum(-1)                                    # R
    spread = (width / 6.0)[eye][:, None]
    w = torch.exp(-(((pos_r[:, None] - pos_m[eye]) / spread) ** 2))       # R x 9
    target = (w * closing[eye]).sum(1) / w.sum(1).clamp(min=1e-6)
    own = _along(r_drv - head.apply(r_src), down)
    extra = (target - own).clamp(min=0.0) * torch.tensor(_RING_FOLLOW)
    return r_drv + extra[:, None] * down


def _tuck(src: Tensor, closed: Tensor, down: Tensor) -> Tensor:
    """Step 4: source landmarks with the margins of closing eyes tucked outwards."""
    def depth(idx) -> Tensor:
        return _along(src[torch.tensor(idx)][..., :2], down).mean(-1)      # (2,)

    n = len(_EYE_UP) // 2
    band_lo = _lower_band(src, down)
    band_up = (depth([list(_EYE_UP[:n]), list(_EYE_UP[n:])]) - depth(_BAND_UP)).clamp(min=0)
    shift_lo = (closed * TUCK_LOWER * band_lo).repeat_interleave(n)[:, None] * down
    shift_up = (closed * TUCK_UPPER * band_up).repeat_interleave(n)[:, None] * down
    idx = torch.tensor(list(_EYE_LO) + list(_EYE_UP))
    moved = torch.cat([src[list(_EYE_LO), :2] + shift_lo, src[list(_EYE_UP), :2] - shift_up])
    return src.index_put((idx,), torch.cat([moved, src[idx, 2:]], -1))


def _fill_sources(src: Tensor, mesh_src: Tensor, up: Tensor, lo: Tensor, down: Tensor
                  ) -> Tensor:
    """Step 6 (FILL_PAIRS are the same 23 pairs, in the same order)."""
    gap_s = _along(src[_PAIR_LO, :2] - src[_PAIR_UP, :2], down)
    gap_d = _along(lo - up, down).clamp(min=0.0)
    # Only once a pair is mostly shut: until then the opening layer covers the fill, and
    # its anti-aliased rim should blend with eye colours, not with lashes.
    shut = smoothstep(0.5, 0.9, 1.0 - (gap_d / gap_s.clamp(min=1e-4)).clamp(0.0, 1.0))
    lower, upper = mesh_src[_PAIR_LO, :2], mesh_src[_PAIR_UP, :2]
    return lower + shut[:, None] * (upper - lower)


def clean_landmarks(src: Tensor, drv: Tensor, head: Affine, down: Tensor) -> Cleaned:
    up, lo, closed = _close_pairs(src, drv, down)
    idx = torch.tensor(_PAIR_UP + _PAIR_LO)
    drv = drv.index_put((idx,), torch.cat([torch.cat([up, lo]), drv[idx, 2:]], -1))
    drv = _keep_lip_height(src, drv)
    rings = _slide_rings(src, drv, head, down)
    ring_idx = torch.tensor(_RINGS)
    drv = drv.index_put((ring_idx,), torch.cat([rings, drv[ring_idx, 2:]], -1))
    mesh_src = _tuck(src, closed, down)
    return Cleaned(drv, mesh_src, _fill_sources(src, mesh_src, up, lo, down), closed)
