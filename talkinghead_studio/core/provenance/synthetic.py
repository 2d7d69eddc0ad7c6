"""Procedural, natural-image-like test content for the watermark's tests and benchmark.

A watermark that only works on flat images proves nothing, and the real clips we may test
on cannot ship with the project. These scenes have a natural image's 1/f spectrum, hard
edges, smooth shading and saturated areas, and a textured "head" that moves over a static
background like a talking-head clip.
"""
from __future__ import annotations

import cv2
import numpy as np


def pink_noise(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """HxW float32 noise with a 1/f amplitude spectrum, scaled to zero mean, unit std."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    radius = np.hypot(fy, fx)
    radius[0, 0] = 1.0
    spectrum = (rng.standard_normal(radius.shape) + 1j * rng.standard_normal(radius.shape)) / radius
    spectrum[0, 0] = 0.0
    field = np.fft.irfft2(spectrum, s=(height, width)).astype(np.float32)
    return (field - field.mean()) / (field.std() + 1e-9)


def scene(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """HxWx3 uint8 RGB: textured background, shading, hard-edged shapes, a clipped highlight."""
    base = np.stack([pink_noise(rng, height, width) for _ in range(3)], axis=2)
    mix = rng.uniform(0.3, 1.0, size=(3, 3)).astype(np.float32)
    img = 110.0 + 35.0 * base @ mix / mix.sum(axis=0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img += (40.0 * (xx / width - 0.5) + 25.0 * (yy / height - 0.5))[:, :, None]
    for _ in range(6):
        colour = rng.uniform(0, 255, 3)
        x0, y0 = rng.uniform(0, width), rng.uniform(0, height)
        w, h = rng.uniform(0.05, 0.3) * width, rng.uniform(0.05, 0.3) * height
        inside = (np.abs(xx - x0) < w / 2) & (np.abs(yy - y0) < h / 2)
        img[inside] = 0.4 * img[inside] + 0.6 * colour
    # A saturated patch, as a blown-out window or a white shirt would give.
    img[: height // 8, : width // 6] = 255.0
    return np.clip(img, 0, 255).astype(np.uint8)


def talking_head_clip(seed: int, n_frames: int, height: int = 512, width: int = 512):
    """Yield n_frames HxWx3 uint8 RGB: a static scene with a textured ellipse that moves,
    turns and 'opens its mouth' a little, like a talking head."""
    rng = np.random.default_rng(seed)
    background = scene(rng, height, width)
    face = scene(rng, height, width)
    cy, cx = height * 0.55, width * 0.5
    for t in range(n_frames):
        phase = 2 * np.pi * t / 25.0
        frame = background.copy()
        centre = (int(cx + 0.04 * width * np.sin(0.7 * phase)),
                  int(cy + 0.02 * height * np.cos(phase)))
        axes = (int(0.22 * width), int(0.3 * height))
        mask = np.zeros((height, width), np.uint8)
        cv2.ellipse(mask, centre, axes, 10 * np.sin(0.5 * phase), 0, 360, 255, -1)
        shift = np.float32([[1, 0, 6 * np.sin(phase)], [0, 1, 3 * np.cos(0.8 * phase)]])
        moved = cv2.warpAffine(face, shift, (width, height), borderMode=cv2.BORDER_REFLECT)
        frame[mask > 0] = moved[mask > 0]
        mouth = (centre[0], centre[1] + axes[1] // 2)
        cv2.ellipse(frame, mouth, (axes[0] // 3, int(4 + 10 * abs(np.sin(2 * phase)))), 0, 0, 360,
                    (60, 20, 30), -1)
        yield frame
