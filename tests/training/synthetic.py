"""Tiny synthetic talking-head data for the training tests (no torch at import).

Each synthetic "video" shows a disc of its own colour on grey; the disc follows the
landmarks, which are a fixed random template shifted per frame. A generator can learn
this mapping in a few steps, and the embedder can tell the videos apart by colour.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from talkinghead_studio.training.cache import (
    FrameCache, PreprocessSettings, VideoEntry, encode_crop, init_cache, write_index,
    write_shard)
from talkinghead_studio.training.config import NetworkConfig

COLOURS = ((220, 60, 40), (40, 180, 70), (50, 80, 220), (200, 200, 40))


def tiny_network(resolution: int = 32, spectral_norm: bool = True) -> NetworkConfig:
    """All three networks in well under a second per step on one CPU core."""
    return NetworkConfig(resolution=resolution, base_channels=8, max_channels=16,
                         embed_dim=16, generator_bottleneck=8, generator_res_blocks=1,
                         attention_down=8, attention_up=16, spectral_norm=spectral_norm,
                         line_sigma_px=0.8)


def template() -> np.ndarray:
    """478x3 float32 crop units: points inside a disc of radius 0.2 around the centre."""
    rng = np.random.default_rng(1234)
    angle = rng.uniform(0, 2 * np.pi, 478)
    radius = 0.2 * np.sqrt(rng.uniform(0, 1, 478))
    points = np.stack([0.5 + radius * np.cos(angle), 0.5 + radius * np.sin(angle),
                       rng.normal(0, 0.01, 478)], axis=1)
    return points.astype(np.float32)


def frame_for(offset: tuple[float, float], colour,
              resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """(RxRx3 uint8 RGB frame, 478x3 landmarks) with the disc shifted by ``offset``."""
    marks = template()
    marks[:, 0] += offset[0]
    marks[:, 1] += offset[1]
    image = np.full((resolution, resolution, 3), 128, np.uint8)
    centre = (int(round((0.5 + offset[0]) * resolution)),
              int(round((0.5 + offset[1]) * resolution)))
    cv2.circle(image, centre, int(0.22 * resolution), tuple(int(c) for c in colour), -1,
               lineType=cv2.LINE_AA)
    return image, marks


def synthetic_video(index: int, count: int, resolution: int):
    """(frames Fx RxRx3 uint8, landmarks Fx478x3) of video ``index``."""
    rng = np.random.default_rng(index)
    frames, marks = [], []
    for _ in range(count):
        offset = tuple(rng.uniform(-0.12, 0.12, 2))
        image, points = frame_for(offset, COLOURS[index % len(COLOURS)], resolution)
        frames.append(image)
        marks.append(points)
    return np.stack(frames), np.stack(marks)


def build_cache(folder: Path, videos: int = 3, frames: int = 6, resolution: int = 32) -> FrameCache:
    """A finished frame cache in ``folder`` holding the synthetic videos."""
    names = [f"person{i}/clip/00001" for i in range(videos)]
    init_cache(folder, Path("synthetic"), names, PreprocessSettings(resolution=resolution))
    entries = []
    for i, name in enumerate(names):
        images, marks = synthetic_video(i, frames, resolution)
        entries.append(VideoEntry(name, list(range(frames)), [encode_crop(f) for f in images],
                                  marks))
    write_shard(folder, 0, entries)
    write_index(folder, 1)
    return FrameCache(folder)
