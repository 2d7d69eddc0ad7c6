"""Small differentiable-free geometry helpers that export to plain ONNX ops.

Units: crop-normalised (x, y in [0,1] across the crop, y down). Tensors carry no batch
axis here; the model strips it. Exporter notes (../shared/FINDINGS.md): no linalg
solves (2x2 inverses are written out), and tiny epsilons are applied with clamps, never
added, because the ONNX optimiser folds ``x + 1e-12`` into ``x``.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

Tensor = torch.Tensor


class Affine(NamedTuple):
    """p -> A @ p + t for points p of shape (..., 2). A: 2x2, t: (2,)."""

    A: Tensor
    t: Tensor

    def apply(self, p: Tensor) -> Tensor:
        return p @ self.A.transpose(0, 1) + self.t

    def inverse(self) -> "Affine":
        a, b, c, d = self.A[0, 0], self.A[0, 1], self.A[1, 0], self.A[1, 1]
        det = a * d - b * c
        # A head fit is never near-singular in practice; the clamp only keeps garbage
        # landmarks from producing inf/NaN.
        det = torch.where(det >= 0, det.clamp(min=1e-6), det.clamp(max=-1e-6))
        inv = torch.stack([torch.stack([d, -b]), torch.stack([-c, a])]) / det
        return Affine(inv, -(inv @ self.t))


def fit_affine(src: Tensor, dst: Tensor) -> Affine:
    """Least-squares 2-D affine map taking src (Nx2) onto dst (Nx2)."""
    ms, md = src.mean(0), dst.mean(0)
    x, y = src - ms, dst - md
    sxx = x.transpose(0, 1) @ x          # 2x2, symmetric
    syx = y.transpose(0, 1) @ x          # 2x2
    inv = Affine(sxx, torch.zeros_like(ms)).inverse().A
    A = syx @ inv
    return Affine(A, md - A @ ms)


def similarity_from_pair(a_src: Tensor, b_src: Tensor, a_dst: Tensor, b_dst: Tensor) -> Affine:
    """The rotation+scale+shift that takes segment a_src-b_src onto a_dst-b_dst (all (2,))."""
    vs, vd = b_src - a_src, b_dst - a_dst
    n2 = (vs * vs).sum().clamp(min=1e-10)
    # complex division vd / vs = (c + i s)
    c = (vd[0] * vs[0] + vd[1] * vs[1]) / n2
    s = (vd[1] * vs[0] - vd[0] * vs[1]) / n2
    A = torch.stack([torch.stack([c, -s]), torch.stack([s, c])])
    return Affine(A, a_dst - A @ a_src)


def smoothstep(edge0: float, edge1: float, x: Tensor) -> Tensor:
    t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def safe_norm(v: Tensor, dim: int = -1) -> Tensor:
    return (v * v).sum(dim).clamp(min=1e-12).sqrt()


def pixel_centres(ny: Tensor | int, nx: Tensor | int, r: Tensor | int,
                  y0: Tensor | int = 0, x0: Tensor | int = 0) -> Tensor:
    """Crop-unit centres of cells (y0..y0+ny, x0..x0+nx) of an r x r grid. ny x nx x 2 (x, y)."""
    ys = (torch.arange(ny, dtype=torch.float32) + y0 + 0.5) / r
    xs = (torch.arange(nx, dtype=torch.float32) + x0 + 0.5) / r
    gy = ys[:, None].expand(-1, xs.shape[0])
    gx = xs[None, :].expand(ys.shape[0], -1)
    return torch.stack([gx, gy], -1)
