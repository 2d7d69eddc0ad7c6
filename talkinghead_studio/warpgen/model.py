"""The mesh-warp generator: landmarks in, warped portrait out (torch source of the ONNX file).

Per frame:
1. Landmark clean-up (closure.py): crossed contours un-crossed, nearly closed eyes
   closed, lash bands slid down with closing lids, lid margins tucked.
2. Geometry on a coarse grid (a quarter of the resolution): the face mesh plus mouth/eye
   fill triangles plus a ring around the oval, rasterised with a z-buffer in *driving*
   space (raster.py), gives each cell the source point it shows; cells outside follow
   the head motion field (head.py). Only the displacement is upsampled, so a neutral
   frame maps every pixel onto itself exactly.
3. One full-resolution GridSample of [source RGB, person matte] gives the warped person
   and its alpha.
4. Inside windows around the mouth and each eye, where the warp folds (a closing eye or
   mouth) and a coarse field would smear, the lid and lip triangles are rasterised again
   at full resolution and those pixels are resampled; then an inner layer (inner.py,
   shading.py) fills the mouth and eye openings: eyeballs the lids slide over, teeth
   attached to their lips, and a synthetic interior where the source shows none.
5. The warped person goes over a still background: the source itself where nothing
   moved, ``background_image`` where the head moved away and uncovered it.

Tensors: images 1x3xRxR float32 RGB [0,1]; landmarks 1x478x3 crop-normalised.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from talkinghead_studio.warpgen import topology as topo
from talkinghead_studio.warpgen.closure import LEFT_UPPER_RINGS, RIGHT_UPPER_RINGS, clean_landmarks
from talkinghead_studio.warpgen.geometry import pixel_centres, safe_norm, smoothstep
from talkinghead_studio.warpgen.head import (hair_motion, head_frame, head_motion,
                                             outside_backward_planar, ring_vertices)
from talkinghead_studio.warpgen.inner import inner_fields, mouth_width, window_points
from talkinghead_studio.warpgen.raster import TriangleMaps, rasterise, refine_edges, window_centres
from talkinghead_studio.warpgen.shading import lid_colours, mouth_interior, portrait_colours

Tensor = torch.Tensor

COARSE = 4                 # geometry grid is this many times coarser than the output
WINDOW_MARGIN = 2          # coarse cells around the eye/mouth contours in the inner window
THIN_OPENING = (1.5, 4.0)  # output pixels: openings thinner than this fade to the lids
LID_STRETCH = (1.15, 1.9)  # vertical magnification of upper-lid texture: untouched .. smoothed
LID_SMOOTHING = 1.0        # the most a stretched upper lid moves towards its skin colour
LID_SHADOW = (0.04, 0.12, 0.30, 0.40)  # luma below the lid's skin: a shadow from .. to
LID_HUE = (0.09, 0.15)     # L1 distance of normalised RGB from the skin: skin .. not skin
NOSE_BRIDGE = 168          # MediaPipe index between the eyes


class Window(NamedTuple):
    """The inner-layer window in coarse cells (0-d long tensors)."""

    y0: Tensor
    x0: Tensor
    ny: Tensor
    nx: Tensor

    def full(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return self.y0 * COARSE, self.x0 * COARSE, self.ny * COARSE, self.nx * COARSE


class MeshWarpGenerator(torch.nn.Module):
    """See the module docstring. No learned weights; buffers hold the mesh topology."""

    def __init__(self) -> None:
        super().__init__()
        tris, classes = topo.warp_triangles()
        classes_t = torch.tensor(classes)
        self.register_buffer("tris", torch.tensor(tris, dtype=torch.long), persistent=False)
        self.register_buffer("classes", classes_t, persistent=False)
        self.register_buffer("all_tris", torch.arange(len(tris)), persistent=False)
        self.register_buffer("neighbours", torch.tensor(topo.triangle_neighbours()),
                             persistent=False)
        self.register_buffer("corners", torch.tensor(topo.canonical_corners(),
                                                     dtype=torch.int32), persistent=False)
        self.register_buffer("lid_corners", torch.tensor(_lid_corner_weights(tris, classes)),
                             persistent=False)

    def forward(self, source_image: Tensor, source_landmarks: Tensor,
                driving_landmarks: Tensor, source_matte: Tensor,
                background_image: Tensor) -> tuple[Tensor, Tensor]:
        """The contract outputs: image (1x3xRxR) and mask (1x1xRxR)."""
        f = self.fields(source_image, source_landmarks, driving_landmarks, source_matte)
        size = source_image.shape[-1]
        up = F.interpolate(f.coarse, scale_factor=float(COARSE), mode="bilinear",
                           align_corners=False)                        # 1 x 4 x R x R
        grid = up[:, :2].permute(0, 2, 3, 1).reshape(-1, 2)
        grid = grid.index_put((f.refine_index,),
                              torch.where(f.refine_source > -1e2, f.refine_source,
                                          grid[f.refine_index]))
        person = _sample(source_image, grid.reshape(1, size, size, 2) * 2.0 - 1.0)
        # Inner layer: real pixels (the portrait's own teeth, the eyeball under the lids)
        # mixed with the synthetic interior, laid over each window in turn.
        real = _sample(source_image, f.inner[:, :2].permute(0, 2, 3, 1) * 2.0 - 1.0)  # 1x3x1xP
        mix, cover, synth = f.inner[:, 3:4], f.inner[:, 2:3], f.inner[:, 4:7]
        layer = cover * (real + mix * (synth - real))                   # 1 x 3 x 1 x P
        cover = cover.expand(-1, 3, -1, -1)
        start = torch.zeros((), dtype=torch.long)
        for window in f.windows:
            fy, fx, fh, fw = window.full()
            end = start + fh * fw
            part = layer[:, :, 0, start:end].reshape(1, 3, fh, fw)
            share = cover[:, :, 0, start:end].reshape(1, 3, fh, fw)
            base = person[:, :, fy:fy + fh, fx:fx + fw]
            pads = (fx, size - fx - fw, fy, size - fy - fh)
            person = person + F.pad(part - share * base, pads)
            start = end
        alpha, uncovered = up[:, 2:3], up[:, 3:4]
        backdrop = source_image + uncovered * (background_image - source_image)
        return backdrop + alpha * (person - backdrop), alpha

    def fields(self, source_image: Tensor, source_landmarks: Tensor,
               driving_landmarks: Tensor, source_matte: Tensor) -> "WarpFields":
        """Everything the frame needs except the full-resolution sampling (see WarpFields)."""
        src, drv = source_landmarks[0], driving_landmarks[0]
        size = source_image.shape[-1]
        coarse = size // COARSE
        head = head_motion(src, drv)
        frame = head_frame(drv)
        clean = clean_landmarks(src, drv, head, frame.down)
        drv = clean.driving
        hair = hair_motion(src, drv)
        ring_s, ring_d = ring_vertices(src, drv, hair, frame)
        fill_lower = [low for low, _ in topo.FILL_PAIRS]
        maps = TriangleMaps(torch.cat([drv, ring_d, drv[fill_lower]], 0),
                            torch.cat([clean.mesh_source[:, :2], ring_s, clean.fill_source], 0),
                            self.tris)
        ids, inside = rasterise(maps, self.all_tris, coarse)                # inside: 2 x c*c
        cells = window_centres(coarse, (0, 0, coarse, coarse))
        covered = ids >= 0
        outside = outside_backward_planar(cells[:, 0], cells[:, 1],
                                          hair.silhouette().inverse(), frame)
        source_rows = torch.where(covered[None], inside, outside)             # 2 x c*c
        source = source_rows.transpose(0, 1)                                  # c*c x 2
        cls = torch.where(covered, self.classes[ids.clamp(min=0)], torch.full_like(ids, -1))
        face = (covered & (cls != topo.CLASS_RING)).float()
        alpha, uncovered = _coarse_alpha(source_matte, source_rows, face)
        # Absolute source points are upsampled: a linear field stays exactly linear except
        # in the outermost two pixel rows/columns (clamped, < 1.5 px off), which the
        # paste-back feathers away entirely.
        low = torch.cat([source_rows, alpha[None], uncovered[None]], 0).reshape(1, 4, coarse, coarse)
        pixels, exact = refine_edges(maps, self.corners, self.neighbours, ids, source, coarse, size,
                                     coarse * coarse // 4)
        windows = _windows(drv, clean.closed, coarse)
        lid = LidCells(maps, ids.reshape(coarse, coarse), self.lid_corners, frame.down)
        inner = self._inner_layer(source_image, src, drv, cls.reshape(coarse, coarse), lid,
                                  windows, coarse, size)
        return WarpFields(low, pixels, exact, windows, inner)

    def _inner_layer(self, image: Tensor, src: Tensor, drv: Tensor, cls: Tensor,
                     lid: "LidCells", windows: tuple["Window", ...], coarse, size) -> Tensor:
        """Full-resolution inner-layer fields of all windows, 1 x 7 x 1 x P: each window's
        h x w pixels in row-major order, one window after the other; per pixel source
        point (crop units), cover, synthetic share, synthetic RGB.

        The coarse fields of all windows are computed in one batch, then each window is
        upsampled on its own (so no window's fields bleed into another's), and the
        shading runs once on all their pixels. Outside the openings the eye windows'
        layer smooths stretched upper lids towards the lid's skin colour (_lid_smoothing;
        cls: c x c, the class of the triangle each coarse cell shows, -1 none)."""
        skin = torch.cat([torch.zeros(1, 3), lid_colours(image, src)])   # per window, 3x3
        low = _inner_fields(image, src, drv, windows, cls, lid, skin[1:], coarse, size)
        parts, colours = [], []
        start = torch.zeros((), dtype=torch.long)
        for k, window in enumerate(windows):
            end = start + window.ny * window.nx
            grid = low[:, :, 0, start:end].reshape(1, 9, window.ny, window.nx)
            up = F.interpolate(grid, scale_factor=float(COARSE), mode="bilinear",
                               align_corners=False)                 # 1 x 9 x h x w
            parts.append(up.reshape(1, 9, 1, -1))
            colours.append(skin[k].reshape(1, 3, 1, 1).expand(-1, -1, -1, parts[-1].shape[3]))
            start = end
        up = torch.cat(parts, 3)                                     # 1 x 9 x 1 x P
        lip, teeth = portrait_colours(image, src)
        px = 1.0 / (mouth_width(drv) * size)
        # Only the mouth's window can show a synthetic interior (the eyes' synthetic share
        # is 0), so it alone is shaded: 57 % of the layer's pixels at 512 px.
        mouth = parts[0].shape[3]
        synth = torch.cat([mouth_interior(up[:, 4:5, :, :mouth], up[:, 5:6, :, :mouth],
                                          up[:, 6:7, :, :mouth], px, lip, teeth),
                           torch.zeros_like(up[:, :3, :, mouth:])], 3)
        # The layer reaches half a pixel past the contour so its anti-aliased edge meets
        # the lid/lip triangles, never the fill triangles behind it.
        cover = (1.0 - up[:, 2:3]).clamp(0.0, 1.0) * up[:, 7:8]
        # Elsewhere it is the lid smoothing: all synthetic (the skin colour), as strong
        # as the lid is stretched. The two never meet: the lash band next to the
        # opening keeps its height as the lid closes (closure.py), so it is not
        # stretched.
        opening = cover > 0.0
        return torch.cat([up[:, :2], torch.where(opening, cover, up[:, 8:9]),
                          torch.where(opening, up[:, 3:4], torch.ones_like(cover)),
                          torch.where(opening, synth, torch.cat(colours, 3))], 1)


class WarpFields(NamedTuple):
    """One frame's warp before full-resolution sampling (c = R / COARSE).

    coarse: 1x4xcxc: source point x, y (crop units), person alpha, uncovered (share of
    the backdrop that must come from ``background_image``); upsampled bilinearly
    (half-pixel centres) to R x R.
    refine_index: (N,) long flat output pixels whose source point is exact rather than
    interpolated; refine_source: Nx2 crop units, below -1e2 where the interpolated one
    stays.
    windows: where the inner layer goes (one window per eye and one for the mouth);
    inner: their 1 x 7 x 1 x P fields, window after window (see _inner_layer).
    Per output pixel: person = source sampled at the point; inside each window person +=
    cover * (real + mix * (synth - real) - person) with real = source sampled at the
    inner point; backdrop = source + uncovered * (background - source); image =
    backdrop + alpha * (person - backdrop).
    """

    coarse: Tensor
    refine_index: Tensor
    refine_source: Tensor
    windows: tuple[Window, ...]
    inner: Tensor


class SamplingFields(torch.nn.Module):
    """The generator minus its full-resolution sampling, in the layout OpenCV wants
    (the "sampling companion", models/README.md). Source points are in pixels with
    OpenCV's convention (pixel centres at integers), spatial tensors channel-last:

    sampling_fields  1 x c x c x 4   map x, map y, alpha, uncovered (to upsample x COARSE)
    refine_index     N int64         flat output pixels with exact map values
    refine_map       N x 2           their map (x, y); NaN where the upsampled one stays
    inner_window     K x 4 int64     y0, x0, h, w of each inner-layer window (output pixels)
    inner_layer      P x 7           per window pixel, window after window, row-major:
                                     map x, map y, cover, mix, synthetic RGB [0,1]

    The host then does what MeshWarpGenerator.forward does after ``fields``, with
    cv2.resize / cv2.remap (about 20x faster than onnxruntime's GridSample on a CPU).
    """

    def __init__(self) -> None:
        super().__init__()
        self.generator = MeshWarpGenerator()

    def forward(self, source_image: Tensor, source_landmarks: Tensor,
                driving_landmarks: Tensor, source_matte: Tensor):
        f = self.generator.fields(source_image, source_landmarks, driving_landmarks,
                                  source_matte)
        size = source_image.shape[-1]
        coarse = torch.cat([f.coarse[:, :2] * size - 0.5, f.coarse[:, 2:]], 1).permute(0, 2, 3, 1)
        refine = torch.where(f.refine_source > -1e2, f.refine_source * size - 0.5,
                             torch.full_like(f.refine_source, float("nan")))
        boxes = torch.stack([torch.stack(list(w.full())) for w in f.windows])   # K x 4
        inner = torch.cat([f.inner[:, :2] * size - 0.5, f.inner[:, 2:]], 1)     # 1x7x1xP
        return coarse, f.refine_index, refine, boxes, inner[0, :, 0].transpose(0, 1)


def _coarse_alpha(matte: Tensor, source: Tensor, face: Tensor) -> tuple[Tensor, Tensor]:
    """Person alpha and uncovered share per coarse cell ((c*c,) each); source: 2 x c*c,
    each cell's source point (x row, y row, crop units).

    alpha: the matte carried along with the person (at least 1 over the face, whatever
    the matte says). The backdrop behind the person is the source itself wherever the
    source still shows person or background, and ``background_image`` only where the
    source had person that has moved away ("uncovered"). Both are computed at the
    coarse level so a still frame reproduces the source exactly, however soft the matte.
    (A 4-pixel-soft alpha is fine here: MediaPipe's matte is softer than that.)
    """
    pooled = F.avg_pool2d(matte, COARSE)[0, 0]                         # c x c
    carried = _bilinear(pooled, source[0], source[1])
    alpha = torch.maximum(carried, face)
    # Share of the person that left the cell, relative to how much person the source had
    # there: at the soft edge of the matte the source pixel is part hair, part backdrop,
    # and once the head has moved away all of it must go, or a dark outline of the old
    # silhouette stays behind.
    pooled = pooled.reshape(-1)
    uncovered = ((pooled - alpha) / pooled.clamp(min=0.05)).clamp(0.0, 1.0)
    return alpha, uncovered


def _bilinear(grid: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """grid (c x c) sampled bilinearly at points x, y (N each, crop units), clamped to
    the border (as :func:`_sample`): N.

    Four gathers instead of a GridSample: onnxruntime's GridSample costs ~40 ns a point
    (0.6 ms for the 128 x 128 cells at 512 px), the gathers a fifth of that."""
    c = grid.shape[-1]
    fx = (x * c - 0.5).clamp(min=0.0).clamp(max=c - 1.0)
    fy = (y * c - 0.5).clamp(min=0.0).clamp(max=c - 1.0)
    x0, y0 = fx.floor(), fy.floor()
    tx, ty = fx - x0, fy - y0
    left, top = x0.long(), y0.long()
    right, bottom = (left + 1).clamp(max=c - 1), (top + 1).clamp(max=c - 1)
    flat = grid.reshape(-1)
    upper = flat[top * c + left] + tx * (flat[top * c + right] - flat[top * c + left])
    lower = flat[bottom * c + left] + tx * (flat[bottom * c + right] - flat[bottom * c + left])
    return upper + ty * (lower - upper)


def _sample(image: Tensor, grid: Tensor) -> Tensor:
    """Bilinear sample of image (1xCxHxW) at grid (1xhxwx2, [-1,1]); border clamp.

    padding "zeros" with align_corners=False is onnxruntime's fast GridSample path (3x
    faster than "border" at 512x512); the clamp gives the border behaviour.
    """
    limit = 1.0 - 1.0 / image.shape[-1]
    return F.grid_sample(image, grid.clamp(-limit, limit), mode="bilinear",
                         padding_mode="zeros", align_corners=False)


def _inner_fields(image: Tensor, src: Tensor, drv: Tensor, windows: tuple[Window, ...],
                  cls: Tensor, lid: "LidCells", skin: Tensor, coarse, size) -> Tensor:
    """Coarse inner-layer fields over the windows' cells, window after window, row-major,
    1 x 9 x 1 x Pc: source xy (crop units), signed distance to the opening (output px,
    negative inside), synthetic share, mouth u, below upper lip, above lower lip,
    visibility, lid smoothing (see _lid_smoothing; skin: 2x3, right eye, left eye)."""
    cells = torch.cat([pixel_centres(w.ny, w.nx, coarse, w.y0, w.x0).reshape(-1, 2)
                       for w in windows])
    cls_win = _window_cells(cls, windows)
    f = inner_fields(cells, src, drv)
    mouth_cells = windows[0].ny * windows[0].nx          # no lid there: not computed
    lid_weight = torch.cat([torch.zeros(mouth_cells),
                            _lid_smoothing(image, cells[mouth_cells:],
                                           _window_cells(lid.ids, windows[1:]), lid, skin, drv)])
    # A face triangle in front of an opening (the nose over the far eye in a head turn)
    # hides it; a coarse-cell test is enough for that rare edge. An opening only a pixel
    # or two high is a closing seam: the lids' own pixels show there.
    hidden = ((f.depth > 0) & (cls_win == topo.CLASS_FACE)).float()
    shown = smoothstep(THIN_OPENING[0], THIN_OPENING[1], f.opening * size) * (1.0 - hidden)
    low = torch.stack([f.source[:, 0], f.source[:, 1],
                       -f.depth * size, f.synthetic, f.u, f.below_upper, f.above_lower,
                       shown, lid_weight], 0)
    return low.reshape(1, 9, 1, -1)


class LidCells(NamedTuple):
    """What the lid smoothing needs of the frame's geometry."""

    maps: TriangleMaps
    ids: Tensor          # c x c long: the triangle each coarse cell shows, -1 none
    corners: Tensor      # T x 3: lid weight of each warp triangle's corners (constant)
    down: Tensor         # (2,): the head's down direction


def _lid_smoothing(image: Tensor, cells: Tensor, ids: Tensor, lid: LidCells, skin: Tensor,
                   drv: Tensor) -> Tensor:
    """How far each cell (cells: Px2 centres, crop units; ids: P, its triangle, -1 none)
    moves towards its upper lid's skin colour (skin: 2x3, right eye, left eye): P in
    [0, LID_SMOOTHING].

    A closing lid stretches the skin above its lashes over the eye. On a hooded or
    deep-set eye that skin is the shadowed fold under the brow, and stretched 2-3x it
    becomes a tall grey smear that reads as an open eye (MediaPipe re-detects such
    closed eyes as open). A real lid unfolds as it closes and shows lit skin instead.
    - Where: the lid triangles, weighted by their corners (1 inside the lid, 0 at its
      outline: the brow side, the eye corners), so the smoothing fades out with no
      outline of its own.
    - How much: the stretch, the magnification of the cell's triangle along the head's
      down direction (an open lid: about 1; a closing one 1.5-3).
    - Only on a shadow: darker than the lid's skin, but not black, and of about its hue.
      Dark hair or a frame over the lid keeps its own colour (hair is darker than a
      fold's shadow; the hue test alone cannot tell them apart, a deep shadow loses its
      colour), and a lid about as light as the skin (make-up, a painted lid) keeps its
      texture.
    """
    tri = ids.clamp(min=0)
    coef = lid.maps.coef[tri][:, :3]                                       # P x 3 x 3
    bary = coef[..., 0] * cells[:, 0:1] + coef[..., 1] * cells[:, 1:2] + coef[..., 2]
    inside = (bary.clamp(0.0, 1.0) * lid.corners[tri]).sum(-1) * (ids >= 0).float()
    m = lid.maps.src[tri]                                                  # P x 6
    # (Elementwise: onnxruntime's batched 2x2 MatMul costs more than the rest together.)
    down_x, down_y = lid.down[0], lid.down[1]
    stretch = 1.0 / safe_norm(torch.stack([m[:, 0] * down_x + m[:, 1] * down_y,
                                           m[:, 3] * down_x + m[:, 4] * down_y], -1)
                              ).clamp(min=1e-3)
    x, y = cells[:, 0], cells[:, 1]
    shown = torch.stack([m[:, 0] * x + m[:, 1] * y + m[:, 2],
                         m[:, 3] * x + m[:, 4] * y + m[:, 5]], -1)        # P x 2 source
    eye = (x > drv[NOSE_BRIDGE, 0]).long()                  # right eye = image left
    seen = _colours_at(image, shown)
    luma = torch.tensor([0.30, 0.59, 0.11])
    target = skin[eye]
    darker = ((target - seen) * luma).sum(-1)
    hue = (seen / seen.sum(-1, keepdim=True).clamp(min=0.05)
           - target / target.sum(-1, keepdim=True).clamp(min=0.05)).abs().sum(-1)
    shadow = (smoothstep(LID_SHADOW[0], LID_SHADOW[1], darker)
              * (1.0 - smoothstep(LID_SHADOW[2], LID_SHADOW[3], darker))
              * (1.0 - smoothstep(LID_HUE[0], LID_HUE[1], hue)))
    return (LID_SMOOTHING * inside * shadow
            * smoothstep(LID_STRETCH[0], LID_STRETCH[1], stretch))


def _colours_at(image: Tensor, points: Tensor) -> Tensor:
    """Colour of image (1x3xHxW) around each of points (Px2 crop units), 4 taps one
    pixel apart: Px3."""
    taps = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]]) / image.shape[-1]
    grid = (points[:, None, :] + taps[None]).reshape(1, -1, 4, 2) * 2.0 - 1.0
    return F.grid_sample(image, grid, align_corners=False).mean(3)[0].transpose(0, 1)


