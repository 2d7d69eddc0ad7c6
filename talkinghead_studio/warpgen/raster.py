"""A z-buffered triangle rasteriser made of plain tensor ops (exports to ONNX).

Instead of testing every cell against every triangle, each triangle tests only the
S x S block of grid cells around its bounding box. S is measured every frame, per class
of triangles of similar size in that frame (so one big triangle does not inflate the
block of all the others, and a zoomed driver still rasterises completely). Barycentric coordinates
and depth are affine in the cell position, so they are built from a row part plus a
column part (one broadcast add each). The z-buffer and the winning triangle come from
a single scatter-min of a packed int64 key: quantised depth in the high bits, triangle
index in the low bits.

Units: crop-normalised x, y; z in crop units, negative towards the camera (the front-
most triangle has the smallest z).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from talkinghead_studio.warpgen.onnx_ops import scatter_min

Tensor = torch.Tensor

_DET_EPS = 1e-9        # crop units^2: triangles thinner than this cover nothing
_INSIDE_TOL = 1e-4     # barycentric slack so shared edges leave no cracks
_Z_RANGE = (-3.9, 11.0)
_Z_OFFSET, _Z_SCALE = 4.0, float(2 ** 20)  # (z + 4) * 2^20 stays below 2^24: exact in float32
_ID_BITS = 4096        # triangle index in the low bits of the key (more than enough)
_EMPTY = 2 ** 40       # key of a cell no triangle covers
COARSE_STEP = 4        # output pixels per coarse cell (edge refinement)


class TriangleMaps:
    """Per-triangle affine maps of a driving point (x, y, 1), for T triangles.

    coef: Tx4x3, rows l0, l1, l2 (barycentric coordinates) and the quantised depth
    (z + 4) * 2^20. A degenerate triangle gets l0 = -1 everywhere, so it covers nothing.
    src: Tx6 (source x row, source y row); lo, hi: Tx2 bounding box.
    """

    def __init__(self, vd: Tensor, vs: Tensor, tris: Tensor) -> None:
        d0, d1, d2 = vd[tris[:, 0]], vd[tris[:, 1]], vd[tris[:, 2]]     # Tx3 each
        ax, ay = d1[:, 0] - d0[:, 0], d1[:, 1] - d0[:, 1]               # edge d0->d1
        bx, by = d2[:, 0] - d0[:, 0], d2[:, 1] - d0[:, 1]               # edge d0->d2
        det = ax * by - ay * bx
        valid = det.abs() > _DET_EPS
        det = torch.where(det >= 0, det.clamp(min=_DET_EPS), det.clamp(max=-_DET_EPS))
        # l1 = (by (x - x0) - bx (y - y0)) / det, l2 = (ax (y - y0) - ay (x - x0)) / det
        l1 = torch.stack([by, -bx, bx * d0[:, 1] - by * d0[:, 0]], -1) / det[:, None]
        l2 = torch.stack([-ay, ax, ay * d0[:, 0] - ax * d0[:, 1]], -1) / det[:, None]
        l0 = torch.tensor([0.0, 0.0, 1.0]) - l1 - l2
        never = torch.tensor([0.0, 0.0, -1.0])
        l0 = torch.where(valid[:, None], l0, never)
        l1 = torch.where(valid[:, None], l1, torch.zeros_like(l1))
        l2 = torch.where(valid[:, None], l2, torch.zeros_like(l2))
        z = (torch.stack([d0[:, 2], d1[:, 2], d2[:, 2]], -1).clamp(*_Z_RANGE)
             + _Z_OFFSET) * _Z_SCALE                                     # Tx3
        depth = z[:, 0:1] * l0 + z[:, 1:2] * l1 + z[:, 2:3] * l2
        self.coef = torch.stack([l0, l1, l2, depth], 1)                  # Tx4x3
        s0, s1, s2 = vs[tris[:, 0]], vs[tris[:, 1]], vs[tris[:, 2]]     # Tx2 each
        self.src = torch.cat([s0[:, 0:1] * l0 + s1[:, 0:1] * l1 + s2[:, 0:1] * l2,
                              s0[:, 1:2] * l0 + s1[:, 1:2] * l1 + s2[:, 1:2] * l2], -1)
        xs = torch.stack([d0[:, 0], d1[:, 0], d2[:, 0]], -1)
        ys = torch.stack([d0[:, 1], d1[:, 1], d2[:, 1]], -1)
        self.lo = torch.stack([xs.min(-1).values, ys.min(-1).values], -1)
        self.hi = torch.stack([xs.max(-1).values, ys.max(-1).values], -1)


def _group_keys(maps: TriangleMaps, group: Tensor, r, window, max_block
                ) -> tuple[Tensor, Tensor]:
    """Flat window cells and packed keys of every (triangle, cell) pair one group tests.

    group: indices of the triangles (long). Returns (cells N long, keys N long).
    """
    y0, x0, ny, nx = window
    lo, hi = maps.lo[group], maps.hi[group]
    block = torch.ceil((hi - lo).max() * r).clamp(max=max_block).long() + 2
    steps = torch.arange(block)
    origin = torch.floor(lo * r - 0.5).long()                         # Gx2
    wx = origin[:, 0:1] - x0 + steps[None]                            # GxS, window columns
    wy = origin[:, 1:2] - y0 + steps[None]
    # Cells outside the window are moved far away, where no triangle can contain them.
    far = torch.full_like(wx, 10 ** 6)
    px = (torch.where((wx >= 0) & (wx < nx), wx + x0, far).float() + 0.5) / r
    py = (torch.where((wy >= 0) & (wy < ny), wy + y0, far).float() + 0.5) / r
    coef = maps.coef[group]                                           # Gx4x3
    planes = ((coef[:, :, 0:1] * px[:, None] + coef[:, :, 2:3])[:, :, None, :]
              + (coef[:, :, 1:2] * py[:, None])[:, :, :, None])       # Gx4xSyxSx
    # The depth plane (~4e6) never wins the min, so min over all four is min(l0, l1, l2).
    inside = planes.min(1).values >= -_INSIDE_TOL
    key = planes[:, 3].long() * _ID_BITS + group[:, None, None]
    key = torch.where(inside, key, torch.full_like(key, _EMPTY))
    cell = (wy * nx)[:, :, None] + wx[:, None, :]
    return cell.clamp(0, ny * nx - 1).reshape(-1), key.reshape(-1)


# Share of the triangles in each size class, smallest first. Each class searches blocks
# as large as its own largest triangle, so a few big or stretched triangles (a dropped
# jaw, the ring) do not make every triangle search a big block.
SIZE_CLASSES = (0.5, 0.3, 0.15, 0.05)


def _size_classes(maps: TriangleMaps, subset: Tensor) -> list[Tensor]:
    """Split ``subset`` (triangle indices) by this frame's triangle extents."""
    extent = (maps.hi[subset] - maps.lo[subset]).max(-1).values
    order = subset[torch.argsort(extent)]
    n = int(subset.shape[0])  # a fixed list of triangles: a constant in the graph
    bounds = [0]
    for share in SIZE_CLASSES[:-1]:
        bounds.append(bounds[-1] + int(round(share * n)))
    bounds.append(n)
    return [order[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def rasterise(maps: TriangleMaps, subset: Tensor, r, window=None, max_block=None
              ) -> tuple[Tensor, Tensor]:
    """Front-most triangle at each cell centre of an r x r grid, and its source point.

    maps: the frame's triangles; subset: indices of the triangles to draw; window:
    (y0, x0, ny, nx) cells to cover (default: the whole grid); max_block caps the search
    block (cells), leaving parts of larger triangles to the caller's fallback.
    Returns (triangle index (ny*nx) long, -1 where uncovered; source point 2x(ny*nx),
    x row and y row, crop units: rows of N, which onnxruntime's broadcasts run far
    faster than Nx2 pairs).
    """
    if window is None:
        window = (0, 0, r, r)
    if max_block is None:
        max_block = r // 4
    parts = [_group_keys(maps, g, r, window, max_block) for g in _size_classes(maps, subset)]
    cells = torch.cat([c for c, _ in parts])
    keys = torch.cat([k for _, k in parts])
    # Most tested pairs miss their triangle (a block is square, a triangle half of it at
    # best): scattering only the hits is ~5x fewer elements for onnxruntime's slow
    # reducing scatter. One miss (key _EMPTY, a no-op) keeps the list from being empty.
    hits = torch.cat([torch.nonzero(keys < _EMPTY)[:, 0], torch.zeros(1, dtype=torch.long)])
    y0, x0, ny, nx = window
    best = scatter_min(torch.full((ny * nx,), _EMPTY, dtype=torch.long), cells[hits], keys[hits])
    ids = torch.where(best < _EMPTY, best - (best // _ID_BITS) * _ID_BITS,
                      torch.full_like(best, -1))
    centres = window_centres(r, window)
    m = maps.src[ids.clamp(min=0)]                                   # (ny*nx)x6
    x, y = centres[:, 0], centres[:, 1]
    source = torch.stack([m[:, 0] * x + m[:, 1] * y + m[:, 2],
                          m[:, 3] * x + m[:, 4] * y + m[:, 5]], 0)
    return ids, source


def window_centres(r, window) -> Tensor:
    """Centres of the window's cells in row-major order, (ny*nx) x 2 (x, y), crop units."""
    y0, x0, ny, nx = window
    xs = (torch.arange(nx, dtype=torch.float32) + x0 + 0.5) / r
    ys = (torch.arange(ny, dtype=torch.float32) + y0 + 0.5) / r
    gx = xs[None, :].expand(ys.shape[0], -1).reshape(-1)
    gy = ys[:, None].expand(-1, xs.shape[0]).reshape(-1)
    return torch.stack([gx, gy], -1)


# --------------------------------------------------------------------- edge refinement

REFINE_TOLERANCE_PX = 0.5    # coarse interpolation error that triggers refinement
_NEIGHBOURHOOD = 4           # candidate triangles: winners of the 4x4 cells around a block


def _eval(m: Tensor, p: Tensor) -> Tensor:
    """Source point of affine maps m (...x6) at points p (...x2)."""
    x, y = p[..., 0], p[..., 1]
    return torch.stack([m[..., 0] * x + m[..., 1] * y + m[..., 2],
                        m[..., 3] * x + m[..., 4] * y + m[..., 5]], -1)


def _block_errors(val: Tensor, covered: Tensor) -> Tensor:
    """Candidate discontinuities: the largest second difference of the coarse source
    field at any corner of each 2x2 block, (r-1)x(r-1), crop units. A jump of J shows as
    about J; a mere kink between differently stretched triangles also shows, and is
    told apart later by :func:`_discontinuous`. Only cells inside the mesh count: the
    head-motion field outside it is smooth by construction. val: rxrx2; covered: rxr."""
    sd_x = (val[:, 2:] - 2.0 * val[:, 1:-1] + val[:, :-2]).abs().max(-1).values
    sd_y = (val[2:] - 2.0 * val[1:-1] + val[:-2]).abs().max(-1).values
    cell = torch.maximum(F.pad(sd_x, (1, 1, 0, 0)), F.pad(sd_y, (0, 0, 1, 1)))  # r x r
    cell = torch.where(covered, cell, torch.zeros_like(cell))
    return torch.maximum(torch.maximum(cell[:-1, :-1], cell[:-1, 1:]),
                         torch.maximum(cell[1:, :-1], cell[1:, 1:]))


_PAIR_A = (0, 0, 0, 1, 1, 2)   # the six pairs of a block's four corners
_PAIR_B = (1, 2, 3, 2, 3, 3)


def _discontinuous(corner_ids: Tensor, corners: Tensor, m: Tensor, pos: Tensor,
                   val: Tensor, tolerance) -> Tensor:
    """Which of K candidate blocks hold a real discontinuity: a pair of corner cells whose
    maps disagree *and* whose triangles share no vertex. (Triangles sharing a vertex meet
    continuously, however differently stretched; disjoint triangles meeting within a
    block mean a fold or an occlusion edge.) corner_ids: Kx4; m: Kx4x6; pos, val: Kx4x2.

    All six corner pairs are tested in one batch (Kx6): a loop over them exported six
    copies of every node, ~150 small onnxruntime kernels where ~25 do."""
    a, b = list(_PAIR_A), list(_PAIR_B)
    vert = corners[corner_ids.clamp(min=0)]                             # Kx4x3
    shared = (vert[:, a, :, None] == vert[:, b, None, :]).any(-1).any(-1)   # Kx6
    ab = (_eval(m[:, a], pos[:, b]) - val[:, b]).abs().max(-1).values     # Kx6
    ba = (_eval(m[:, b], pos[:, a]) - val[:, a]).abs().max(-1).values
    covered = (corner_ids[:, a] >= 0) & (corner_ids[:, b] >= 0)
    return (covered & ~shared & (torch.maximum(ab, ba) > tolerance)).any(-1)


def refine_edges(maps: TriangleMaps, corners: Tensor, neighbours: Tensor, ids: Tensor,
                 source: Tensor, r, size, max_blocks) -> tuple[Tensor, Tensor]:
    """Exact source points for the output pixels of coarse blocks that interpolate badly.

    Where the warp folds or one surface occludes another (a closing lid, pressed lips,
    a cheek turning in front of the hair), the coarse field jumps and bilinear upsampling
    would smear it into a 4-pixel staircase. Those blocks' 16 pixels are tested against
    the triangles that won the 4x4 cells around them and the edge neighbours
    (``neighbours``: Tx3, -1 padded) of the four corner winners, which catches triangles
    thinner than a cell (a closing lid's lash band, the slit of a closing eye); the
    front-most one containing a pixel wins. Pixels no candidate covers keep the
    interpolated value.
    Returns (flat pixel index N long, source point Nx2 crop units, -1e3 where no
    candidate covers the pixel).
    """
    tolerance = REFINE_TOLERANCE_PX / size
    m = maps.src[ids.clamp(min=0)].reshape(r, r, 6)
    pos = window_centres(r, (0, 0, r, r)).reshape(r, r, 2)
    val = source.reshape(r, r, 2)
    errors = _block_errors(val, (ids >= 0).reshape(r, r))
    # Candidates by map disagreement alone (cheap, dense), then the vertex test on those
    # few. Block 0 (a crop corner, harmless to refine) is always added: onnxruntime's
    # reductions mishandle the empty tensors a frame without edges would give.
    blocks = torch.cat([torch.nonzero((errors > 2.0 * tolerance).reshape(-1))[:max_blocks, 0],
                        torch.zeros(1, dtype=torch.long)])
    bi, bj = blocks // (r - 1), blocks - (blocks // (r - 1)) * (r - 1)
    cells = torch.stack([bi * r + bj, bi * r + bj + 1, (bi + 1) * r + bj,
                         (bi + 1) * r + bj + 1], -1)                       # Kx4
    keep = _discontinuous(ids[cells], corners, m.reshape(-1, 6)[cells],
                          pos.reshape(-1, 2)[cells], val.reshape(-1, 2)[cells], tolerance)
    blocks = torch.cat([blocks[keep], torch.zeros(1, dtype=torch.long)])
    bi, bj = blocks // (r - 1), blocks - (blocks // (r - 1)) * (r - 1)
    near = torch.arange(_NEIGHBOURHOOD) - 1
    ci = (bi[:, None, None] + near[None, :, None]).clamp(0, r - 1)
    cj = (bj[:, None, None] + near[None, None, :]).clamp(0, r - 1)
    cand = ids[(ci * r + cj).reshape(-1, _NEIGHBOURHOOD ** 2)]         # Kx16
    corner = cand[:, [5, 6, 9, 10]]                                    # the block's corners
    beside = torch.where((corner >= 0)[..., None], neighbours[corner.clamp(min=0)],
                         torch.full_like(corner[..., None], -1)).reshape(-1, 12)
    cand = torch.cat([cand, beside], 1)                                # Kx28
    n_cand = _NEIGHBOURHOOD ** 2 + 12
    step = torch.arange(COARSE_STEP)
    pi = (bi * COARSE_STEP + COARSE_STEP // 2)[:, None, None] + step[None, :, None]
    pj = (bj * COARSE_STEP + COARSE_STEP // 2)[:, None, None] + step[None, None, :]
    pi, pj = pi + 0 * pj, pj + 0 * pi        # KxSxS each (broadcast_tensors traces sizes)
    pix = torch.stack([(pj.float() + 0.5) / size, (pi.float() + 0.5) / size], -1)
    pix = pix.reshape(-1, COARSE_STEP ** 2, 1, 2)                      # Kx16x1x2
    coef = maps.coef[cand.clamp(min=0)][:, None]                       # Kx1xCx4x3
    planes = coef[..., 0] * pix[..., 0:1] + coef[..., 1] * pix[..., 1:2] + coef[..., 2]
    margin = planes[..., :3].min(-1).values                            # Kx16xC
    inside = (margin >= -_INSIDE_TOL) & (cand >= 0)[:, None, :]
    depth = torch.where(inside, planes[..., 3], torch.full_like(planes[..., 3], 1e12))
    best = depth.argmin(-1, keepdim=True)                              # Kx16x1
    # A pixel no candidate contains sits in a sliver thinner than a cell that none of the
    # candidates is (the far half of a closing mouth's or eye's fill, 1-2 px high). It
    # takes the nearest candidate's map, extended a pixel past its edge; the upsampled
    # value would interpolate straight across the closed seam and show the source's
    # teeth or iris there as a row of specks.
    nearest = torch.where((cand >= 0)[:, None, :], margin, torch.full_like(margin, -1e12))
    best = torch.where(inside.any(-1, keepdim=True), best, nearest.argmax(-1, keepdim=True))
    winner = cand[:, None, :].expand(-1, COARSE_STEP ** 2, n_cand).gather(-1, best)[..., 0]
    found = (cand >= 0).any(-1)[:, None].expand(-1, COARSE_STEP ** 2)
    point = _eval(maps.src[winner], pix[:, :, 0])
    point = torch.where(found[..., None], point, torch.full_like(point, -1e3))
    return (pi * size + pj).reshape(-1), point.reshape(-1, 2)
