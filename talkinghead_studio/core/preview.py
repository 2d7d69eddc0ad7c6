"""The live preview without Qt: driver sources, a playback clock and a PreviewSession.

The desktop app's preview worker (qt/workers.py) drives these from its own thread;
tests and benchmarks drive them directly. Three kinds of driver give the same thing:

- ``VideoDriver``: random access to a video's frames (cv2.VideoCapture, cheap when read
  in order), with the driver's landmarks tracked in a background thread so that
  playback only decodes and generates.
- ``TrackDriver``: a saved motion track (.npz); its "frames" are drawn landmarks.
- ``WebcamDriver``: a camera (or, for tests, a video file standing in for one), read by
  a capture thread that keeps only the newest frame.

The session also keeps the extra views of the portrait's face (few-shot references,
core/references.py), aligned to the portrait and handed to its Animator.

Units: frames are ``HxWx3 uint8 RGB``; driver landmarks are ``478x3 float32`` in
driver-frame pixels (as core/landmarks.py); overlay points are ``478x2 float32`` in the
pixels of the display image they belong to.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np

from talkinghead_studio.config import MotionSettings, RenderSettings
from talkinghead_studio.core.animator import Animator
from talkinghead_studio.core.camera import (CameraTracker, FrameMover, moves_notably,
                                            travel)
from talkinghead_studio.core.crop import (CropBox, PasteBack, crop_image, face_crop_box,
                                          from_crop_units)
from talkinghead_studio.core.images import LoadedImage, load_portrait
from talkinghead_studio.core.landmarks import FaceMeshDetector
from talkinghead_studio.core.motion import NEUTRAL_WINDOW_SECONDS, pick_neutral_frame
from talkinghead_studio.core.portrait import PreparedPortrait, prepare_portrait
from talkinghead_studio.core.references import ReferenceView, align_reference
from talkinghead_studio.core.track import MotionTrack
from talkinghead_studio.core.video import probe_video
from talkinghead_studio.errors import NoCameraFound, NoFaceFound, StudioError, UnreadableVideo
from talkinghead_studio.inference.session import OnnxGenerator, open_generator

log = logging.getLogger(__name__)

# The preview pastes generated crops into a copy of the portrait at most this big, so a
# 4000 px photo costs the GUI no more than a 1024 px one; exports use full resolution.
DISPLAY_MAX_SIDE = 1024
DRIVER_DISPLAY_MAX_SIDE = 640
VIEW_THUMBNAIL_SIDE = 96   # extra views' list thumbnails, pixels
DriverKind = Literal["video", "track", "camera"]


# ----------------------------------------------------------------------------- helpers


def _thumbnail(rgb: np.ndarray, side: int = VIEW_THUMBNAIL_SIDE) -> np.ndarray:
    """A side x side x 3 uint8 RGB copy of a square picture (a list icon)."""
    interpolation = cv2.INTER_AREA if rgb.shape[0] > side else cv2.INTER_LINEAR
    return cv2.resize(rgb, (side, side), interpolation=interpolation)


def fit_scale(width: int, height: int, max_side: int) -> float:
    """Scale factor that brings the longer side down to ``max_side`` (never up)."""
    return min(1.0, max_side / max(width, height, 1))


def resize_rgb(rgb: np.ndarray, scale: float) -> np.ndarray:
    """HxWx3 uint8 RGB scaled by ``scale`` (returned as is when scale is 1)."""
    if scale >= 1.0:
        return np.ascontiguousarray(rgb)
    height, width = rgb.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def draw_landmark_frame(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A dark HxWx3 uint8 RGB picture of 478x3 landmarks (a motion track has no video)."""
    width, height = size
    canvas = np.full((height, width, 3), 32, np.uint8)
    radius = max(1, round(max(width, height) / 300))
    for x, y in points[:, :2].astype(int):
        cv2.circle(canvas, (int(x), int(y)), radius, (120, 220, 160), -1, cv2.LINE_AA)
    return canvas


# ----------------------------------------------------------------------------- cameras


@dataclass(frozen=True)
class CameraInfo:
    """A camera the user can pick. device: what cv2.VideoCapture opens (index or path)."""

    device: int | str
    name: str


def _linux_cameras(root: Path = Path("/sys/class/video4linux")) -> list[CameraInfo]:
    cameras = []
    nodes = sorted(root.glob("video*"), key=lambda p: int(p.name[5:] or 0)) \
        if root.is_dir() else []
    for node in nodes:
        # A USB camera exposes a capture node (index 0) and metadata nodes that give no
        # frames; listing those would offer the user "cameras" that never open.
        index_file = node / "index"
        if index_file.is_file() and index_file.read_text().strip() not in ("", "0"):
            continue
        name_file = node / "name"
        name = name_file.read_text().strip() if name_file.is_file() else node.name
        cameras.append(CameraInfo(int(node.name[5:]), f"{name} (/dev/{node.name})"))
    return cameras


