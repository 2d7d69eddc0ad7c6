"""Load portraits of any common kind into one shape: HxWx3 uint8 RGB.

Handles what artists actually have: EXIF-rotated phone photos, greyscale scans,
RGBA renders with transparent backgrounds, 16-bit PNG/TIFF exports, palette GIFs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkinghead_studio.errors import UnreadableImage

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
# Transparent pixels of an RGBA render are shown over this neutral grey: the face
# detector and the warp need opaque pixels, and grey shifts no colours.
ALPHA_BACKDROP = 128


@dataclass(frozen=True)
class LoadedImage:
    """A portrait ready for the engine.

    rgb: HxWx3 uint8 RGB (after EXIF rotation and any downscale).
    alpha: HxW uint8 or None, the original transparency, scaled like ``rgb``.
    original_size: (width, height) of the file as displayed (after EXIF rotation).
    notes: human-readable remarks (e.g. "downscaled from 4000x3000 to 2048x1536").
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    original_size: tuple[int, int]
    notes: tuple[str, ...] = ()

    @property
    def scale(self) -> float:
        """Loaded width / original width (1.0 unless the size cap applied)."""
        return self.rgb.shape[1] / self.original_size[0]


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Any integer or float image array -> uint8 with the full range kept."""
    if array.dtype == np.uint8:
        return array
    if array.dtype in (np.uint16, np.int32, np.int16, np.uint32):
        # PIL opens 16-bit greyscale as 'I;16' or 'I' (int32); values are 0..65535.
        return np.clip(array.astype(np.float32) / 257.0 + 0.5, 0, 255).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        peak = 1.0 if float(np.nanmax(array)) <= 1.0 else 255.0
        return np.clip(np.nan_to_num(array) / peak * 255 + 0.5, 0, 255).astype(np.uint8)
    return np.clip(array, 0, 255).astype(np.uint8)


def _pil_to_rgb_alpha(image) -> tuple[np.ndarray, np.ndarray | None]:
    """PIL image of any mode -> (HxWx3 uint8 RGB, HxW uint8 alpha or None)."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        grey = _to_uint8(np.asarray(image))
        return np.repeat(grey[..., None], 3, axis=2), None
    has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"))
        alpha = rgba[..., 3]
        if alpha.min() == 255:
            return np.ascontiguousarray(rgba[..., :3]), None
        weight = alpha[..., None].astype(np.float32) / 255.0
        rgb = rgba[..., :3] * weight + ALPHA_BACKDROP * (1.0 - weight)
        return np.clip(rgb + 0.5, 0, 255).astype(np.uint8), np.ascontiguousarray(alpha)
    return np.asarray(image.convert("RGB")), None


def _cap_size(rgb, alpha, max_side):
    import cv2

    height, width = rgb.shape[:2]
    longest = max(height, width)
    if not max_side or longest <= max_side:
        return rgb, alpha, None
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    if alpha is not None:
        alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
    note = (
        f"Portrait downscaled from {width}x{height} to {size[0]}x{size[1]} "
        f"(the working size is capped at {max_side} px on the long side)."
    )
    return rgb, alpha, note


def load_portrait(path: str | os.PathLike, max_side: int = 2048) -> LoadedImage:
    """Read an image file as a portrait. Raises UnreadableImage with a useful message."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise UnreadableImage(f"Portrait not found: {path}. Check the path and try again.")
    if path.is_dir():
        raise UnreadableImage(f"{path} is a folder; give the path of an image file.")
    try:
        with Image.open(path) as image:
            image.load()
            image = ImageOps.exif_transpose(image)  # phone photos store rotation in EXIF
            rgb, alpha = _pil_to_rgb_alpha(image)
    except UnidentifiedImageError:
        raise UnreadableImage(
            f"{path.name} is not an image this app can read. Use a PNG, JPEG, TIFF, "
            f"BMP or WebP file."
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise UnreadableImage(
            f"{path.name} could not be read ({exc}). The file may be damaged or "
            f"truncated; re-export it and try again."
        ) from None
    if rgb.shape[0] < 32 or rgb.shape[1] < 32:
        raise UnreadableImage(
            f"{path.name} is only {rgb.shape[1]}x{rgb.shape[0]} pixels; use an image at "
            f"least 64 pixels on each side."
        )
    original_size = (rgb.shape[1], rgb.shape[0])
    rgb, alpha, note = _cap_size(np.ascontiguousarray(rgb), alpha, max_side)
    return LoadedImage(rgb=rgb, alpha=alpha, original_size=original_size,
                       notes=(note,) if note else ())


def is_image_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES
