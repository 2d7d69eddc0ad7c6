"""Driver motion tracks: per-frame landmarks, with explicit handling of lost faces.

A track can be computed from a video (``extract_track``), saved as ``.npz`` and reused
as a driver, so a performance is recorded once and rendered many times.

Frames where MediaPipe finds no face are never silently dropped: a gap between two
detected frames is interpolated linearly, frames before the first or after the last
detection hold the nearest detection, and all of them are counted.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from talkinghead_studio import __version__
from talkinghead_studio.errors import InputFileError, NoFaceFound, RenderCancelled
from talkinghead_studio.core.camera import CameraTracker
from talkinghead_studio.core.landmarks import NUM_LANDMARKS, FaceMeshDetector

TRACK_FORMAT = "talkinghead-studio-track"
TRACK_VERSION = 1
MAX_INTERPOLATED_GAP = 60   # frames; longer gaps hold the last pose instead


@dataclass
class MotionTrack:
    """points: Tx478x3 float32, driver pixels (gap-filled). detected: (T,) bool.
    camera: Tx2x3 float32, each frame's camera motion (core/camera.py: first-frame pixels
    -> that frame's), or None for tracks recorded before it was kept."""

    points: np.ndarray
    detected: np.ndarray
    fps: float
    frame_size: tuple[int, int]          # (width, height) of the driver frames
    source_name: str = ""
    extra: dict = field(default_factory=dict)
    camera: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.points)

    @property
    def missing_count(self) -> int:
        return int((~self.detected).sum())

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically as .npz (temporary file, then rename)."""
        from talkinghead_studio.core.video import temporary_sibling

        path = Path(path)
        temp = temporary_sibling(path, ".npz")
        header = {"format": TRACK_FORMAT, "version": TRACK_VERSION, "fps": self.fps,
                  "frame_size": list(self.frame_size), "source_name": self.source_name,
                  "app_version": __version__, **self.extra}
        try:
            with open(temp, "wb") as handle:
                arrays = {"points": self.points.astype(np.float32),
                          "detected": self.detected.astype(bool),
                          "header": np.array(json.dumps(header))}
                if self.camera is not None:
                    arrays["camera"] = self.camera.astype(np.float32)
                np.savez_compressed(handle, **arrays)
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "MotionTrack":
        path = Path(path)
        if not path.is_file():
            raise InputFileError(f"Motion track not found: {path}.")
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
                points = data["points"].astype(np.float32)
                detected = data["detected"].astype(bool)
                camera = data["camera"].astype(np.float32) if "camera" in data else None
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
            raise InputFileError(
                f"{path.name} is not a Talking-Head Studio motion track ({exc}). Record "
                f"one with: talkinghead-studio track DRIVER -o motion.npz"
            ) from None
        if header.get("format") != TRACK_FORMAT or points.ndim != 3 or \
                points.shape[1:] != (NUM_LANDMARKS, 3) or len(detected) != len(points) or \
                (camera is not None and camera.shape != (len(points), 2, 3)):
            raise InputFileError(f"{path.name} is not a valid motion track (wrong layout).")
        if not detected.any():
            raise NoFaceFound(f"The motion track {path.name} has no frame with a face.")
        return cls(points, detected, float(header["fps"]), tuple(header["frame_size"]),
                   header.get("source_name", path.stem), camera=camera)


def fill_gaps(points: np.ndarray, detected: np.ndarray) -> np.ndarray:
    """Fill undetected frames of a Tx478x3 track (values there are ignored). Returns a copy.

    Interior gaps up to MAX_INTERPOLATED_GAP frames are interpolated; longer ones hold
    the pose before the gap; leading/trailing gaps hold the nearest detection.
    """
    filled = points.astype(np.float32).copy()
    found = np.flatnonzero(detected)
    if len(found) == 0:
        raise NoFaceFound("No face was found in any frame of the driver.")
    filled[: found[0]] = filled[found[0]]
    filled[found[-1] + 1:] = filled[found[-1]]
    for start, end in zip(found[:-1], found[1:]):
        gap = end - start - 1
        if gap <= 0:
            continue
        if gap > MAX_INTERPOLATED_GAP:
            filled[start + 1:end] = filled[start]
            continue
        weights = (np.arange(1, gap + 1, dtype=np.float32) / (gap + 1))[:, None, None]
        filled[start + 1:end] = filled[start] * (1 - weights) + filled[end] * weights
    return filled


class GapFiller:
    """Streaming version of :func:`fill_gaps`: feed (frame, points|None), get filled frames.

    Holds back frames only while it waits for the end of a gap (at most
    MAX_INTERPOLATED_GAP frames), so memory stays bounded.
    """

    def __init__(self) -> None:
        self._last: np.ndarray | None = None
        self._pending: list = []   # payloads waiting for the next detection
        self.missing = 0

    def push(self, payload, points: np.ndarray | None) -> Iterator[tuple[object, np.ndarray, bool]]:
        """Yields (payload, filled points, detected) in order as they become final."""
        if points is None:
            self.missing += 1
            self._pending.append(payload)
            if self._last is not None and len(self._pending) > MAX_INTERPOLATED_GAP:
                for waiting in self._pending:   # too long: hold the last pose
                    yield waiting, self._last, False
                self._pending = []
            return
        if self._pending:
            start = self._last if self._last is not None else points
            count = len(self._pending)
            for step, waiting in enumerate(self._pending, start=1):
                weight = step / (count + 1)
                yield waiting, start * (1 - weight) + points * weight, False
            self._pending = []
        self._last = points
        yield payload, points, True

    def finish(self) -> Iterator[tuple[object, np.ndarray, bool]]:
        if self._last is None:
            if self._pending:
                raise NoFaceFound("No face was found in any frame of the driver.")
            return
        for waiting in self._pending:
            yield waiting, self._last, False
        self._pending = []


def detect_stream(frames: Iterable[np.ndarray], follow_camera: bool = False
                  ) -> Iterator[tuple[np.ndarray | None, np.ndarray | None]]:
    """(landmarks 478x3 pixels or None, camera 2x3 float32 or None) for each RGB frame,
    with MediaPipe tracking. The camera (core/camera.py) is only followed on request.

    The camera is followed on a thread of its own, a frame behind the landmarks: each
    costs a few ms a frame, and the driver's first seconds (tracked before any frame can
    be generated) then take the longer of the two rather than their sum."""
    if not follow_camera:
        with FaceMeshDetector(mode="video") as detector:
            for frame in frames:
                found = detector.detect(frame)
                yield (None if found is None else found.points), None
        return
    cameras = CameraTracker()
    follower = ThreadPoolExecutor(max_workers=1, thread_name_prefix="driver-camera")
    last_points, waiting = None, None
    try:
        with FaceMeshDetector(mode="video") as detector:
            for frame in frames:
                found = detector.detect(frame)
                points = None if found is None else found.points
                last_points = points if points is not None else last_points
                # One worker: the frames reach the tracker in order.
                camera = follower.submit(cameras.update, frame, last_points)
                if waiting is not None:
                    yield waiting[0], waiting[1].result()
                waiting = (points, camera)
            if waiting is not None:
                yield waiting[0], waiting[1].result()
    finally:
        follower.shutdown(wait=True, cancel_futures=True)
        cameras.close()


def extract_track(
    video_path: str | os.PathLike,
    progress: Callable[[int, int], None] | None = None,
    cancel=None,
    max_frames: int | None = None,
) -> MotionTrack:
    """Track a driver video into a MotionTrack (streams frames; keeps only landmarks)."""
    from talkinghead_studio.core.video import iter_frames, probe_video

    info = probe_video(video_path)
    total = min(info.frame_count, max_frames) if max_frames else info.frame_count
    raw, detected, cameras = [], [], []
    frames = iter_frames(video_path, info)
    # The camera is kept too (~2-4 ms a frame), so a track renders with either camera mode.
    for index, (points, camera) in enumerate(detect_stream(frames, follow_camera=True)):
        if cancel is not None and cancel.is_set():
            raise RenderCancelled("Tracking cancelled.")
        raw.append(points if points is not None else np.zeros((NUM_LANDMARKS, 3), np.float32))
        detected.append(points is not None)
        cameras.append(camera)
        if progress:
            progress(index + 1, max(total, index + 1))
        if max_frames and index + 1 >= max_frames:
            break
    detected = np.array(detected, bool)
    if not detected.any():
        raise NoFaceFound(
            f"No face was found in any frame of {Path(video_path).name}. Use a driver video "
            f"where a face is clearly visible and facing the camera."
        )
    points = fill_gaps(np.stack(raw), detected)
    return MotionTrack(points, detected, info.fps, info.size, Path(video_path).name,
                       camera=np.stack(cameras))
