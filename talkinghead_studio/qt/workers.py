"""Workers: everything slow runs here, off the GUI thread, and reports by typed signals.

- TaskWorker: one function call (listing cameras) -> finished / failed.
- ExportWorker: core.pipeline.render -> progress / finished / cancelled / failed.
- PreviewWorker: a long-lived loop that owns a core.preview.PreviewSession and plays
  the driver, sending frame_ready. The GUI calls its methods, which only post commands
  to a queue; the loop applies them between frames.

Frames in flight to the GUI are bounded (two): the worker waits for the GUI to say
it showed a frame before it renders another, so a slow paint never builds a backlog.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal

from talkinghead_studio.config import MotionSettings, RenderSettings
from talkinghead_studio.core import pipeline
from talkinghead_studio.core.pipeline import RenderJob, RenderProgress
from talkinghead_studio.core.preview import (
    CameraInfo,
    PlaybackClock,
    PreviewSession,
    TrackDriver,
    VideoDriver,
    WebcamDriver,
    open_driver,
)
from talkinghead_studio.errors import RenderCancelled, StudioError
from talkinghead_studio.qt.signals import emit

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.1     # export progress reaches the GUI at most ten times a second
STATS_INTERVAL_S = 0.5
MAX_FRAMES_IN_FLIGHT = 2


def error_details(exc: BaseException) -> str:
    """Traceback text for unexpected errors; '' for StudioErrors (their message is all)."""
    if isinstance(exc, StudioError):
        return ""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


class ThreadedWorker(QObject):
    """A QObject whose work() runs in its own QThread. Signals reach GUI-thread slots
    queued, so slots never run in the worker thread."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self._thread = QThread()
        self._thread.setObjectName(name)
        self.moveToThread(self._thread)
        self._thread.started.connect(self._run)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            self.work()
        finally:
            self._thread.quit()

    def work(self) -> None:
        raise NotImplementedError

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def wait(self, timeout_ms: int = 10_000) -> bool:
        """Block until the thread has ended (True) or the timeout passed (False)."""
        return self._thread.wait(timeout_ms)


class TaskWorker(ThreadedWorker):
    """Runs ``function(*args)`` once."""

    finished = Signal(object)
    failed = Signal(object, str)

    def __init__(self, name: str, function: Callable[..., Any], *args) -> None:
        super().__init__(name)
        self._function, self._args = function, args

    def work(self) -> None:
        try:
            result = self._function(*self._args)
        except Exception as exc:  # reported to the user by the GUI, with details if a bug
            emit(self.failed, exc, error_details(exc))
        else:
            emit(self.finished, result)


class ExportWorker(ThreadedWorker):
    """Renders one RenderJob with core.pipeline.render; cancel() stops it with no file left."""

    progress = Signal(object)      # RenderProgress
    finished = Signal(object)      # RenderResult
    cancelled = Signal()
    failed = Signal(object, str)

    def __init__(self, job: RenderJob, generator=None, portrait=None,
                 render: Callable = pipeline.render) -> None:
        super().__init__("export")
        self.job, self._generator, self._portrait = job, generator, portrait
        self._render = render
        self._cancel = threading.Event()
        self._last_progress = 0.0

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def _on_progress(self, update: RenderProgress) -> None:
        # Called from the render's own threads; throttled so the GUI is not flooded.
        now = time.perf_counter()
        if update.done < update.total and now - self._last_progress < PROGRESS_INTERVAL_S:
            return
        self._last_progress = now
        emit(self.progress, update)

    def work(self) -> None:
        try:
            result = self._render(self.job, progress=self._on_progress, cancel=self._cancel,
                                  generator=self._generator, portrait=self._portrait)
        except RenderCancelled:
            emit(self.cancelled)
        except Exception as exc:  # reported to the user by the GUI
            if self._cancel.is_set():
                emit(self.cancelled)   # an error caused by stopping is not news
            else:
                emit(self.failed, exc, error_details(exc))
        else:
            emit(self.finished, result)


@dataclass(frozen=True)
class _Command:
    name: str
    value: Any = None


