"""Reference inputs for the mesh-warp build check, tests and benchmarks (numpy only).

The public-domain sample portraits in resources/portraits (astronaut.png, NASA: a toothy
smile; grace_hopper.jpg, US Navy: closed mouth and glasses) are cropped the way the app
crops portraits, MediaPipe finds their landmarks, and driving landmarks are synthesised
by moving landmark groups the way a face moves: a dropped jaw, closed lids, a moved
head, a gaze shift. Landmarks: 478x3 float32, crop units.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from talkinghead_studio.warpgen import topology as topo

PORTRAITS = Path(__file__).resolve().parents[2] / "resources" / "portraits"
SAMPLES = {"astronaut": "astronaut.png", "hopper": "grace_hopper.jpg"}


def astronaut(size: int) -> tuple[np.ndarray, np.ndarray]:
    return portrait("astronaut", size)


@lru_cache(maxsize=8)
def portrait(name: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(crop size x size x 3 uint8 RGB, landmarks 478x3 float32 in crop units) of a
    sample portrait ("astronaut" or "hopper").

    Landmarks are detected on the crop itself, as the app does for a portrait."""
    from talkinghead_studio.core.crop import crop_image, face_crop_box
    from talkinghead_studio.core.images import load_portrait
    from talkinghead_studio.core.landmarks import FaceMeshDetector

    image = load_portrait(PORTRAITS / SAMPLES[name]).rgb
    with FaceMeshDetector("image") as detector:
        box = face_crop_box(detector.detect(image).points)
        crop = crop_image(image, box, size)
        points = detector.detect(crop).points
    return crop, (points / np.float32(size)).astype(np.float32)


def feeds(crop: np.ndarray, src: np.ndarray, drv: np.ndarray, matte: np.ndarray | None = None,
          background: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Contract inputs (1xCxRxR float32) from uint8 images and 478x3 landmarks."""
    def chw(rgb: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0

    size = crop.shape[0]
    image = chw(crop)
    return {
        "source_image": image,
        "source_landmarks": src[None].astype(np.float32),
        "driving_landmarks": drv[None].astype(np.float32),
        "source_matte": (np.ones((1, 1, size, size), np.float32) if matte is None
                         else matte.reshape(1, 1, size, size).astype(np.float32)),
        "background_image": image.copy() if background is None else chw(background),
    }


def open_jaw(lm: np.ndarray, amount: float) -> np.ndarray:
    """Drop everything below the upper inner lip by ``amount`` (crop units), tapering
    towards the sides of the face like a jaw hinged near the ears."""
    out = lm.copy()
    chain = lm[list(topo.MOUTH_UPPER)]
    order = np.argsort(chain[:, 0])
    centre = chain[:, 0].mean()
    width = lm[:, 0].max() - lm[:, 0].min()
    x0, x1 = chain[:, 0].min(), chain[:, 0].max()
    lower = set(topo.MOUTH_LOWER[1:-1]) | set(topo.LIPS_OUTER_LOWER[1:-1])
    for i in range(468):
        x, y = lm[i, 0], lm[i, 1]
        lip = np.interp(x, chain[order, 0], chain[order, 1])
        if i not in lower and (i in topo.MOUTH_UPPER or y <= lip + 1e-4):
            continue  # upper lip and everything above it (a closed mouth's lower inner
            # lip sits on the upper one, hence the explicit lower-lip set)
        if i not in lower and (x < x0 or x > x1) and y < lip + 0.03:
            continue  # cheek points beside the mouth corners stay with the skull
        out[i, 1] += amount * np.clip(1 - ((x - centre) / (0.6 * width)) ** 2, 0, 1)
    return out


def close_eyes(lm: np.ndarray, amount: float = 1.0) -> np.ndarray:
    """Move the upper lid margins ``amount`` of the way onto the lower ones."""
    out = lm.copy()
    for upper, lower in ((topo.RIGHT_EYE_UPPER, topo.RIGHT_EYE_LOWER),
                         (topo.LEFT_EYE_UPPER, topo.LEFT_EYE_LOWER)):
        up, lo = list(upper[1:-1]), list(lower[1:-1])
        out[up, :2] = lm[up, :2] + amount * (lm[lo, :2] - lm[up, :2])
    return out


def move_head(lm: np.ndarray, dx: float = 0.0, dy: float = 0.0, degrees: float = 0.0
              ) -> np.ndarray:
    """Rotate (in the image plane, about the eyes' midpoint) and shift all landmarks."""
    out = lm.copy()
    centre = lm[[33, 263], :2].mean(0)
    a = np.deg2rad(degrees)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], np.float32)
    out[:, :2] = (lm[:, :2] - centre) @ rot.T + centre + np.array([dx, dy], np.float32)
    return out


def look(lm: np.ndarray, dx: float, dy: float = 0.0) -> np.ndarray:
    """Shift both irises (gaze) by (dx, dy) crop units."""
    out = lm.copy()
    out[468:, 0] += dx
    out[468:, 1] += dy
    return out


def reference_cases(lm: np.ndarray) -> dict[str, np.ndarray]:
    """Named driving landmark sets that exercise every part of the warp."""
    return {
        "neutral": lm.copy(),
        "jaw": open_jaw(lm, 0.05),
        "blink": close_eyes(lm),
        "head": move_head(lm, 0.03, 0.01, 8.0),
        "gaze": look(lm, 0.008),
        "all": move_head(close_eyes(open_jaw(lm, 0.04), 0.6), -0.02, 0.0, -6.0),
    }
