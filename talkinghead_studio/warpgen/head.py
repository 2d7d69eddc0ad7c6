"""Head, hair, neck and background motion outside the face mesh.

The head's rigid motion H carries hair and ears: a projected 3-D motion of the
expression-free landmarks, evaluated at the depth of the head's silhouette (see
:func:`hair_motion`; the face front and the hair move differently in a turn). A weight
w(p) in [0,1] says how much of that motion a point outside the face follows: 1 over the head and hair, falling to 0 down the neck
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
    """Rigid-ish motion of the face front, source -> driving, from 478x3 landmarks (a
    2-D affine fit; the lid clean-up measures expression relative to it)."""
    idx = list(topo.RIGID)
    return fit_affine(src[idx, :2], drv[idx, :2])


# Depth of the head's silhouette behind the face oval's mean depth, in face widths.
# Chosen on self-reenactment (benchmarks/quality.py's 8 clips, first 60 frames, mean
# L1 against the real frames; the 2-D fit to the face front this replaced: 0.0491).
# With one plane for every point outside the face, depth 0 / 0.3 / 0.45 / 0.6 gave
# 0.0457 / 0.0422 / 0.0418 / 0.0425; easing from the oval's own depth across the
# ring (as now), 0.45: 0.0416 with the ring at 0.4 oval radii, 0.0418 at 0.7 (kept:
# the narrow ring stretched the forehead into the hair in +22 degree turns).
HAIR_DEPTH = 0.45


def _inverse3(m: Tensor) -> Tensor:
    """Inverse of a 3x3 matrix by cofactors (no linalg ops: they do not export)."""
    a, b, c = m[0, 0], m[0, 1], m[0, 2]
    d, e, f = m[1, 0], m[1, 1], m[1, 2]
    g, h, i = m[2, 0], m[2, 1], m[2, 2]
    co = torch.stack([torch.stack([e * i - f * h, c * h - b * i, b * f - c * e]),
                      torch.stack([f * g - d * i, a * i - c * g, c * d - a * f]),
                      torch.stack([d * h - e * g, b * g - a * h, a * e - b * d])])
    det = a * co[0, 0] + b * co[1, 0] + c * co[2, 0]
    det = torch.where(det >= 0, det.clamp(min=1e-12), det.clamp(max=-1e-12))
    return co / det


class HairMotion(NamedTuple):
    """Projected 3-D motion of the head around the face, source -> driving.

    M (2x3) maps a source point's centred (x, y, z) to its centred driving (x, y).
    Points beyond the ring lie on the silhouette plane (depth ``plane``), where the map
    is a plain 2-D affine (``silhouette``); ring vertices get their own depths.
    """

    M: Tensor             # 2x3
    src_mean: Tensor      # (3,)
    drv_mean: Tensor      # (2,)
    plane: Tensor         # depth of the silhouette

    def at_depth(self, p: Tensor, z: Tensor) -> Tensor:
        """Driving positions of source points p (..., 2) at depths z (...)."""
        xyz = torch.cat([p, z[..., None]], -1) - self.src_mean
        return xyz @ self.M.transpose(0, 1) + self.drv_mean

    def silhouette(self) -> Affine:
        """The 2-D map of the silhouette plane."""
        A = self.M[:, :2]
        return Affine(A, self.drv_mean - A @ self.src_mean[:2]
                      + self.M[:, 2] * (self.plane - self.src_mean[2]))


def hair_motion(src: Tensor, drv: Tensor) -> HairMotion:
    """Motion of the head around the face (hair, ears), source -> driving.

    The face landmarks sit on the front of the head; hair and ears at the silhouette
    lie further back, nearer the axis the head turns about. In a turn the face front
    slides sideways while the silhouette barely moves, so a 2-D fit to the face would
    drag the hair along with the face. Instead, a least-squares map from the source's
    3-D rigid landmarks to their driving 2-D positions (a projected 3-D motion) is
    applied at the depth of a head proxy: the face oval's own depth at the oval (the
    hairline above the forehead sits near the front of the skull, the hair beside the
    cheeks near the back), easing back across the ring to a silhouette plane HAIR_DEPTH
    face widths behind the oval's mean depth, which carries everything further out.
    """
    idx = list(topo.RIGID)
    xs, yd = src[idx], drv[idx, :2]
    ms, md = xs.mean(0), yd.mean(0)
    x, y = xs - ms, yd - md
    M = (y.transpose(0, 1) @ x) @ _inverse3(x.transpose(0, 1) @ x)          # 2x3
    oval = src[list(topo.FACE_OVAL)]
    width = oval[:, 0].max() - oval[:, 0].min()
    return HairMotion(M, ms, md, oval[:, 2].mean() + HAIR_DEPTH * width)


def head_frame(drv: Tensor) -> HeadFrame:
    chin, top = drv[topo.CHIN, :2], drv[topo.FOREHEAD, :2]
    height = safe_norm(chin - top, 0).clamp(min=1e-3)
    return HeadFrame(chin, (chin - top) / height, height)


def head_weight(p: Tensor, frame: HeadFrame) -> Tensor:
    """How much of the head motion points p (..., 2) follow. Shape (...)."""
    return _head_weight_xy(p[..., 0], p[..., 1], frame)


def _head_weight_xy(px: Tensor, py: Tensor, frame: HeadFrame) -> Tensor:
    """:func:`head_weight` of points given as coordinate tensors px, py (same shape)."""
    below_chin = ((px - frame.chin[0]) * frame.down[0]
                  + (py - frame.chin[1]) * frame.down[1]) / frame.height
    neck = 1.0 - smoothstep(0.0, NECK_LENGTH, below_chin)
    edge = torch.minimum(torch.minimum(px, 1.0 - px), torch.minimum(py, 1.0 - py))
    return neck * smoothstep(BORDER_ZERO, BORDER_FULL, edge)


def outside_backward(p: Tensor, head_inv: Affine, frame: HeadFrame) -> Tensor:
    """Source point for driving points p (..., 2) outside the face and ring; head_inv:
    the inverse of the silhouette's map."""
    return p + head_weight(p, frame)[..., None] * (head_inv.apply(p) - p)


def outside_backward_planar(px: Tensor, py: Tensor, head_inv: Affine, frame: HeadFrame
                            ) -> Tensor:
    """:func:`outside_backward` for many points held as two coordinate vectors px, py
    (N each); returns 2xN (x row, y row).

    The same field on the coarse grid: an Nx2 layout there makes every step broadcast an
    (N, 1) or (2,) operand over rows of two, which onnxruntime runs element pair by
    element pair (~0.2 ms per op at 512 px); rows of N run at full speed."""
    weight = _head_weight_xy(px, py, frame)
    A, t = head_inv.A, head_inv.t
    qx = A[0, 0] * px + A[0, 1] * py + t[0]
    qy = A[1, 0] * px + A[1, 1] * py + t[1]
    return torch.stack([px + weight * (qx - px), py + weight * (qy - py)], 0)


def _forward(s: Tensor, z: Tensor, head: HairMotion, frame: HeadFrame) -> Tensor:
    """Approximate forward of :func:`outside_backward` (w taken at the source point),
    for source points s (..., 2) at depths z (...)."""
    return s + head_weight(s, frame)[..., None] * (head.at_depth(s, z) - s)


def ring_vertices(src: Tensor, drv: Tensor, head: HairMotion, frame: HeadFrame
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
    # Depth eases from the oval's own (layer 0) to the silhouette plane (outer layer).
    ease = torch.cat([torch.zeros(1, 1), t[:, :, 0]], 0)                               # (L+1)x1
    ease = ease * ease * (3.0 - 2.0 * ease)
    depth = src[oval, 2][None] + (head.plane - src[oval, 2][None]) * ease               # (L+1)x36
    forward = _forward(everything, depth, head, frame)
    residual = oval_d[:, :2] - forward[0]
    d = forward[1:] + ((1.0 - t) ** 2) * residual[None]
    # The outermost layer lands exactly on the outside field, so the ring's outer edge has
    # no seam: its source points are where that field says its driving points come from.
    outer = outside_backward(d[-1], head.silhouette().inverse(), frame)
    s = torch.cat([layers[:-1], outer[None]], 0)
    z = oval_d[None, :, 2:].expand(n_layers, -1, -1) + RING_DEPTH
    return s.reshape(-1, 2), torch.cat([d, z], -1).reshape(-1, 3)