class PreviewWorker(ThreadedWorker):
    """Plays the driver through a PreviewSession in its own thread.

    ``realtime=False`` renders every frame as fast as it can (benchmarks); otherwise
    playback keeps the driver's pace and skips frames when rendering is slower.
    """

    generator_ready = Signal(object)    # OnnxGenerator
    portrait_ready = Signal(object)     # PortraitView
    views_changed = Signal(object)      # tuple[ExtraView, ...]: the extra views in use
    driver_ready = Signal(object)       # DriverMeta, or None when the driver was closed
    frame_ready = Signal(object)        # PreviewFrame
    playing_changed = Signal(bool)
    neutral_changed = Signal(object)    # driver frame index, -1 for a live frame, None = auto
    fps_measured = Signal(float)
    tracking_progress = Signal(float)   # fraction of the driver video tracked
    camera_moves = Signal(bool)         # the driver's camera moves (once it is known)
    busy = Signal(str)                  # what the worker is doing; "" when done
    failed = Signal(object, str)

    def __init__(self, realtime: bool = True) -> None:
        super().__init__("preview")
        self.realtime = realtime
        self._commands: queue.Queue[_Command] = queue.Queue()
        self._slots = threading.BoundedSemaphore(MAX_FRAMES_IN_FLIGHT)
        # Worker-thread state from here on.
        self._session: PreviewSession | None = None
        self._index = 0
        self._playing = False
        self._dirty = False
        self._clock: PlaybackClock | None = None
        self._live_seq = 0
        self._last_live_points = None
        self._shown_times: list[float] = []
        self._last_stats = 0.0
        self._last_tracking = -1.0
        self._frames_sent = 0

    # ------------------------------------------------------------- GUI-thread API
    def _post(self, name: str, value: Any = None) -> None:
        self._commands.put(_Command(name, value))

    def load_generator(self, render: RenderSettings) -> None:
        self._post("generator", render)

    def load_portrait(self, path) -> None:
        self._post("portrait", path)

    def open_driver(self, path) -> None:
        self._post("driver", path)

    def add_extra_view(self, path) -> None:
        """Align another picture of the portrait's face (views_changed, or failed)."""
        self._post("add_view", path)

    def remove_extra_view(self, path) -> None:
        self._post("remove_view", path)

    def open_camera(self, camera: CameraInfo) -> None:
        self._post("camera", camera)

    def close_driver(self) -> None:
        self._post("close_driver")

    def set_motion(self, motion: MotionSettings) -> None:
        self._post("motion", motion)

    def set_size(self, size: int) -> None:
        self._post("size", size)

    def set_rigid_glasses(self, rigid: bool) -> None:
        self._post("glasses", rigid)

    def use_as_neutral(self) -> None:
        self._post("neutral")

    def play(self) -> None:
        self._post("play", True)

    def pause(self) -> None:
        self._post("play", False)

    def toggle_play(self) -> None:
        self._post("toggle")

    def seek(self, index: int) -> None:
        self._post("seek", index)

    def step(self, delta: int) -> None:
        self._post("step", delta)

    def frame_shown(self) -> None:
        """The GUI showed a frame: one more may be sent."""
        try:
            self._slots.release()
        except ValueError:
            pass   # a frame sent before a reset; the count is already full

    @property
    def session(self) -> PreviewSession | None:
        """The session the worker thread owns: for tests and benchmarks to read."""
        return self._session

    @property
    def neutral_pending(self) -> bool:
        """True while the shown frames use a stand-in neutral pose (the automatic one is
        chosen once the driver's first seconds are tracked). Read-only, any thread."""
        session = self._session
        return session is not None and session.reference_pending

    def stop(self, timeout_ms: int = 10_000) -> bool:
        self._post("quit")
        return self.wait(timeout_ms)

    # -------------------------------------------------------------------- the loop
    def work(self) -> None:
        self._session = PreviewSession()
        try:
            while True:
                commands = self._take_commands(self._wait_time())
                if not self._apply_all(commands):
                    return
                try:
                    self._step()
                except Exception as exc:  # a frame failed: say so, stop playing, go on
                    self._dirty = False
                    self._report(exc)
        finally:
            self._session.close()

    def _driver(self):
        return self._session.driver

    def _is_live(self) -> bool:
        driver = self._driver()
        return driver is not None and driver.meta.is_live

    def _wait_time(self) -> float | None:
        """How long to wait for a command before the next frame is due (None: forever)."""
        if self._driver() is None:
            return None
        if not (self._dirty or self._playing):
            # Paused, but the background tracker is still running or the frame shown
            # uses a stand-in neutral pose: look again soon to report progress and
            # re-render once the automatic neutral frame is known.
            if self._last_tracking < 1.0 and isinstance(self._driver(), VideoDriver):
                return 0.25
            return 0.1 if self._session.reference_pending and self._frames_sent else None
        if self._dirty or self._is_live():
            return 0.0
        return max(0.0, self._clock.due(self._index) - time.perf_counter())

    def _take_commands(self, timeout: float | None) -> list[_Command]:
        commands = []
        try:
            if timeout is None:
                commands.append(self._commands.get())
            elif timeout > 0:
                commands.append(self._commands.get(timeout=timeout))
        except queue.Empty:
            pass
        while True:
            try:
                commands.append(self._commands.get_nowait())
            except queue.Empty:
                return commands

    def _apply_all(self, commands: list[_Command]) -> bool:
        """Apply commands in order; False when told to quit. A failing command is
        reported and the rest still run."""
        for command in commands:
            if command.name == "quit":
                return False
            try:
                getattr(self, f"_do_{command.name}")(command.value)
            except Exception as exc:  # reported to the user through failed
                self._report(exc)
        return True

    def _report(self, exc: BaseException) -> None:
        if self._playing:
            self._set_playing(False)
        emit(self.busy, "")
        emit(self.failed, exc, error_details(exc))

    # ------------------------------------------------------------------- commands
    def _do_generator(self, render: RenderSettings) -> None:
        emit(self.busy, "Loading the generator…")
        generator = self._session.load_generator(render)
        emit(self.generator_ready, generator)
        view = self._session.view
        if view is not None and view.prepared is not None:
            wants_matte = bool(generator.optional_inputs)
            if wants_matte != (view.prepared.matte is not None):
                emit(self.portrait_ready, self._session.set_size(render.size))
        self._dirty = True
        emit(self.busy, "")

    def _do_portrait(self, path) -> None:
        emit(self.busy, "Finding the face in the portrait…")
        had_views = bool(self._session.extra_views)
        view = self._session.load_portrait(path)
        emit(self.portrait_ready, view)
        emit(self.busy, "")
        if had_views:      # a new portrait drops the old face's views
            emit(self.views_changed, self._session.extra_views)
        self._dirty = True
        if view.problem is not None:
            emit(self.failed, view.problem, "")

    def _do_size(self, size: int) -> None:
        emit(self.busy, f"Preparing the portrait at {size} px…")
        view = self._session.set_size(size)
        if view is not None:
            emit(self.portrait_ready, view)
            if self._session.extra_views:    # aligned again to the new crop
                emit(self.views_changed, self._session.extra_views)
        self._dirty = True
        emit(self.busy, "")

    def _do_glasses(self, rigid: bool) -> None:
        emit(self.busy, "Preparing the portrait…")
        view = self._session.set_rigid_glasses(rigid)
        if view is not None:
            emit(self.portrait_ready, view)
        self._dirty = True
        emit(self.busy, "")

    def _do_add_view(self, path) -> None:
        emit(self.busy, f"Finding the face in {Path(path).name}…")
        views = self._session.add_extra_view(path)
        emit(self.views_changed, views)
        self._dirty = not self._is_live()
        emit(self.busy, "")

    def _do_remove_view(self, path) -> None:
        emit(self.views_changed, self._session.remove_extra_view(path))
        self._dirty = not self._is_live()

    def _do_driver(self, path) -> None:
        emit(self.busy, "Opening the driver…")
        self._use_driver(open_driver(path))

    def _do_camera(self, camera: CameraInfo) -> None:
        emit(self.busy, f"Starting {camera.name}…")
        self._use_driver(WebcamDriver(camera))
        self._set_playing(True)

    def _do_close_driver(self, _=None) -> None:
        self._set_playing(False)
        self._session.set_driver(None)
        emit(self.driver_ready, None)

    def _use_driver(self, driver) -> None:
        self._set_playing(False)
        self._session.set_driver(None)     # close the old one before the new one runs
        self._session.set_driver(driver)
        meta = driver.meta
        self._clock = None if meta.is_live else PlaybackClock(
            meta.fps, meta.frame_count, loop=True, realtime=self.realtime)
        self._index, self._live_seq, self._dirty = 0, 0, not meta.is_live
        self._last_tracking = -1.0
        self._frames_sent = 0
        emit(self.driver_ready, meta)
        emit(self.neutral_changed, None)
        emit(self.busy, "")

    def _do_motion(self, motion: MotionSettings) -> None:
        self._session.set_motion(motion)
        self._dirty = not self._is_live()

    def _do_neutral(self, _=None) -> None:
        if self._driver() is None:
            return
        if self._is_live():
            self._session.use_as_neutral(None, self._session.last_points)
            emit(self.neutral_changed, -1)
        else:
            self._session.use_as_neutral(self._index)
            emit(self.neutral_changed, self._index)
            self._dirty = True

    def _do_play(self, playing: bool) -> None:
        if self._driver() is not None:
            self._set_playing(playing)

    def _do_toggle(self, _=None) -> None:
        self._do_play(not self._playing)

    def _do_seek(self, index: int) -> None:
        if self._driver() is None or self._is_live():
            return
        self._index = max(0, min(int(index), self._driver().meta.frame_count - 1))
        self._session.reset_stream()
        self._dirty = True
        if self._playing:
            self._clock.start(self._index, time.perf_counter())

    def _do_step(self, delta: int) -> None:
        if self._driver() is None or self._is_live():
            return
        self._set_playing(False)
        self._do_seek(self._index + int(delta))

    def _set_playing(self, playing: bool) -> None:
        if playing == self._playing:
            return
        self._playing = playing
        self._shown_times.clear()
        if playing and self._clock is not None:
            self._clock.start(self._index, time.perf_counter())
        emit(self.playing_changed, playing)

    # --------------------------------------------------------------------- frames
    def _step(self) -> None:
        if self._driver() is None:
            return
        if not self._playing and self._frames_sent and self._session.reference_pending \
                and not self._is_live() and self._session.resolve_reference():
            self._dirty = True
        if self._is_live():
            if self._playing or self._dirty:
                self._step_live()
        elif self._dirty or (self._playing and time.perf_counter() >= self._clock.due(self._index)):
            self._step_file()
        self._report_tracking()

    def _acquire_slot(self) -> bool:
        return self._slots.acquire(timeout=0.1)

    def _step_live(self) -> None:
        got = self._driver().latest(self._live_seq, timeout=0.05)
        if got is None or not self._acquire_slot():
            return
        self._live_seq = got[0]
        frame = self._render_holding_slot(None, got[1])
        self._dirty = False
        self._send(frame)

    def _step_file(self) -> None:
        if not self._acquire_slot():
            return
        frame = self._render_holding_slot(self._index)
        if frame is None:              # past the real end (frame counts can be estimates)
            self._slots.release()
            self._index = 0
            return
        self._dirty = False
        self._send(frame)
        if self._playing:
            following = self._clock.next_index(self._index, time.perf_counter())
            if following is None:
                self._set_playing(False)
            else:
                self._index = following

    def _render_holding_slot(self, index, live_frame=None):
        """Render while holding a GUI slot; give the slot back if rendering fails."""
        try:
            return self._session.render(index, live_frame)
        except BaseException:
            self._slots.release()
            raise

    def _send(self, frame) -> None:
        self._frames_sent += 1
        emit(self.frame_ready, frame)
        if self._playing:
            self._measure_fps()

    def _measure_fps(self) -> None:
        now = time.perf_counter()
        self._shown_times.append(now)
        self._shown_times = [t for t in self._shown_times if now - t <= 2.0]
        if now - self._last_stats >= STATS_INTERVAL_S and len(self._shown_times) > 2:
            self._last_stats = now
            span = self._shown_times[-1] - self._shown_times[0]
            emit(self.fps_measured, (len(self._shown_times) - 1) / max(span, 1e-6))

    def _report_tracking(self) -> None:
        driver = self._driver()
        if isinstance(driver, TrackDriver) and self._last_tracking < 1.0:
            self._last_tracking = 1.0
            emit(self.camera_moves, driver.camera_moves)
        if not isinstance(driver, VideoDriver):
            return
        fraction = round(driver.tracked_fraction, 2)
        if fraction != self._last_tracking:
            self._last_tracking = fraction
            emit(self.tracking_progress, fraction)
            if fraction >= 1.0:
                emit(self.camera_moves, driver.camera_moves)
