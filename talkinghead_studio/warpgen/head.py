"""Head, hair, neck and background motion outside the face mesh.

The head's rigid motion H (a 2-D affine fit to expression-free landmarks, source ->
driving) carries hair and ears. A weight w(p) in [0,1] says how much of that motion a
point outside the face follows: 1 over the head and hair, falling to 0 down the neck
(so the torso stays) and near the crop border (so the feathered paste-back seam sees
no motion). Backward map outside the face: F(p) = p + w(p) (H^-1(p) - p).

Between the face oval and that field sits a ring of triangles whose inner edge is the
oval itself and whose outer edge lies exactly on the outside field: expression motion
of the jaw and cheeks (not captured by H) fades out across it, continuously.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from talkinghead_studio.warpgen import topology as topo
from talkinghead_studio.warpgen.geometry import Affine, fit_affine, safe_norm, smoothstep

Tensor = torch.Tensor

NECK_LENGTH = 0.35      # head weight reaches 0 this far below the chin, in face heights
BORDER_ZERO = 0.02      # crop units from the edge where motion is 0 ...
BORDER_FULL = 0.12      # ... and where it is full again
RING_DEPTH = 1.0        # ring triangles sit this far behind the face in the z-buffer


class HeadFrame(NamedTuple):
    """The driving head's chin, down axis (unit, 2) and forehead-chin height."""

    chin: Tensor
    down: Tensor
    height: Tensor


def head_motion(src: Tensor, drv: Tensor) -> Affine:
    """Rigid-ish head motion, source -> driving, from 478x3 landmarks."""
    idx = list(topo.RIGID)
    return fit_affine(src[idx, :2], drv[idx, :2])


def head_frame(drv: Tensor) -> HeadFrame:
    chin, top = drv[topo.CHIN, :2], drv[topo.FOREHEAD, :2]
    height = safe_norm(chin - top, 0).clamp(min=1e-3)
    return HeadFrame(chin, (chin - top) / height, height)


def head_weight(p: Tensor, frame: HeadFrame) -> Tensor:
    """How much of the head motion points p (..., 2) follow. Shape (...)."""
    below_chin = ((p - frame.chin) * frame.down).sum(-1) / frame.height
    neck = 1.0 - smoothstep(0.0, NECK_LENGTH, below_chin)
    edge = torch.minimum(p, 1.0 - p).min(-1).values
    return neck * smoothstep(BORDER_ZERO, BORDER_FULL, edge)


def outside_backward(p: Tensor, head_inv: Affine, frame: HeadFrame) -> Tensor:
    """Source point for driving points p (..., 2) outside the face and ring."""
    return p + head_weight(p, frame)[..., None] * (head_inv.apply(p) - p)


def _forward(s: Tensor, head: Affine, frame: HeadFrame) -> Tensor:
    """Approximate forward of :func:`outside_backward` (w taken at the source point)."""
    return s + head_weight(s, frame)[..., None] * (head.apply(s) - s)


def ring_vertices(src: Tensor, drv: Tensor, head: Affine, frame: HeadFrame
                  ) -> tuple[Tensor, Tensor]:
    """Ring vertices around the oval, layer by layer (see topology.ring_vertex_index).

    src, drv: 478x3 landmarks. Returns (source (L*36)x2, driving (L*36)x3).
    """
    oval = list(topo.FACE_OVAL)
    oval_s, oval_d = src[oval, :2], drv[oval]
    centre = oval_s.mean(0)
    n_layers = topo.RING_LAYERS
    t = torch.arange(1, n_layers + 1, dtype=torch.float32)[:, None, None] / n_layers   # Lx1x1
    layers = oval_s[None] + (t * topo.RING_REACH) * (oval_s - centre)[None]           # Lx36x2
    everything = torch.cat([oval_s[None], layers], 0)                                  # (L+1)x36x2
    forward = _forward(everything, head, frame)
    residual = oval_d[:, :2] - forward[0]
    d = forward[1:] + ((1.0 - t) ** 2) * residual[None]
    # The outermost layer lands exactly on the outside field, so the ring's outer edge has
    # no seam: its source points are where that field says its driving points come from.
    outer = outside_backward(d[-1], head.inverse(), frame)
    s = torch.cat([layers[:-1], outer[None]], 0)
    z = oval_d[None, :, 2:].expand(n_layers, -1, -1) + RING_DEPTH
    return s.reshape(-1, 2), torch.cat([d, z], -1).reshape(-1, 3)