def _window_cells(grid: Tensor, windows: tuple[Window, ...]) -> Tensor:
    """The windows' cells of a c x c [x C] grid, window after window, row-major: Pc [x C]."""
    return torch.cat([grid[w.y0:w.y0 + w.ny, w.x0:w.x0 + w.nx].reshape(-1, *grid.shape[2:])
                      for w in windows])


def _lid_corner_weights(tris, classes) -> list[list[float]]:
    """Per warp triangle, the lid smoothing's weight at its three corners: 1 on the
    upper lid margins and the two landmark rings above each eye, 0 at their ends (the
    eye corners, where lid meets cheek); 0 for every triangle not entirely on a lid
    (above the second ring the skin runs into the brow, which must keep its hair)."""
    inner = set()
    for chains in ((topo.RIGHT_EYE_UPPER, *RIGHT_UPPER_RINGS),
                   (topo.LEFT_EYE_UPPER, *LEFT_UPPER_RINGS)):
        for chain in chains:
            inner |= set(chain[1:-1])
    ends = {v for chains in ((topo.RIGHT_EYE_UPPER, *RIGHT_UPPER_RINGS),
                             (topo.LEFT_EYE_UPPER, *LEFT_UPPER_RINGS))
            for chain in chains for v in (chain[0], chain[-1])}
    weights = []
    for t, c in zip(tris, classes):
        on_lid = c == topo.CLASS_FACE and all(v in inner or v in ends for v in t)
        weights.append([1.0 if (on_lid and v in inner) else 0.0 for v in t])
    return weights


