"""Typed, frozen settings split by concern. The CLI and the GUI both build these."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

MotionMode = Literal["relative", "absolute"]
NeutralPick = Literal["auto", "first"]
CameraMode = Literal["fixed", "steady", "follow"]


@dataclass(frozen=True)
class RegionStrengths:
    """Motion strength per region, 1.0 = as the driver moved (0..1.5 in the UI)."""

    pose: float = 1.0    # head rotation and translation
    brows: float = 1.0
    eyes: float = 1.0    # lids and gaze
    mouth: float = 1.0


@dataclass(frozen=True)
class MotionSettings:
    """How driver motion becomes portrait motion."""

    mode: MotionMode = "relative"       # relative: portrait + driver's change; absolute: driver's shape
    neutral: NeutralPick = "auto"       # driver reference frame: most neutral frontal, or frame 0
    neutral_frame: int | None = None    # explicit reference frame index (GUI "use as neutral")
    strengths: RegionStrengths = field(default_factory=RegionStrengths)
    smoothing: float = 0.5              # 0 = off, 1 = strongest One Euro smoothing
    stabilize_scale: bool = True        # remove head-size "breathing" not in the driver
    # What the driver's camera motion (core/camera.py) does. fixed: nothing is read; the
    # head moves as the face moved in the video, camera moves included. steady: it is
    # taken out of the head's motion (a handheld driver); the frame stays put. follow:
    # taken out of the head's motion, and the whole frame pans and zooms with it.
    camera: CameraMode = "fixed"


@dataclass(frozen=True)
class RenderSettings:
    """How frames are generated."""

    size: int = 256                     # generator working resolution (256 or 512)
    provider: Literal["auto", "cpu", "cuda"] = "auto"
    model_path: Path | None = None      # None = shipped default generator
    max_side: int = 2048                # portraits larger than this are downscaled first
    max_frames: int | None = None       # stop after this many driver frames (None = all)
    start_frame: int = 0
    parallel_frames: int = 0            # frames generated at once; 0 = one per core (max 4)
    rigid_glasses: bool = True          # find glasses frames and keep them rigid (core/glasses.py)


@dataclass(frozen=True)
class ExportSettings:
    """What is written and how."""

    format: Literal["mp4", "png", "gif"] = "mp4"
    crf: int = 18                       # H.264 quality (lower = better, larger)
    keep_audio: bool = True
    watermark: bool = True              # invisible provenance watermark (on by default)
    gif_fps: float | None = None        # None = driver fps capped at 25
