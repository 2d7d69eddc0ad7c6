"""Driver sources: a video file or a saved motion track, as a stream of landmarks.

Both give the same thing to the render pipeline: frame count, fps, an optional audio
source, and an iterator of (index, landmarks 478x3 float32 driver pixels, detected,
camera): camera is the frame's 2x3 float32 camera motion (core/camera.py) when it was
asked for and is known, else None.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from talkinghead_studio.background import in_background
from talkinghead_studio.config import MotionSettings
from talkinghead_studio.core.motion import NEUTRAL_WINDOW_SECONDS, pick_neutral_frame
from talkinghead_studio.core.track import GapFiller, MotionTrack, detect_stream
from talkinghead_studio.core.video import VideoInfo, iter_frames, probe_video
from talkinghead_studio.errors import InputFileError, NoFaceFound

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class DriverInfo:
    path: Path
    fps: float
    frame_count: int          # estimate for videos
    frame_size: tuple[int, int]
    has_audio: bool
    is_track: bool
    video: VideoInfo | None = None   # ffmpeg's description (videos), so nobody probes twice


def open_driver_info(path: str | os.PathLike) -> DriverInfo:
    """Identify a driver file. Raises InputFileError / UnreadableVideo with advice."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"Driver not found: {path}. Check the path and try again.")
    if path.suffix.lower() == ".npz":
        track = MotionTrack.load(path)
        return DriverInfo(path, track.fps, len(track), track.frame_size, False, True)
    # Any other extension goes to ffmpeg, which reads many containers and says
    # clearly when a file is not a video.
    info: VideoInfo = probe_video(path)
    return DriverInfo(path, info.fps, info.frame_count, info.size, info.has_audio, False,
                      info)


def _prefetch(iterator, depth: int, stop: threading.Event, name: str = "driver-landmarks"
              ) -> Iterator:
    """Run ``iterator`` in a background thread, ``depth`` items ahead (bounded queue).

    This is what lets decoding + landmark detection run on one core while generation
    runs on the other. The thread starts now, not at the first ``next()``: whatever
    the caller sets up before it reads (MediaPipe's graph, ~0.08 s) overlaps with the
    iterator's own start (ffmpeg's). A caller that may never read sets ``stop``.
    """
    items: queue.Queue = queue.Queue(maxsize=depth)
    done = object()

    def worker():
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        items.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(done)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            items.put(exc)

    thread = threading.Thread(target=worker, name=name, daemon=True)
    thread.start()
    return _drain(items, done, thread, stop)


def _drain(items: queue.Queue, done: object, thread: threading.Thread,
           stop: threading.Event) -> Iterator:
    """The consumer side of :func:`_prefetch`."""
    try:
        while True:
            try:
                item = items.get(timeout=0.1)
            except queue.Empty:
                if stop.is_set() and not thread.is_alive():
                    return   # stopped from outside: the worker left without a marker
                continue
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def iter_driver_landmarks(path: str | os.PathLike, max_frames: int | None = None,
                          start_frame: int = 0, stop: threading.Event | None = None,
                          video: VideoInfo | None = None, follow_camera: bool = False,
                          ) -> Iterator[tuple[int, np.ndarray, bool, np.ndarray | None]]:
    """(frame index, 478x3 float32 driver pixels, detected, camera 2x3 or None) for each
    driver frame.

    Undetected frames are filled (see core/track.py). Videos are decoded and tracked in
    a background thread, a few frames ahead. ``video``: the file's probe_video() result
    when the caller has it (probing starts two ffmpeg processes, ~0.1 s before the first
    frame). ``follow_camera``: also track the camera (videos; tracks carry theirs).
    """
    path = Path(path)
    stop = stop or threading.Event()
    if path.suffix.lower() == ".npz":
        track = MotionTrack.load(path)
        if follow_camera and track.camera is None:
            log.warning("%s was recorded without its camera motion: the camera stays "
                        "fixed. Record the track again to follow it.", path.name)
        end = len(track) if max_frames is None else min(len(track), start_frame + max_frames)
        for index in range(start_frame, end):
            camera = track.camera[index] if (follow_camera and track.camera is not None) \
                else None
            yield index, track.points[index], bool(track.detected[index]), camera
        return

    def detections():
        # Decoding runs one thread ahead of detection: ffmpeg writes into a 64 KB pipe,
        # so without a reader waiting on it, it decodes only while we read (measured at
        # 512x600: 7.4 ms/frame decode + landmarks in turn, ~4 ms/frame overlapped).
        decode_stop = threading.Event()
        frames = _prefetch(iter_frames(path, video), depth=4, stop=decode_stop,
                           name="driver-decode")
        filler = GapFiller()
        produced = 0
        try:
            tracked = detect_stream(frames, follow_camera)
            for index, (points, camera) in enumerate(tracked):
                if index < start_frame:
                    continue
                for (ready, ready_camera), filled, detected in filler.push((index, camera),
                                                                           points):
                    yield ready, filled, detected, ready_camera
                produced += 1
                if max_frames is not None and produced >= max_frames:
                    break
        finally:
            decode_stop.set()   # also when MediaPipe failed before the first read
        try:
            for (ready, ready_camera), filled, detected in filler.finish():
                yield ready, filled, detected, ready_camera
        except NoFaceFound:
            raise NoFaceFound(
                f"No face was found in any frame of {path.name}. Use a driver video where "
                f"a face is clearly visible and facing the camera.") from None

    yield from _prefetch(detections(), depth=8, stop=stop)