def _probed_cameras(max_index: int = 4) -> list[CameraInfo]:
    """Where the OS gives no names through files, open indices 0..max_index-1."""
    cameras = []
    for index in range(max_index):
        capture = cv2.VideoCapture(index)
        try:
            if capture.isOpened():
                cameras.append(CameraInfo(index, f"Camera {index + 1}"))
        finally:
            capture.release()
    return cameras


def list_cameras() -> list[CameraInfo]:
    """Cameras on this machine, by name where the OS gives one. Empty when none."""
    if sys.platform.startswith("linux"):
        return _linux_cameras()
    return _probed_cameras()


# ----------------------------------------------------------------------------- drivers


@dataclass(frozen=True)
class DriverMeta:
    """What the GUI shows about a driver. frame_count is None for a live camera."""

    name: str
    kind: DriverKind
    path: Path | None
    fps: float
    frame_count: int | None
    frame_size: tuple[int, int]     # (width, height)
    has_audio: bool

    @property
    def is_live(self) -> bool:
        return self.frame_count is None


class DriverSource(Protocol):
    meta: DriverMeta

    def frame(self, index: int) -> np.ndarray | None: ...
    def landmarks(self, index: int, frame: np.ndarray, detector) -> np.ndarray | None: ...
    def camera(self, index: int) -> np.ndarray | None: ...   # 2x3 (core/camera.py) or None
    def auto_neutral(self) -> int | None: ...
    def close(self) -> None: ...


