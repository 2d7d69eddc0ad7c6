#!/usr/bin/env python3
"""Contact sheet: the hardest frames of a driver, rendered on several portraits, in one PNG.

From the driver's landmarks it picks the frame with the mouth widest open (inner-lip gap /
mouth width), the eyes most closed (eye aspect ratio), the head turned most (yaw from
MediaPipe's 3-D landmarks, relative to the clip's usual yaw) and the most neutral frame.
Each portrait becomes one row: the portrait, then for each hard frame the driver frame and
the result, face-cropped. An extra column pair shows, per portrait, the candidate driver
whose face proportions differ most from the portrait's, at that driver's widest mouth.

  # research data (../shared/data) -> bench_out/contact_sheet_shared.png (never the repo)
  .venv/bin/python benchmarks/contact_sheet.py --preset shared
  # public-domain samples in resources/ -> docs/contact_sheet.png (for the README)
  .venv/bin/python benchmarks/contact_sheet.py --preset public
  # anything else
  .venv/bin/python benchmarks/contact_sheet.py --driver D.mp4 --portraits A.jpg B.png \
      --prop-drivers E.mp4 F.npz --out bench_out/sheet.png

Runs in the app's venv (it uses the app's landmark tracker, video reader and renderer).
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

import face_signals as fs

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run from a checkout without installing

from talkinghead_studio.core.images import load_portrait  # noqa: E402
from talkinghead_studio.core.landmarks import FaceMeshDetector  # noqa: E402
from talkinghead_studio.core.track import MotionTrack, extract_track  # noqa: E402
from talkinghead_studio.core.video import iter_frames  # noqa: E402

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
RESOURCES = REPO_ROOT / "resources"
BENCH_OUT = REPO_ROOT / "bench_out"
DEFAULT_RENDER_CMD = f"{REPO_ROOT / '.venv' / 'bin' / 'talkinghead-studio'} render --quiet"
IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
DRIVER_EXT = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".npz"}
# Shared preset: four photos and two paintings, different ages, skin tones, framing.
SHARED_PORTRAITS = ("fr_obama", "lp_s1", "lp_s2", "sadtalker_people_0", "lp_s9",
                    "sadtalker_art_12")
SHARED_DRIVER = "lp_d3"        # head turns and tilts, frown, pout, mouth opening, eye roll
FACE_MARGIN = 1.8              # crop side = this x the landmarks' bounding-box side


# ----------------------------------------------------------------------------- inputs

@dataclass(frozen=True)
class Driver:
    """A driver's motion. points: Tx478x3 float32 pixels; detected: (T,) bool."""

    path: Path
    points: np.ndarray
    detected: np.ndarray
    frame_size: tuple[int, int]     # (width, height)

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def is_track(self) -> bool:
        return self.path.suffix.lower() == ".npz"


def load_driver(path: Path) -> Driver:
    """Track a video (or read a saved .npz track) with the app's own landmark tracker,
    so the frames we pick are judged on the motion the renderer will actually see."""
    track = MotionTrack.load(path) if path.suffix.lower() == ".npz" else extract_track(path)
    return Driver(path, track.points, track.detected, tuple(track.frame_size))


def driver_frames(driver: Driver, indices: Sequence[int]) -> dict[int, np.ndarray]:
    """The driver's own frames at `indices` (HxWx3 uint8 RGB). A .npz track has no
    pixels, so its landmarks are drawn instead."""
    wanted = set(indices)
    if driver.is_track:
        return {i: draw_landmarks(driver.points[i], driver.frame_size) for i in wanted}
    found = {}
    for index, frame in enumerate(iter_frames(driver.path)):
        if index in wanted:
            found[index] = frame.copy()
        if len(found) == len(wanted):
            break
    return found