def _windows(drv: Tensor, closed: Tensor, coarse) -> tuple[Window, Window, Window]:
    """Coarse-cell windows around the mouth and each eye's contours; a closing eye's
    window also reaches up its lid (closed: (2,) per eye, 0 open .. 1 shut), towards
    the crease ring as the lid shuts, for the lid smoothing.

    Three tight windows rather than one box around all three openings: that box also
    held the nose and cheeks between them, and at 512 px its per-pixel work was about
    a quarter of the whole frame's. An open eye's lid is not stretched, so its window
    does not reach up (+0.5 ms a frame at 512 px if it always did)."""
    mouth, right, left = window_points(drv)
    eyes = []
    for points, margin, crease, shut in ((right, topo.RIGHT_EYE_UPPER, RIGHT_UPPER_RINGS[1],
                                          closed[0]),
                                         (left, topo.LEFT_EYE_UPPER, LEFT_UPPER_RINGS[1],
                                          closed[1])):
        lid = drv[list(margin), :2]
        # Fully open to the crease from a third shut on: below that the lid is hardly
        # stretched, and the window must hold every cell the smoothing may reach.
        reach = smoothstep(0.0, 0.3, shut) * (drv[list(crease), :2].mean(0) - lid.mean(0))
        eyes.append(torch.cat([points, lid + reach]))
    return tuple(_window(points, coarse) for points in (mouth, *eyes))


def _window(pts: Tensor, coarse) -> Window:
    """Coarse-cell window around points (Nx2, crop units)."""
    lo = torch.floor(pts.min(0).values * coarse).long() - WINDOW_MARGIN
    hi = torch.ceil(pts.max(0).values * coarse).long() + WINDOW_MARGIN
    lo = lo.clamp(0, coarse - 1)
    hi = torch.maximum(hi.clamp(max=coarse), lo + 1)
    return Window(lo[1], lo[0], hi[1] - lo[1], hi[0] - lo[0])
