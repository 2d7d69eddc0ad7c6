"""The mesh-warp generator: landmarks in, warped portrait out (torch source of the ONNX file).

Per frame:
1. Geometry on a coarse grid (a quarter of the resolution): the face mesh plus mouth/eye
   fill triangles plus a ring around the oval, rasterised with a z-buffer in *driving*
   space, gives each cell the source point it shows; cells outside follow the head
   motion field (head.py). Only the displacement is upsampled, so a neutral frame maps
   every pixel onto itself exactly.
2. One full-resolution GridSample of [source RGB, person matte] gives the warped person
   and its alpha.
3. Inside a window around the eyes and mouth, an inner layer (inner.py, shading.py)
   replaces the mouth and eye holes: eyeballs that lids slide over, teeth attached to
   their lips, and a synthetic interior where the source shows none. Its edge comes
   from a distance field, so it is sharp at full resolution.
4. The warped person goes over a still background: the source itself where nothing
   moved, ``background_image`` where the head moved away and uncovered it.

Tensors: images 1x3xRxR float32 RGB [0,1]; landmarks 1x478x3 crop-normalised.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from talkinghead_studio.warpgen import topology as topo
from talkinghead_studio.warpgen.geometry import pixel_centres
from talkinghead_studio.warpgen.head import (
    head_frame,
    head_motion,
    outside_backward,
    ring_vertices,
)
from talkinghead_studio.warpgen.inner import eye_fields, mouth_fields, mouth_width, window_points
from talkinghead_studio.warpgen.raster import rasterise
from talkinghead_studio.warpgen.shading import mouth_interior, portrait_colours

Tensor = torch.Tensor

COARSE = 4            # geometry grid is this many times coarser than the output
WINDOW_MARGIN = 2     # coarse cells around the eye/mouth contours in the inner window


class MeshWarpGenerator(torch.nn.Module):
    """See the module docstring. No learned weights; buffers hold the mesh topology."""

    def __init__(self) -> None:
        super().__init__()
        tris, classes = topo.warp_triangles()
        self.register_buffer("tris", torch.tensor(tris, dtype=torch.long), persistent=False)
        self.register_buffer("classes", torch.tensor(classes, dtype=torch.long),
                             persistent=False)

    def forward(self, source_image: Tensor, source_landmarks: Tensor,
                driving_landmarks: Tensor, source_matte: Tensor,
                background_image: Tensor) -> tuple[Tensor, Tensor]:
        src, drv = source_landmarks[0], driving_landmarks[0]
        size = source_image.shape[-1]
        coarse = size // COARSE
        cls, disp = self._coarse_geometry(src, drv, coarse)
        face = ((cls >= topo.CLASS_FACE) & (cls <= topo.CLASS_EYE)).float()
        low = torch.cat([disp.reshape(coarse, coarse, 2).permute(2, 0, 1) * 2.0,
                         face.reshape(1, coarse, coarse)], 0)[None]
        up = F.interpolate(low, scale_factor=float(COARSE), mode="bilinear",
                           align_corners=False)
        ident = pixel_centres(size, size, size) * 2.0 - 1.0
        limit = 1.0 - 1.0 / size
        grid = (ident + up[0, :2].permute(1, 2, 0)).clamp(-limit, limit)[None]
        # padding "zeros" + align_corners=False is onnxruntime's fast GridSample path;
        # the clamp above gives the border behaviour.
        sampled = F.grid_sample(torch.cat([source_image, source_matte], 1), grid,
                                mode="bilinear", padding_mode="zeros", align_corners=False)
        person = self._inner_layer(sampled[:, :3], source_image, src, drv,
                                   cls.reshape(coarse, coarse), coarse)
        alpha = torch.maximum(sampled[:, 3:], up[:, 2:])
        uncovered = (source_matte - alpha).clamp(0.0, 1.0)
        backdrop = source_image + uncovered * (background_image - source_image)
        image = backdrop + alpha * (person - backdrop)
        return image.clamp(0.0, 1.0), alpha

    def _coarse_geometry(self, src: Tensor, drv: Tensor, coarse) -> tuple[Tensor, Tensor]:
        """(triangle class per coarse cell, -1 = none; backward displacement (c*c)x2)."""
        head = head_motion(src, drv)
        frame = head_frame(drv)
        ring_s, ring_d = ring_vertices(src, drv, head, frame)
        vs = torch.cat([src[:, :2], ring_s], 0)
        vd = torch.cat([drv, ring_d], 0)
        ids, mesh_source = rasterise(vd, vs, self.tris, coarse)
        cells = pixel_centres(coarse, coarse, coarse).reshape(-1, 2)
        outside = outside_backward(cells, head.inverse(), frame)
        covered = ids >= 0
        source = torch.where(covered[:, None], mesh_source, outside)
        cls = torch.where(covered, self.classes[ids.clamp(min=0)], torch.full_like(ids, -1))
        return cls, source - cells

    def _inner_layer(self, person: Tensor, image: Tensor, src: Tensor, drv: Tensor,
                     cls: Tensor, coarse) -> Tensor:
        """person (1x3xRxR) with the mouth and eye holes re-rendered inside a window."""
        size = person.shape[-1]
        y0, x0, ny, nx = _window(drv, coarse)
        cells = pixel_centres(ny, nx, coarse, y0, x0).reshape(-1, 2)
        cls_win = cls[y0:y0 + ny, x0:x0 + nx].reshape(-1)
        mouth = mouth_fields(cells, src, drv)
        eye_source, eye_dist = eye_fields(cells, src, drv)
        is_mouth = mouth.distance < eye_dist
        source = torch.where(is_mouth[:, None], mouth.source, eye_source)
        dist = torch.where(is_mouth, mouth.distance, eye_dist)
        hole = (cls_win == topo.CLASS_MOUTH) | (cls_win == topo.CLASS_EYE)
        signed = torch.where(hole, -dist, dist) * size            # pixels, negative inside
        synthetic = mouth.synthetic * is_mouth.float()
        low = torch.stack([source[:, 0] * 2.0 - 1.0, source[:, 1] * 2.0 - 1.0, signed,
                           synthetic, mouth.u, mouth.below_upper, mouth.above_lower], 0)
        up = F.interpolate(low.reshape(1, 7, ny, nx), scale_factor=float(COARSE),
                           mode="bilinear", align_corners=False)
        real = F.grid_sample(image, up[:, :2].permute(0, 2, 3, 1), mode="bilinear",
                             padding_mode="zeros", align_corners=False)
        lip, teeth = portrait_colours(image, src)
        px = 1.0 / (mouth_width(drv) * size)
        synth = mouth_interior(up[:, 4:5], up[:, 5:6], up[:, 6:7], px, lip, teeth)
        inner = real + up[:, 3:4] * (synth - real)
        cover = (0.5 - up[:, 2:3]).clamp(0.0, 1.0)
        fy, fx = y0 * COARSE, x0 * COARSE
        base = person[:, :, fy:fy + ny * COARSE, fx:fx + nx * COARSE]
        delta = cover * (inner - base)
        pads = (fx, size - fx - nx * COARSE, fy, size - fy - ny * COARSE)
        return person + F.pad(delta, pads)


def _window(drv: Tensor, coarse) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Coarse-cell window (y0, x0, ny, nx) around the eye and mouth contours."""
    pts = window_points(drv)
    lo = torch.floor(pts.min(0).values * coarse).long() - WINDOW_MARGIN
    hi = torch.ceil(pts.max(0).values * coarse).long() + WINDOW_MARGIN
    lo = lo.clamp(0, coarse - 1)
    hi = torch.maximum(hi.clamp(max=coarse), lo + 1)
    return lo[1], lo[0], hi[1] - lo[1], hi[0] - lo[0]