def draw_landmarks(points: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """478x3 pixel landmarks as dots on a dark frame: HxWx3 uint8 RGB."""
    width, height = frame_size
    canvas = np.full((height, width, 3), 24, np.uint8)
    radius = max(1, round(width / 400))
    for x, y in points[:, :2]:
        cv2.circle(canvas, (int(round(x)), int(round(y))), radius, (120, 220, 255), -1)
    return canvas


@dataclass(frozen=True)
class Portrait:
    """rgb: HxWx3 uint8 as the app loads it; points: 478x3 pixels or None (no face)."""

    path: Path
    rgb: np.ndarray
    points: np.ndarray | None

    @property
    def name(self) -> str:
        return self.path.stem


def load_portrait_face(path: Path) -> Portrait:
    loaded = load_portrait(path)
    with FaceMeshDetector(mode="image") as detector:
        found = detector.detect(loaded.rgb)
    return Portrait(path, loaded.rgb, None if found is None else found.points)


def neutral_frame(driver: Driver) -> int:
    valid = np.flatnonzero(driver.detected)
    return int(valid[np.argmin(fs.neutral_scores(driver.points[valid]))])


def most_different_driver(portrait: Portrait, candidates: Sequence[Driver]
                          ) -> tuple[Driver, float] | None:
    """The candidate whose neutral-frame proportions differ most from the portrait's."""
    if portrait.points is None or not candidates:
        return None
    mine = fs.proportions(portrait.points)
    scored = [(fs.proportion_distance(mine, fs.proportions(d.points[neutral_frame(d)])), d)
              for d in candidates]
    distance, driver = max(scored, key=lambda s: s[0])
    return driver, distance


# ----------------------------------------------------------------------------- rendering

class RenderFailed(RuntimeError):
    pass


def render_frames(portrait_path: Path, driver_path: Path, frame_indices: Sequence[int],
                  size: int, *, render_cmd: str = DEFAULT_RENDER_CMD) -> list[np.ndarray]:
    """Output frames (HxWx3 uint8 RGB, portrait size) at `frame_indices` of a render.

    Shells out to the CLI, which has no option to render chosen frames only, so it renders
    every frame up to the last index: slower, but the frames are exactly those of a normal
    export (same neutral reference, same smoothing). The temporary video lives in /tmp."""
    last = max(frame_indices)
    with tempfile.TemporaryDirectory(prefix="contact_sheet_") as tmp:
        out = Path(tmp) / "render.mp4"
        cmd = [*shlex.split(render_cmd), str(portrait_path), str(driver_path), "-o", str(out),
               "--size", str(size), "--max-frames", str(last + 1)]
        done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0 or not out.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RenderFailed(f"render exited {done.returncode}: {tail[0]}")
        wanted, found = set(frame_indices), {}
        for index, frame in enumerate(iter_frames(out)):
            if index in wanted:
                found[index] = frame.copy()  # iter_frames may reuse its buffer
            if index >= last:
                break
    missing = sorted(wanted - found.keys())
    if missing:
        raise RenderFailed(f"render stopped before frame(s) {missing}")
    return [found[i] for i in frame_indices]


@lru_cache(maxsize=4)
def _api_driver_track(driver_path: Path) -> MotionTrack:
    if driver_path.suffix.lower() == ".npz":
        return MotionTrack.load(driver_path)
    return extract_track(driver_path)


def render_frames_api(portrait_path: Path, driver_path: Path, frame_indices: Sequence[int],
                      size: int) -> list[np.ndarray]:
    """Same contract as render_frames, through the Python API: only the asked frames are
    generated. Differences from an export: landmark smoothing is off (isolated frames
    have no history) and there is no watermark. The neutral reference is chosen like
    core/pipeline.py does (most neutral frame of the first seconds)."""
    from talkinghead_studio.config import MotionSettings, RenderSettings
    from talkinghead_studio.core.animator import Animator
    from talkinghead_studio.core.motion import pick_neutral_frame
    from talkinghead_studio.core.pipeline import NEUTRAL_WINDOW_SECONDS, load_generator, prepare

    settings = RenderSettings(size=size)
    generator = load_generator(settings)
    portrait = prepare(Path(portrait_path), settings, generator)
    track = _api_driver_track(Path(driver_path))
    animator = Animator(portrait, generator, MotionSettings(smoothing=0.0), fps=track.fps)
    window = max(1, int(NEUTRAL_WINDOW_SECONDS * track.fps))
    head = slice(0, min(window, len(track)))
    detected = track.detected[head]
    reference = pick_neutral_frame(track.points[head], detected if detected.any() else None)
    animator.set_driver_reference(track.points[reference])
    return [animator.animate(track.points[i]).frame for i in frame_indices]


RENDERERS = {"cli": render_frames, "api": render_frames_api}


# ----------------------------------------------------------------------------- cells

def face_square(points: np.ndarray | None, shape: tuple[int, ...]) -> tuple[float, float, float]:
    """(centre x, centre y, side) of a square around the face, or the image centre."""
    height, width = shape[:2]
    if points is None:
        return width / 2, height / 2, float(min(width, height))
    (x0, y0), (x1, y1) = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
    return (x0 + x1) / 2, (y0 + y1) / 2, float(max(x1 - x0, y1 - y0) * FACE_MARGIN)


def crop_cell(rgb: np.ndarray, square: tuple[float, float, float], cell: int) -> np.ndarray:
    """Resample the square (cx, cy, side) of `rgb` to cell x cell x 3 uint8; black outside."""
    cx, cy, side = square
    scale = cell / side
    matrix = np.array([[scale, 0, cell / 2 - scale * cx], [0, scale, cell / 2 - scale * cy]])
    return cv2.warpAffine(rgb, matrix, (cell, cell), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def scaled_square(square: tuple[float, float, float], src_shape, dst_shape):
    """Map a square from portrait pixels to a frame of another size (the same picture)."""
    sx = dst_shape[1] / src_shape[1]
    sy = dst_shape[0] / src_shape[0]
    cx, cy, side = square
    return cx * sx, cy * sy, side * (sx + sy) / 2


def label(cell: np.ndarray, text: str) -> np.ndarray:
    """Write `text` on a dark strip at the bottom of the cell (in place; returns it)."""
    font, scale, thickness = cv2.FONT_HERSHEY_SIMPLEX, 0.38, 1
    (_, text_h), base = cv2.getTextSize(text, font, scale, thickness)
    top = cell.shape[0] - text_h - base - 4
    cell[top:] = (cell[top:] * 0.35).astype(np.uint8)
    cv2.putText(cell, text, (3, cell.shape[0] - base - 2), font, scale, (255, 255, 255),
                thickness, cv2.LINE_AA)
    return cell


def blank_cell(cell: int, text: str) -> np.ndarray:
    return label(np.full((cell, cell, 3), 40, np.uint8), text)


def header_strip(titles: Sequence[str], cell: int, gutter: int) -> np.ndarray:
    width = len(titles) * cell + (len(titles) - 1) * gutter
    strip = np.full((20, width, 3), 255, np.uint8)
    for column, title in enumerate(titles):
        x = column * (cell + gutter) + 3
        cv2.putText(strip, title, (x, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return strip


def assemble(rows: Sequence[Sequence[np.ndarray]], titles: Sequence[str], cell: int,
             gutter: int = 2) -> np.ndarray:
    """Grid of equal cells under a title strip: HxWx3 uint8 RGB on white."""
    columns = max(len(r) for r in rows)
    filler = np.full((cell, cell, 3), 255, np.uint8)
    lines = [header_strip(titles, cell, gutter)]
    for row in rows:
        cells = list(row) + [filler] * (columns - len(row))
        line = cells[0]
        for c in cells[1:]:
            line = np.hstack([line, np.full((cell, gutter, 3), 255, np.uint8), c])
        lines += [np.full((gutter, line.shape[1], 3), 255, np.uint8), line]
    return np.vstack(lines)