class LandmarkCache:
    """Per-frame driver landmarks, shared by the tracker thread and the preview thread.

    A frame is unknown, known with a face (478x3 float32 driver pixels) or known without.
    The first writer wins, so a frame never changes under the preview once shown.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._points: dict[int, np.ndarray | None] = {}
        self._cameras: dict[int, np.ndarray] = {}   # 2x3 camera motion (core/camera.py)
        self._prefix = 0   # frames 0.._prefix-1 are all known

    def get(self, index: int) -> tuple[bool, np.ndarray | None]:
        with self._lock:
            if index in self._points:
                return True, self._points[index]
            return False, None

    def put(self, index: int, points: np.ndarray | None) -> None:
        with self._lock:
            self._points.setdefault(index, points)
            while self._prefix in self._points:
                self._prefix += 1

    def put_camera(self, index: int, camera: np.ndarray) -> None:
        with self._lock:
            self._cameras.setdefault(index, camera)

    def camera(self, index: int) -> np.ndarray | None:
        """The frame's camera motion, once the background tracker has reached it."""
        with self._lock:
            return self._cameras.get(index)

    def known_prefix(self) -> int:
        with self._lock:
            return self._prefix

    def window(self, count: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(Tx478x3 points, (T,) detected) of frames 0..count-1, or None if any has no face
        data yet or none has a face."""
        with self._lock:
            items = [self._points.get(i) for i in range(count)]
        detected = np.array([p is not None for p in items])
        if not detected.any():
            return None
        fill = next(p for p in items if p is not None)
        return np.stack([fill if p is None else p for p in items]), detected


class VideoFrames:
    """Random access to a video's frames as HxWx3 uint8 RGB through cv2.VideoCapture.

    Reading in order costs one decode a frame; a short jump forward grabs (decodes
    without converting) the frames in between; anything else seeks.
    """

    MAX_GRAB = 30   # a jump longer than this seeks instead

    def __init__(self, path: Path) -> None:
        self.path = path
        self._capture = cv2.VideoCapture(str(path))
        if not self._capture.isOpened():
            raise UnreadableVideo(
                f"{path.name} could not be opened for preview. The file may be damaged; "
                f"re-export it and try again.")
        self.count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0)
        self._next = 0

    def read(self, index: int) -> np.ndarray | None:
        """Frame ``index`` (RGB), or None past the end or where the file is damaged."""
        if index < 0:
            return None
        if index != self._next:
            if self._next < index <= self._next + self.MAX_GRAB:
                while self._next < index and self._capture.grab():
                    self._next += 1
            if index != self._next:
                self._capture.set(cv2.CAP_PROP_POS_FRAMES, index)
                self._next = index
        ok, bgr = self._capture.read()
        if not ok or bgr is None:
            self._next = -1    # position unknown: the next read seeks
            return None
        self._next = index + 1
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)   # the one BGR->RGB conversion

    def close(self) -> None:
        self._capture.release()


class BackgroundTracker(threading.Thread):
    """Tracks a video's landmarks front to back into a LandmarkCache, ahead of playback.

    Uses its own decoder and its own detector (MediaPipe graphs are not thread-safe) in
    video mode, as the export does, so the preview sees the same motion as the export.
    It follows the camera too (core/camera.py; it can only be followed front to back),
    so that the camera modes "steady" and "follow" can be previewed.
    """

    def __init__(self, path: Path, cache: LandmarkCache, count: int) -> None:
        super().__init__(name="preview-tracker", daemon=True)
        self.path, self.cache, self.count = path, cache, count
        self.stop_event = threading.Event()
        self.done = 0
        self.camera_travel = 0.0  # px: the most the camera moved the frame's corners
        self.finished = False    # reached the real end (frame counts can be estimates)
        self.error: BaseException | None = None

    def run(self) -> None:
        frames = VideoFrames(self.path)
        last_points = None
        try:
            with FaceMeshDetector(mode="video") as detector, CameraTracker() as cameras:
                for index in range(self.count):
                    if self.stop_event.is_set():
                        return
                    frame = frames.read(index)
                    if frame is None:
                        break
                    found = detector.detect(frame)
                    points = None if found is None else found.points
                    self.cache.put(index, points)
                    last_points = points if points is not None else last_points
                    camera = cameras.update(frame, last_points)
                    self.cache.put_camera(index, camera)
                    size = (frame.shape[1], frame.shape[0])
                    self.camera_travel = max(self.camera_travel, travel(camera, size))
                    self.done = index + 1
                self.finished = True
        except Exception as exc:  # the preview still detects on demand; keep the reason
            self.error = exc
            log.warning("background tracking of %s stopped: %s", self.path.name, exc)
        finally:
            frames.close()

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        if self.is_alive():
            self.join(timeout)


def _neutral_window(fps: float, count: int) -> int:
    return max(1, min(count, int(NEUTRAL_WINDOW_SECONDS * fps)))


class VideoDriver:
    """A driver video with random-access frames and landmarks tracked in the background."""

    def __init__(self, path: str | os.PathLike, track_in_background: bool = True) -> None:
        path = Path(path)
        info = probe_video(path)    # ffmpeg's checks give the clearest errors
        self._frames = VideoFrames(path)
        first = self._frames.read(0)
        if first is None:
            self._frames.close()
            raise UnreadableVideo(
                f"{path.name} contains no decodable frames. The file may be damaged or "
                f"empty; re-export it and try again.")
        count = self._frames.count if self._frames.count > 0 else info.frame_count
        self.meta = DriverMeta(path.name, "video", path, info.fps, count,
                               (first.shape[1], first.shape[0]), info.has_audio)
        self.cache = LandmarkCache()
        self.tracker: BackgroundTracker | None = None
        if track_in_background:
            self.tracker = BackgroundTracker(path, self.cache, count)
            self.tracker.start()

    def frame(self, index: int) -> np.ndarray | None:
        return self._frames.read(index)

    def landmarks(self, index: int, frame: np.ndarray, detector) -> np.ndarray | None:
        known, points = self.cache.get(index)
        if known:
            return points
        found = detector.detect(frame)
        points = None if found is None else found.points
        self.cache.put(index, points)
        return points

    def camera(self, index: int) -> np.ndarray | None:
        return self.cache.camera(index)

    @property
    def camera_moves(self) -> bool:
        """The driver's camera moves notably (in what has been tracked so far)."""
        if self.tracker is None:
            return False
        return moves_notably(self.tracker.camera_travel, self.meta.frame_size)

    def auto_neutral(self) -> int | None:
        """The export's automatic neutral frame, once the first seconds are tracked."""
        window = _neutral_window(self.meta.fps, self.meta.frame_count)
        if self.tracker is not None and self.tracker.finished:
            window = max(1, min(window, self.tracker.done))   # the video was shorter
        if self.cache.known_prefix() < window:
            return None
        found = self.cache.window(window)
        return None if found is None else pick_neutral_frame(*found)

    @property
    def tracked_fraction(self) -> float:
        if self.tracker is None:
            return 0.0
        if self.tracker.finished:
            return 1.0
        return min(0.99, self.tracker.done / max(1, self.meta.frame_count))

    def close(self) -> None:
        if self.tracker is not None:
            self.tracker.stop()
        self._frames.close()


class TrackDriver:
    """A saved motion track (.npz) as a driver; its frames are pictures of its landmarks."""

    def __init__(self, path: str | os.PathLike) -> None:
        path = Path(path)
        self.track = MotionTrack.load(path)
        self.meta = DriverMeta(path.name, "track", path, self.track.fps, len(self.track),
                               tuple(self.track.frame_size), False)

    def frame(self, index: int) -> np.ndarray | None:
        if not 0 <= index < len(self.track):
            return None
        return draw_landmark_frame(self.track.points[index], self.meta.frame_size)

    def landmarks(self, index: int, frame: np.ndarray, detector) -> np.ndarray | None:
        return self.track.points[index]

    def camera(self, index: int) -> np.ndarray | None:
        if self.track.camera is None or not 0 <= index < len(self.track):
            return None   # recorded before tracks kept the camera
        return self.track.camera[index]

    @property
    def camera_moves(self) -> bool:
        if self.track.camera is None:
            return False
        size = tuple(self.meta.frame_size)
        return moves_notably(max(travel(c, size) for c in self.track.camera), size)

    def auto_neutral(self) -> int | None:
        window = _neutral_window(self.track.fps, len(self.track))
        detected = self.track.detected[:window]
        return pick_neutral_frame(self.track.points[:window], detected if detected.any() else None)

    def close(self) -> None:
        pass


class WebcamDriver:
    """A live camera. A capture thread keeps only the newest frame (a queue of one), so
    the preview always animates the present moment, never a backlog.

    ``device`` is what cv2.VideoCapture opens: a camera index, or a video file path that
    stands in for a camera (played at its own fps, looping) in tests and demos.
    """

    def __init__(self, camera: CameraInfo | int | str, first_frame_timeout: float = 5.0):
        if not isinstance(camera, CameraInfo):
            camera = CameraInfo(camera, str(camera))
        self.camera = camera
        self._is_file = isinstance(camera.device, str)
        self._capture = cv2.VideoCapture(camera.device)
        if not self._capture.isOpened():
            raise NoCameraFound(
                f"The camera '{camera.name}' could not be opened. Check that it is "
                f"connected and not in use by another app, then choose it again.")
        fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0)
        self._fps = fps if 1 <= fps <= 240 else 30.0
        self._cond = threading.Condition()
        self._latest: np.ndarray | None = None
        self._seq = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._capture_loop, name="webcam-capture",
                                        daemon=True)
        self._thread.start()
        got = self.latest(0, first_frame_timeout)
        if got is None:
            self.close()
            raise NoCameraFound(
                f"The camera '{camera.name}' opened but sent no picture within "
                f"{first_frame_timeout:.0f} s. Close other apps that use it and try again.")
        height, width = got[1].shape[:2]
        self.meta = DriverMeta(camera.name, "camera", None, self._fps, None,
                               (width, height), False)

    def _read_one(self) -> np.ndarray | None:
        ok, bgr = self._capture.read()
        if not ok and self._is_file:       # a stand-in file loops like a camera would
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self._capture.read()
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if ok and bgr is not None else None

    def _capture_loop(self) -> None:
        period = 1.0 / self._fps
        next_due = time.perf_counter()
        while not self._stop.is_set():
            frame = self._read_one()
            if frame is None:
                self._stop.wait(0.05)   # a camera hiccup: try again shortly
                continue
            with self._cond:
                self._latest, self._seq = frame, self._seq + 1
                self._cond.notify_all()
            if self._is_file:   # a real camera's read() already waits for the next frame
                next_due += period
                self._stop.wait(max(0.0, next_due - time.perf_counter()))

    def latest(self, after_seq: int, timeout: float) -> tuple[int, np.ndarray] | None:
        """(sequence number, frame) of a frame newer than ``after_seq``, or None on timeout."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > after_seq or self._stop.is_set(),
                                timeout)
            if self._seq > after_seq and self._latest is not None:
                return self._seq, self._latest
            return None

    def frame(self, index: int) -> np.ndarray | None:
        got = self.latest(0, 1.0)
        return None if got is None else got[1]

    def landmarks(self, index: int, frame: np.ndarray, detector) -> np.ndarray | None:
        found = detector.detect(frame)
        return None if found is None else found.points

    def camera(self, index: int) -> np.ndarray | None:
        return None   # a live camera is not followed: the streamer's webcam stands still

    def auto_neutral(self) -> int | None:
        return None   # live: the first frame with a face, or the user's "use as neutral"

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=5)
        self._capture.release()


def open_driver(path: str | os.PathLike, track_in_background: bool = True) -> DriverSource:
    """A VideoDriver or TrackDriver for a file. Raises StudioError subclasses with advice."""
    path = Path(path)
    if not path.exists():
        raise UnreadableVideo(f"Driver not found: {path}. Check the path and try again.")
    if path.suffix.lower() == ".npz":
        return TrackDriver(path)
    return VideoDriver(path, track_in_background=track_in_background)


# ------------------------------------------------------------------------ playback clock


class PlaybackClock:
    """Which driver frame to show next, in real time at the driver's fps.

    When the preview renders slower than the driver's fps, frames are skipped so that
    playback keeps real time (like a video player); ``realtime=False`` shows every frame
    as fast as possible (benchmarks).
    """

    def __init__(self, fps: float, count: int, loop: bool = True, realtime: bool = True):
        self.fps, self.count, self.loop, self.realtime = fps, count, loop, realtime
        self._origin_index = 0
        self._origin_time = 0.0

    def start(self, index: int, now: float) -> None:
        self._origin_index, self._origin_time = index, now

    def due(self, index: int) -> float:
        """Wall-clock time (perf_counter) at which frame ``index`` should show."""
        if not self.realtime:
            return 0.0
        return self._origin_time + (index - self._origin_index) / self.fps

    def next_index(self, shown: int, now: float) -> int | None:
        """The frame after ``shown``; None at the end when not looping."""
        wanted = shown + 1
        if self.realtime:
            on_time = self._origin_index + int((now - self._origin_time) * self.fps)
            wanted = max(wanted, on_time)
        if wanted >= self.count:
            if not self.loop:
                return None
            self.start(0, now)
            return 0
        return wanted


# ------------------------------------------------------------------------------ session


@dataclass(frozen=True)
class PortraitView:
    """A portrait as the GUI shows it.

    image: HxWx3 uint8 RGB at display size (at most DISPLAY_MAX_SIDE).
    scale: display pixels per portrait pixel. points: 478x2 float32 display pixels of the
    detected face, None when no face was found (then ``problem`` says why).
    face_box: (x0, y0, x1, y1) display pixels of the landmarks' bounding box.
    """

    path: Path
    image: np.ndarray
    scale: float
    points: np.ndarray | None
    face_box: tuple[float, float, float, float] | None
    notes: tuple[str, ...]
    prepared: PreparedPortrait | None
    problem: StudioError | None = None


@dataclass(frozen=True)
class PreviewFrame:
    """One preview step.

    index: driver frame index (None for a camera). driver: display-size RGB driver frame.
    driver_points / result_points: 478x2 float32 overlay points in their image's pixels.
    result: display-size RGB animated portrait, None while no portrait or generator.
    face_found: False when the driver frame had no face (the last pose is held).
    seconds: time spent producing this frame.
    crop / crop_points: the generated RxRx3 uint8 face crop and its 478x2 target points
    in crop pixels (the GUI's face close-up, see :meth:`face_close_up`); crop is None
    when the frame was finished straight into the portrait (no crop was made), and both
    are None while nothing is generated. crop_box / crop_size: the crop's square in
    display pixels and its side R in crop pixels, while something is generated.
    driver_face_box: (x0, y0, x1, y1) display pixels of the driver's face close-up: the
    square the portrait's crop rule gives for the driver's neutral pose (else its first
    face), held still so the head moves inside it as the generated head moves inside
    its crop. None until the driver shows a face.
    view_weights: (1+V,) float, how much the portrait (index 0) and each extra view made
    up the generated face; None without extra views or while nothing is generated.
    """

    index: int | None
    driver: np.ndarray
    driver_points: np.ndarray | None
    result: np.ndarray | None
    result_points: np.ndarray | None
    face_found: bool
    seconds: float
    crop: np.ndarray | None = None
    crop_points: np.ndarray | None = None
    driver_face_box: tuple[float, float, float, float] | None = None
    view_weights: np.ndarray | None = None
    crop_box: CropBox | None = None
    crop_size: int | None = None

    def face_close_up(self) -> np.ndarray | None:
        """The face close-up, RxRx3 uint8: the generated crop, or, for a frame finished
        straight into the portrait (no crop was made), the crop's square of ``result``
        resampled as the crop would be. None while nothing is generated."""
        if self.crop is not None:
            return self.crop
        if self.result is None or self.crop_box is None or self.crop_size is None:
            return None
        return crop_image(self.result, self.crop_box, self.crop_size)


@dataclass(frozen=True, eq=False)   # holds an array: compare by identity
class ExtraView:
    """An extra view of the portrait's face, as the GUI lists it.

    thumbnail: TxTx3 uint8 RGB of the view aligned and colour-matched to the portrait's
    crop, i.e. what the generator really uses (T = VIEW_THUMBNAIL_SIDE).
    """

    path: Path
    name: str
    thumbnail: np.ndarray


def _portrait_view(path: Path, loaded: LoadedImage, prepared: PreparedPortrait | None,
                   problem: StudioError | None) -> PortraitView:
    height, width = loaded.rgb.shape[:2]
    scale = fit_scale(width, height, DISPLAY_MAX_SIDE)
    image = resize_rgb(loaded.rgb, scale)
    points = box = None
    notes = loaded.notes
    if prepared is not None:
        points = (prepared.points[:, :2] * scale).astype(np.float32)
        (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
        box = (float(x0), float(y0), float(x1), float(y1))
        notes = prepared.notes
    return PortraitView(path, image, scale, points, box, notes, prepared, problem)


class PreviewSession:
    """Portrait + generator + driver + motion settings -> preview frames.

    Not thread-safe: one thread (the preview worker) owns it. Slow steps (generator,
    portrait preparation, opening a driver) happen in the calls that need them.
    """

    def __init__(self, motion: MotionSettings = MotionSettings()) -> None:
        self.motion = motion
        self.render_settings = RenderSettings()
        self.generator: OnnxGenerator | None = None
        self.loaded: LoadedImage | None = None
        self.view: PortraitView | None = None
        self.driver: DriverSource | None = None
        self._detector: FaceMeshDetector | None = None
        self._animator: Animator | None = None
        self._paste: PasteBack | None = None
        self._display_box: CropBox | None = None
        self._reference: np.ndarray | None = None   # driver neutral, 478x3 driver px
        self._reference_index: int | None = None    # its frame (None: a live frame)
        self._reference_is_auto_guess = False
        self._last_points: np.ndarray | None = None
        self._zoom_points: np.ndarray | None = None  # frames the driver close-up, driver px
        self._views: list[tuple[ExtraView, ReferenceView]] = []   # in list order
        self._views_of: Path | None = None           # the portrait they were aligned to

    # ------------------------------------------------------------------ configuration
    def load_generator(self, render: RenderSettings) -> OnnxGenerator:
        """Open the generator for ``render`` (reused when provider and model are unchanged)."""
        same = (self.generator is not None
                and render.provider == self.render_settings.provider
                and render.model_path == self.render_settings.model_path)
        if not same:
            self.generator = None
            self._animator = None
            self.generator = open_generator(render.model_path, render.provider)
        self.render_settings = render
        return self.generator

    def load_portrait(self, path: str | os.PathLike) -> PortraitView:
        """Load and prepare a portrait. A missing face is reported in ``view.problem``
        (the picture is still shown); unreadable files raise."""
        path = Path(path)
        loaded = load_portrait(path, max_side=self.render_settings.max_side)
        self.loaded = loaded
        return self._prepare(path)

    def set_size(self, size: int) -> PortraitView | None:
        """Change the working resolution; re-prepares the portrait at that size."""
        if self.generator is not None and not self.generator.info.supports(size):
            raise StudioError(
                f"The generator {self.generator.path.name} does not support {size} px; "
                f"choose one of {', '.join(map(str, self.generator.info.resolutions))}.")
        self.render_settings = replace(self.render_settings, size=size)
        if self.loaded is None or self.view is None:
            return None
        return self._prepare(self.view.path)

    def set_rigid_glasses(self, rigid: bool) -> PortraitView | None:
        """Keep glasses frames rigid with the head (core/glasses.py), or warp them with
        the face; re-prepares the portrait."""
        self.render_settings = replace(self.render_settings, rigid_glasses=bool(rigid))
        if self.loaded is None or self.view is None:
            return None
        return self._prepare(self.view.path)

    def _prepare(self, path: Path) -> PortraitView:
        with_matte = self.generator is None or bool(self.generator.optional_inputs)
        self._animator = None
        try:
            prepared = prepare_portrait(
                self.loaded, self.render_settings.size, with_matte,
                rigid_glasses=self.render_settings.rigid_glasses)
            problem = None
        except NoFaceFound as exc:
            prepared, problem = None, exc
        self.view = _portrait_view(path, self.loaded, prepared, problem)
        self._realign_views(path, prepared)
        return self.view

    # -------------------------------------------------------------------- extra views
    @property
    def extra_views(self) -> tuple[ExtraView, ...]:
        """The extra views in use, in the order they were added."""
        return tuple(listed for listed, _ in self._views)

    @property
    def animator(self) -> Animator | None:
        """The Animator of the current portrait (None until a frame needs one)."""
        return self._animator

    def add_extra_view(self, path: str | os.PathLike) -> tuple[ExtraView, ...]:
        """Align another picture of the portrait's face and use it from the next frame.

        Runs MediaPipe (call it off the GUI thread). Raises NoFaceFound when the picture
        has no face, and leaves the views as they were. Adding a listed file again is a
        no-op.
        """
        path = Path(path)
        view = self.view
        if view is None or view.prepared is None:
            raise StudioError("Open a portrait with a face first: extra views are other "
                              "pictures of that face.")
        if any(listed.path == path for listed, _ in self._views):
            return self.extra_views
        self._views.append(self._align_view(path, view.prepared, None))
        self._views_of = view.path
        self._use_views()
        return self.extra_views

    def remove_extra_view(self, path: str | os.PathLike) -> tuple[ExtraView, ...]:
        path = Path(path)
        self._views = [item for item in self._views if item[0].path != path]
        self._use_views()
        return self.extra_views

    def _align_view(self, path: Path, prepared: PreparedPortrait,
                    detector: FaceMeshDetector | None) -> tuple[ExtraView, ReferenceView]:
        loaded = load_portrait(path, max_side=self.render_settings.max_side)
        try:
            aligned = align_reference(loaded, prepared, path.name, detector)
        except NoFaceFound:
            raise NoFaceFound(
                f"No face was found in {path.name}, so it was not added as an extra view. "
                f"Use another picture of the same face, where the face is clearly "
                f"visible.") from None
        return ExtraView(path, path.name, _thumbnail(aligned.crop)), aligned

    def _realign_views(self, path: Path, prepared: PreparedPortrait | None) -> None:
        """A new portrait drops the views (they show another face); the same portrait at
        another size gets them aligned again to its new crop."""
        if not self._views:
            return
        if prepared is None or path != self._views_of:
            self._views = []
            return
        kept = []
        with FaceMeshDetector(mode="image") as detector:
            for listed, _ in self._views:
                try:
                    kept.append(self._align_view(listed.path, prepared, detector))
                except StudioError as exc:   # the file changed or went away meanwhile
                    log.warning("extra view %s dropped: %s", listed.name, exc)
        self._views = kept

    def _use_views(self) -> None:
        if self._animator is not None:
            self._animator.set_references([view for _, view in self._views])

    def set_driver(self, driver: DriverSource | None) -> None:
        """Use a new driver (closes the previous one); the reference pose starts over."""
        if self.driver is not None:
            self.driver.close()
        self.driver = driver
        self._reference = None
        self._reference_is_auto_guess = False
        self._last_points = None
        self._zoom_points = None
        self.motion = replace(self.motion, neutral_frame=None)
        if self._animator is not None:
            self._animator = None

    def set_motion(self, motion: MotionSettings) -> None:
        neutral_changed = motion.neutral_frame != self.motion.neutral_frame
        self.motion = motion
        if self._animator is not None:
            self._animator.update_motion(motion)
        if neutral_changed:
            self._reference = None

    def use_as_neutral(self, index: int | None, points: np.ndarray | None = None) -> None:
        """Make a driver frame the neutral pose (video: by index; camera: these points)."""
        if points is None and index is not None and self.driver is not None:
            frame = self.driver.frame(index)
            points = None if frame is None else self.driver.landmarks(index, frame,
                                                                      self._detect())
        if points is None:
            raise NoFaceFound("There is no face in this driver frame, so it cannot be the "
                              "neutral pose. Step to a frame where the face is visible.")
        self.motion = replace(self.motion, neutral_frame=index)
        self._set_reference(points, auto_guess=False, index=index)

    @property
    def last_points(self) -> np.ndarray | None:
        """The driver landmarks (478x3 driver px) of the last frame rendered."""
        return self._last_points

    def reset_stream(self) -> None:
        """Forget temporal smoothing (after a seek), keeping the reference pose."""
        if self._animator is not None:
            self._animator.reset_stream()

    # ------------------------------------------------------------------------ frames
    def _detect(self) -> FaceMeshDetector:
        if self._detector is None:
            self._detector = FaceMeshDetector(mode="video")
        return self._detector

    def _ensure_animator(self) -> Animator | None:
        if self._animator is not None:
            return self._animator
        view = self.view
        if self.generator is None or view is None or view.prepared is None:
            return None
        prepared = view.prepared
        fps = self.driver.meta.fps if self.driver is not None else 25.0
        self._animator = Animator(prepared, self.generator, self.motion, fps=fps,
                                  references=[view for _, view in self._views])
        box = prepared.box
        self._display_box = CropBox(box.cx * view.scale, box.cy * view.scale,
                                    box.side * view.scale)
        self._paste = PasteBack(view.image, self._display_box, prepared.size)
        self._mover = FrameMover(view.image)
        if self._reference is not None:
            self._animator.set_driver_reference(self._reference, self._reference_camera())
        return self._animator

    def _reference_camera(self) -> np.ndarray | None:
        if self.driver is None or self._reference_index is None:
            return None
        return self.driver.camera(self._reference_index)

    def _set_reference(self, points: np.ndarray, auto_guess: bool,
                       index: int | None = None) -> None:
        self._reference = points
        self._reference_index = index
        self._reference_is_auto_guess = auto_guess
        if not auto_guess:
            self._zoom_points = points     # the close-up frames the neutral pose
        if self._animator is not None:
            self._animator.set_driver_reference(points, self._reference_camera())

    @property
    def reference_pending(self) -> bool:
        """True while the neutral pose is a stand-in waiting for the automatic choice."""
        return self.driver is not None and (self._reference is None
                                            or self._reference_is_auto_guess)

    def resolve_reference(self) -> bool:
        """Set the neutral pose from the user's frame, or from the export's automatic
        choice once the first seconds are tracked. True when the reference changed."""
        if not self.reference_pending:
            return False
        driver = self.driver
        wanted = self.motion.neutral_frame
        if wanted is None:
            wanted = driver.auto_neutral()
        if wanted is None:
            return False
        frame = driver.frame(wanted)
        points = None if frame is None else driver.landmarks(wanted, frame, self._detect())
        if points is None:
            return False
        self._set_reference(points, auto_guess=False, index=wanted)
        return True

    def _update_reference(self, current: np.ndarray, index: int | None) -> None:
        """Until the real neutral pose is known, the current frame stands in for it."""
        if not self.resolve_reference() and self._reference is None:
            # A camera has no "first seconds" to choose from: its first face is the
            # neutral pose until the user picks another ("use as neutral").
            self._set_reference(current, auto_guess=not self.driver.meta.is_live,
                                index=index)

    def _camera_motion(self, animator: Animator, index: int | None) -> np.ndarray | None:
        """This frame's camera motion when it is used and the tracker has reached it.
        The neutral frame's camera may become known after the neutral pose itself."""
        if self.motion.camera == "fixed" or index is None or self.driver is None:
            return None
        if animator.reference_camera is None and self._reference is not None:
            reference_camera = self._reference_camera()
            if reference_camera is not None:
                animator.set_driver_reference(self._reference, reference_camera)
        return self.driver.camera(index)

    def render(self, index: int | None, frame: np.ndarray | None = None) -> PreviewFrame | None:
        """Preview of driver frame ``index`` (or the given live ``frame``); None past the end."""
        started = time.perf_counter()
        driver = self.driver
        if driver is None:
            return None
        if frame is None:
            frame = driver.frame(index)
            if frame is None:
                return None
        points = driver.landmarks(index if index is not None else -1, frame, self._detect())
        face_found = points is not None
        if points is None:
            points = self._last_points        # hold the last pose through a lost face
        self._last_points = points
        return self._compose(index, frame, points, face_found, started)

    def _compose(self, index, frame, points, face_found, started) -> PreviewFrame:
        scale = fit_scale(frame.shape[1], frame.shape[0], DRIVER_DISPLAY_MAX_SIDE)
        driver_rgb = resize_rgb(frame, scale)
        driver_points = None if points is None else (points[:, :2] * scale).astype(np.float32)
        result = result_points = crop = crop_points = weights = None
        animator = self._ensure_animator()
        if animator is not None and points is not None:
            self._update_reference(points, index)
            camera = self._camera_motion(animator, index)
            target = animator.target_landmarks(points, camera)
            motion = animator.frame_motion(camera)
            # As the render does: finished straight into the portrait where the face's
            # box is no larger than the crop (and no extra views), so the preview is as
            # sharp as the export. Only for a portrait shown at its own size (the
            # face close-up is then cut from the frame: a downscaled one would show less
            # than the crop has), and not when following the driver's camera (the
            # close-up shows the crop, not the moved frame). Decided per session, never
            # per frame: the face's sharpness would pop.
            if (animator.composes_in_portrait and self.view.scale == 1.0
                    and animator.motion.camera != "follow"):
                result = animator.frame_with(target, None)[0]
            else:
                crop, _ = animator.generate(target)
                result = self._paste.paste(crop)
            result_points = from_crop_units(target, self._display_box)[:, :2]
            if motion is not None:   # portrait px -> display px
                on_display = motion.copy()
                on_display[:, 2] *= self.view.scale
                result = self._mover.move(result, on_display)
                result_points = result_points @ on_display[:, :2].T + on_display[:, 2]
            crop_points = target[:, :2] * animator.portrait.size
            if animator.references:
                weights = np.array(animator.last_view_weights, np.float64)
        elif self.view is not None:
            result = self.view.image
        if self._zoom_points is None and points is not None:
            self._zoom_points = points
        return PreviewFrame(index, driver_rgb, driver_points, result, result_points,
                            face_found, time.perf_counter() - started, crop, crop_points,
                            self._driver_face_box(scale), weights,
                            *((self._display_box, animator.portrait.size)
                              if crop_points is not None else (None, None)))

    def _driver_face_box(self, scale: float) -> tuple[float, float, float, float] | None:
        """The driver close-up in display pixels, by the portrait's crop rule."""
        if self._zoom_points is None:
            return None
        box = face_crop_box(self._zoom_points[:, :2] * scale)
        return (box.x0, box.y0, box.x0 + box.side, box.y0 + box.side)

    def close(self) -> None:
        self.set_driver(None)
        if self._detector is not None:
            self._detector.close()
            self._detector = None
