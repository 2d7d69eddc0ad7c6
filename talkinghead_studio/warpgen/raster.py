"""A z-buffered triangle rasteriser made of plain tensor ops (exports to ONNX).

Instead of testing every pixel against every triangle (P x T), each triangle tests only
the S x S block of grid cells around its bounding box, where S is the largest triangle
extent in cells (measured every frame, so big faces or zoomed drivers still rasterise
completely). A scatter-min builds the z-buffer; a second scatter picks, per cell, the
triangle whose depth won. At 512x512 (a 128x128 grid) that is ~1100 triangles x ~100
cells instead of 1100 x 16384.

Units: crop-normalised x, y; z in crop units, negative towards the camera (the front-
most triangle has the smallest z).
"""
from __future__ import annotations

import torch

Tensor = torch.Tensor

_DET_EPS = 1e-9       # crop units^2: triangles thinner than this cover nothing
_INSIDE_TOL = 1e-4    # barycentric slack so shared edges leave no cracks
_FAR = 1e6


def triangle_maps(vd: Tensor, vs: Tensor, tris: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-triangle affine maps from a driving point (x, y, 1).

    vd: Vx3 driving vertices (x, y, z); vs: Vx2 source vertices; tris: Tx3 long.
    Returns (bary Tx2x3: -> (l1, l2), src Tx2x3: -> source xy, depth Tx3: -> z,
    valid T bool).
    """
    d, s = vd[tris], vs[tris]                                     # Tx3x3, Tx3x2
    e1, e2 = d[:, 1, :2] - d[:, 0, :2], d[:, 2, :2] - d[:, 0, :2]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    valid = det.abs() > _DET_EPS
    det = torch.where(det >= 0, det.clamp(min=_DET_EPS), det.clamp(max=-_DET_EPS))
    row1 = torch.stack([e2[:, 1], -e2[:, 0]], -1) / det[:, None]  # l1 = row1 . (p - d0)
    row2 = torch.stack([-e1[:, 1], e1[:, 0]], -1) / det[:, None]
    lin = torch.stack([row1, row2], 1)                            # Tx2x2
    off = -(lin @ d[:, 0, :2, None])[..., 0]                       # Tx2
    bary = torch.cat([lin, off[..., None]], -1)                    # Tx2x3
    es = torch.stack([s[:, 1] - s[:, 0], s[:, 2] - s[:, 0]], -1)   # Tx2x2 (columns)
    src = es @ bary
    src = torch.cat([src[..., :2], src[..., 2:] + s[:, 0, :, None]], -1)
    ez = torch.stack([d[:, 1, 2] - d[:, 0, 2], d[:, 2, 2] - d[:, 0, 2]], -1)  # Tx2
    depth = (ez[:, :, None] * bary).sum(1)
    depth = torch.cat([depth[:, :2], depth[:, 2:] + d[:, 0, 2:3]], -1)
    return bary, src, depth, valid


def _candidates(vd: Tensor, tris: Tensor, r: Tensor | int) -> tuple[Tensor, Tensor]:
    """Cell indices (T x S x S, long) each triangle must test, and their centres (TxSxSx2)."""
    xy = vd[tris][..., :2]                                        # Tx3x2
    lo, hi = xy.min(1).values, xy.max(1).values                    # Tx2
    size = torch.ceil((hi - lo).max() * r).clamp(max=r // 4).long() + 2
    steps = torch.arange(size)
    origin = torch.floor(lo * r - 0.5).long()                      # Tx2
    ix = origin[:, 0, None, None] + steps[None, None, :]           # Tx1xS
    iy = origin[:, 1, None, None] + steps[None, :, None]           # TxSx1
    ix, iy = torch.broadcast_tensors(ix, iy)
    inside_grid = (ix >= 0) & (ix < r) & (iy >= 0) & (iy < r)
    flat = torch.where(inside_grid, iy * r + ix, torch.full_like(ix, -1))
    centres = torch.stack([(ix.float() + 0.5) / r, (iy.float() + 0.5) / r], -1)
    return flat, centres


def rasterise(vd: Tensor, vs: Tensor, tris: Tensor, r: Tensor | int) -> tuple[Tensor, Tensor]:
    """Front-most triangle at each cell centre of an r x r grid, and its source point.

    Returns (tri_index r*r long, -1 where no triangle covers the cell;
    source_xy r*r x 2 float, meaningless where tri_index is -1).
    """
    bary, src_map, depth_map, valid = triangle_maps(vd, vs, tris)
    flat, centres = _candidates(vd, tris, r)
    p1 = torch.cat([centres, torch.ones_like(centres[..., :1])], -1)   # TxSxSx3
    l12 = torch.einsum("tij,tyxj->tyxi", bary, p1)
    l0 = 1.0 - l12[..., 0] - l12[..., 1]
    inside = torch.minimum(l0, l12.min(-1).values) >= -_INSIDE_TOL
    ok = inside & valid[:, None, None] & (flat >= 0)
    z = (p1 * depth_map[:, None, None, :]).sum(-1)
    cells = r * r
    slot = torch.where(ok, flat, torch.full_like(flat, cells)).reshape(-1)  # cells = trash
    zbuf = torch.full((cells + 1,), _FAR).scatter_reduce(
        0, slot, z.reshape(-1), reduce="amin", include_self=True)
    tri_id = torch.arange(tris.shape[0])[:, None, None].expand_as(flat).reshape(-1)
    wins = ok.reshape(-1) & (z.reshape(-1) <= zbuf[slot])
    slot = torch.where(wins, slot, torch.full_like(slot, cells))
    ids = torch.full((cells + 1,), -1, dtype=torch.long).scatter_reduce(
        0, slot, tri_id, reduce="amax", include_self=True)[:cells]
    pick = src_map[ids.clamp(min=0)]                              # (r*r)x2x3
    grid = _grid_centres(r)
    g1 = torch.cat([grid, torch.ones_like(grid[:, :1])], -1)
    source = (pick * g1[:, None, :]).sum(-1)
    return ids, source


def _grid_centres(r: Tensor | int) -> Tensor:
    """Centres of all r x r cells in row-major order, (r*r) x 2 (x, y)."""
    c = (torch.arange(r, dtype=torch.float32) + 0.5) / r
    gx = c[None, :].expand(c.shape[0], -1).reshape(-1)
    gy = c[:, None].expand(-1, c.shape[0]).reshape(-1)
    return torch.stack([gx, gy], -1)
