"""Landmarks -> landmark image, as in the paper: coloured polylines, one colour per part.

The same module runs in training (on the GPU, batched) and inside the exported ONNX
graph, so a trained generator sees exactly the lines it was trained on. Lines are soft:
each pixel takes exp(-d^2 / 2 sigma^2) of its distance d to the nearest segment of a
part, and parts are combined with a per-channel maximum. Only exportable ops are used
(gather, arithmetic, clamp, min/max, exp).
"""
from __future__ import annotations

import torch
from torch import nn

# MediaPipe 478-point mesh, polylines per facial part ("left" = the subject's left).
# Each chain lists landmark indices in drawing order; closed contours repeat the start.
PARTS: tuple[tuple[str, tuple[float, float, float], tuple[tuple[int, ...], ...]], ...] = (
    ("face_oval", (0.85, 0.85, 0.85), (
        (10, 109, 67, 103, 54, 21, 162, 127, 234, 93, 132, 58, 172, 136, 150, 149, 176,
         148, 152, 377, 400, 378, 379, 365, 397, 288, 361, 323, 454, 356, 389, 251, 284,
         332, 297, 338, 10),)),
    ("right_brow", (1.0, 0.55, 0.0), ((46, 53, 52, 65, 55), (107, 66, 105, 63, 70))),
    ("left_brow", (1.0, 0.85, 0.0), ((276, 283, 282, 295, 285), (336, 296, 334, 293, 300))),
    ("right_eye", (0.0, 0.6, 1.0), (
        (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7, 33),)),
    ("left_eye", (0.0, 0.9, 0.9), (
        (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249,
         263),)),
    ("right_iris", (0.2, 0.2, 1.0), ((469, 470, 471, 472, 469),)),
    ("left_iris", (0.6, 0.3, 1.0), ((474, 475, 476, 477, 474),)),
    ("nose", (0.0, 0.9, 0.2), (
        (168, 6, 197, 195, 5, 4, 1, 19, 94, 2),
        (98, 97, 2, 326, 327),
        (4, 45, 220, 115, 48, 64, 98),
        (4, 275, 440, 344, 278, 294, 327))),
    ("outer_lips", (1.0, 0.1, 0.2), (
        (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39,
         40, 185, 61),)),
    ("inner_lips", (1.0, 0.4, 0.7), (
        (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81,
         80, 191, 78),)),
)

# Elements (batch x segments x pixels) one rasterisation chunk may hold: bounds the
# temporary memory of large training batches at ~1 GB in float32.
_CHUNK_ELEMENTS = 1 << 28


def _segments() -> tuple[list[int], list[int], list[tuple[int, int]]]:
    """Start and end landmark index of every segment, and each part's [lo, hi) range."""
    starts, ends, ranges = [], [], []
    for _name, _colour, chains in PARTS:
        lo = len(starts)
        for chain in chains:
            starts += list(chain[:-1])
            ends += list(chain[1:])
        ranges.append((lo, len(starts)))
    return starts, ends, ranges


class LandmarkRasterizer(nn.Module):
    """landmarks: Bx478x3 float32, crop units -> image: Bx3xRxR float32 in [0,1].

    Only x and y are drawn; z is ignored, as in the paper's 2-D landmark images.
    """

    def __init__(self, resolution: int, sigma_px: float) -> None:
        super().__init__()
        starts, ends, ranges = _segments()
        self.resolution = resolution
        self.part_ranges = ranges
        self.inv_two_sigma2 = 1.0 / (2.0 * sigma_px * sigma_px)
        self.register_buffer("seg_start", torch.tensor(starts, dtype=torch.long), persistent=False)
        self.register_buffer("seg_end", torch.tensor(ends, dtype=torch.long), persistent=False)
        colours = torch.tensor([colour for _n, colour, _c in PARTS], dtype=torch.float32)
        self.register_buffer("colours", colours, persistent=False)
        centres = torch.arange(resolution, dtype=torch.float32) + 0.5  # pixel centres
        self.register_buffer("centres", centres, persistent=False)

    def forward(self, landmarks: torch.Tensor) -> torch.Tensor:
        batch = landmarks.shape[0]
        per_item = (self.seg_start.numel() // 4 + 1) * self.resolution ** 2
        chunk = max(1, _CHUNK_ELEMENTS // per_item)
        if batch <= chunk:
            return self._draw(landmarks)
        return torch.cat([self._draw(part) for part in landmarks.split(chunk)], dim=0)

    def _draw(self, landmarks: torch.Tensor) -> torch.Tensor:
        xy = landmarks[..., :2].float() * self.resolution  # Bx478x2, pixels
        image = None
        for part, (lo, hi) in enumerate(self.part_ranges):
            d2 = self._part_distance2(xy, self.seg_start[lo:hi], self.seg_end[lo:hi])
            ink = torch.exp(-d2 * self.inv_two_sigma2)  # BxRxR in (0, 1]
            layer = ink.unsqueeze(1) * self.colours[part].view(1, 3, 1, 1)
            image = layer if image is None else torch.maximum(image, layer)
        return image

    def _part_distance2(self, xy: torch.Tensor, start: torch.Tensor,
                        end: torch.Tensor) -> torch.Tensor:
        """Squared pixel distance of every pixel to the nearest segment: BxRxR."""
        a = xy.index_select(1, start)  # BxSx2
        b = xy.index_select(1, end)
        ax, ay = a[..., 0, None, None], a[..., 1, None, None]  # BxSx1x1
        ex, ey = b[..., 0, None, None] - ax, b[..., 1, None, None] - ay
        px = self.centres.view(1, 1, 1, -1)
        py = self.centres.view(1, 1, -1, 1)
        dx, dy = px - ax, py - ay  # BxSxRxR by broadcasting
        # clamp, not "+ eps": exporters fold tiny added constants away (see FINDINGS.md)
        length2 = torch.clamp(ex * ex + ey * ey, min=1e-6)
        t = torch.clamp((dx * ex + dy * ey) / length2, 0.0, 1.0)
        qx, qy = dx - t * ex, dy - t * ey
        return torch.amin(qx * qx + qy * qy, dim=1)