def neutral_head(stream: Iterator, motion: MotionSettings, fps: float
                 ) -> tuple[list, tuple | None]:
    """Read the first seconds of landmarks and pick the driver's neutral frame.

    Returns (the items read, to be replayed; the neutral frame's item (index, 478x3
    points, detected, camera), or None for "the first frame the animator sees")."""
    if motion.neutral == "first" and motion.neutral_frame is None:
        return [], None
    window = max(1, int(NEUTRAL_WINDOW_SECONDS * fps))
    if motion.neutral_frame is not None:
        window = max(window, motion.neutral_frame + 1)
    head = []
    for item in stream:
        head.append(item)
        if len(head) >= window:
            break
    if not head:
        return head, None
    if motion.neutral_frame is not None and motion.neutral_frame < len(head):
        choice = motion.neutral_frame
    else:
        points = np.stack([item[1] for item in head])
        detected = np.array([item[2] for item in head])
        choice = pick_neutral_frame(points, detected if detected.any() else None)
    log.info("driver neutral frame: %d", head[choice][0])
    return head, head[choice]


@dataclass
class DriverStart:
    """A driver opened and its first seconds being tracked (:func:`start_driver`)."""

    info: DriverInfo
    landmarks: Iterator          # the driver's landmark stream; ``head`` reads it first
    head: Future                 # neutral_head()'s result
    stop: threading.Event        # stops the decoding and tracking
    request: tuple               # (path, motion, max_frames, start_frame) it was started for

    def abandon(self) -> None:
        """Stop tracking and let go of the decoder (for a render that will not use it)."""
        self.stop.set()
        try:
            self.head.exception()     # the tracking thread leaves at its next frame
        finally:
            self.landmarks.close()


def start_driver(path: str | os.PathLike, motion: MotionSettings,
                 max_frames: int | None = None, start_frame: int = 0) -> DriverStart:
    """Open a driver and start tracking its first seconds on a thread of its own.

    The neutral frame can only be picked once the driver's first NEUTRAL_WINDOW_SECONDS
    are tracked, and no frame can be generated before that: the earlier it starts, the
    sooner the render does. Raises what open_driver_info raises; tracking errors come
    out of ``head``."""
    info = open_driver_info(path)
    stop = threading.Event()
    landmarks = iter_driver_landmarks(path, max_frames, start_frame, stop=stop,
                                      video=info.video,
                                      follow_camera=motion.camera != "fixed")
    head = in_background(neutral_head, landmarks, motion, info.fps, name="driver-head")
    return DriverStart(info, landmarks, head, stop,
                       (Path(path), motion, max_frames, start_frame))
