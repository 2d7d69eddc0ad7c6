"""Square face crop at the generator's resolution, and feathered paste-back.

The crop covers head and hair with a margin: its side is ``CROP_SCALE`` times the
larger side of the face-landmark box, and its centre sits a little above the face
centre because hair extends upwards far more than the chin does downwards.
Training data (talkinghead_studio.training) uses the same function, so trained
generators see faces framed exactly as the app frames them.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

CROP_SCALE = 2.0        # crop side / face-landmark box side
CROP_SHIFT_UP = 0.08    # centre shift upwards, in crop sides
FEATHER_FRACTION = 0.08  # width of the seam blend, in crop sides


@dataclass(frozen=True)
class CropBox:
    """An axis-aligned square in image pixels: centre (cx, cy) and side length."""

    cx: float
    cy: float
    side: float

    @property
    def x0(self) -> float:
        return self.cx - self.side / 2

    @property
    def y0(self) -> float:
        return self.cy - self.side / 2

    def affine_to_crop(self, size: int) -> np.ndarray:
        """2x3 float64 matrix mapping image pixels to crop pixels of a size x size crop."""
        s = size / self.side
        return np.array([[s, 0.0, -self.x0 * s], [0.0, s, -self.y0 * s]])

    def int_bounds(self, image_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the box clipped to the image, integer pixels."""
        height, width = image_shape[:2]
        x0 = max(0, int(np.floor(self.x0)))
        y0 = max(0, int(np.floor(self.y0)))
        x1 = min(width, int(np.ceil(self.x0 + self.side)))
        y1 = min(height, int(np.ceil(self.y0 + self.side)))
        return x0, y0, x1, y1


def face_crop_box(points: np.ndarray, scale: float = CROP_SCALE) -> CropBox:
    """The working square for a face with landmarks ``points`` (478x3 or 478x2, pixels)."""
    xy = points[:, :2].astype(np.float64)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    side = float(max(hi - lo)) * scale
    cx, cy = (lo + hi) / 2
    return CropBox(cx=float(cx), cy=float(cy - CROP_SHIFT_UP * side), side=side)


def crop_image(image: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    """Resample ``box`` of ``image`` (HxWxC uint8) to a size x size crop (uint8).

    Parts of the box outside the image repeat the edge pixels, so a face near the
    border still gets a full square.
    """
    # Bicubic, not bilinear: the crop is resampled here and again on paste-back, and two
    # bilinear passes visibly soften the face (measured: Laplacian variance of the
    # astronaut's face 1021 -> 665 at 256 px, -> 919 with bicubic).
    interpolation = cv2.INTER_AREA if box.side > size else cv2.INTER_CUBIC
    return cv2.warpAffine(
        image,
        box.affine_to_crop(size),
        (size, size),
        flags=interpolation,
        borderMode=cv2.BORDER_REPLICATE,
    )


def to_crop_units(points: np.ndarray, box: CropBox) -> np.ndarray:
    """Image-pixel landmarks (Nx3) -> crop-normalised (x, y in [0,1], z / side). float32."""
    out = np.empty_like(points, dtype=np.float32)
    out[:, 0] = (points[:, 0] - box.x0) / box.side
    out[:, 1] = (points[:, 1] - box.y0) / box.side
    out[:, 2] = points[:, 2] / box.side
    return out


def from_crop_units(points: np.ndarray, box: CropBox) -> np.ndarray:
    """Inverse of :func:`to_crop_units`. Nx3 float32 pixels."""
    out = np.empty_like(points, dtype=np.float32)
    out[:, 0] = points[:, 0] * box.side + box.x0
    out[:, 1] = points[:, 1] * box.side + box.y0
    out[:, 2] = points[:, 2] * box.side
    return out


def feather_weights(size: int, fraction: float = FEATHER_FRACTION) -> np.ndarray:
    """size x size float32 weights: 1 inside, falling smoothly to 0 at the crop edge."""
    ramp_px = max(1.0, fraction * size)
    distance = np.minimum(np.arange(size), np.arange(size)[::-1]).astype(np.float32)
    edge = np.clip(distance / ramp_px, 0.0, 1.0)
    edge = edge * edge * (3 - 2 * edge)  # smoothstep: no visible kink at the seam
    return np.minimum.outer(edge, edge)


class PasteBack:
    """Pastes generated crops back into the full-resolution portrait.

    Precomputes, once per portrait, the region of the portrait that the crop covers and
    the seam weights at that region's resolution; each frame then costs one resize and
    one blend of that region only.
    """

    def __init__(self, portrait: np.ndarray, box: CropBox, size: int) -> None:
        self.portrait = portrait
        self.box = box
        self.size = size
        self.bounds = box.int_bounds(portrait.shape)
        x0, y0, x1, y1 = self.bounds
        # Maps region pixels -> crop pixels; warpAffine with WARP_INVERSE_MAP samples the
        # crop at each region pixel.
        affine = box.affine_to_crop(size)
        affine[:, 2] += affine[:, :2] @ np.array([x0, y0], dtype=np.float64)
        self._region_to_crop = affine
        self._region_size = (x1 - x0, y1 - y0)
        seam = feather_weights(size)
        self._seam = np.ascontiguousarray(self.to_region(seam), dtype=np.float32)   # HxW
        self._seam_rest = 1.0 - self._seam
        self._background = np.ascontiguousarray(portrait[y0:y1, x0:x1])

    @property
    def region_to_crop(self) -> np.ndarray:
        """2x3 float64: region pixels (relative to bounds' x0, y0) -> crop pixels."""
        return self._region_to_crop.copy()

    @property
    def seam(self) -> np.ndarray:
        """Region-sized float32 seam weights: 1 inside, 0 at the crop's edge."""
        return self._seam

    def to_region(self, crop: np.ndarray) -> np.ndarray:
        """A size x size crop image resampled onto the region's pixels (bicubic)."""
        return cv2.warpAffine(
            crop,
            self._region_to_crop,
            self._region_size,
            flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,   # see crop_image: keeps detail
            borderMode=cv2.BORDER_REPLICATE,
        )

    def paste(self, generated: np.ndarray, portrait: np.ndarray | None = None) -> np.ndarray:
        """Full-size HxWx3 uint8 frame with ``generated`` (size x size x 3 uint8) pasted in.

        ``portrait`` overrides the base image (e.g. an inpainted background plate).
        """
        base = self.portrait if portrait is None else portrait
        out = base.copy()
        x0, y0, x1, y1 = self.bounds
        region = self.to_region(generated)
        background = (self._background if portrait is None
                      else np.ascontiguousarray(base[y0:y1, x0:x1]))
        # uint8 in, uint8 out, weights per pixel: one SIMD pass instead of float copies.
        out[y0:y1, x0:x1] = cv2.blendLinear(region, background, self._seam, self._seam_rest)
        return out

    def paste_alpha(self, mask: np.ndarray) -> np.ndarray:
        """Full-size HxW uint8 alpha from a size x size float mask in [0,1]."""
        height, width = self.portrait.shape[:2]
        alpha = np.zeros((height, width), dtype=np.float32)
        x0, y0, x1, y1 = self.bounds
        alpha[y0:y1, x0:x1] = self.to_region(mask.astype(np.float32)) * self._seam
        return np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)
