"""The streaming render: driver -> landmarks -> motion -> generate -> paste -> encode.

Three threads overlap so that both cores work: one decodes the driver and finds its
landmarks (core/driver.py), one retargets and hands each frame to a pool that runs the
generator and finishes the frame at portrait size (Animator.frame_with: straight into
the portrait, or a crop pasted back), one moves it with the driver's camera when asked,
watermarks it and feeds the encoder (ffmpeg runs as its own process).
Queues between them are short, so memory stays flat however long the video is.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from talkinghead_studio.config import ExportSettings, MotionSettings, RenderSettings
from talkinghead_studio.core import provenance
from talkinghead_studio.core.animator import Animator
from talkinghead_studio.core.driver import DriverInfo, DriverStart, start_driver
from talkinghead_studio.core.export import GifSink, Mp4Sink, PngSequenceSink
from talkinghead_studio.core.images import load_portrait
from talkinghead_studio.core.portrait import PreparedPortrait, prepare_portrait
from talkinghead_studio.core.references import load_references
from talkinghead_studio.core.video import check_output_path
from talkinghead_studio.errors import GeneratorContractError, RenderCancelled
from talkinghead_studio.inference.session import OnnxGenerator, open_generator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderJob:
    portrait: Path
    driver: Path
    output: Path
    motion: MotionSettings = field(default_factory=MotionSettings)
    render: RenderSettings = field(default_factory=RenderSettings)
    export: ExportSettings = field(default_factory=ExportSettings)
    references: tuple[Path, ...] = ()   # extra views of the same face (few-shot)


@dataclass(frozen=True)
class RenderProgress:
    done: int
    total: int
    fps: float
    eta_seconds: float


@dataclass(frozen=True)
class RenderResult:
    output: Path
    frames: int
    fps: float
    seconds: float
    missing_driver_faces: int
    provider: str
    notes: tuple[str, ...]


def load_generator(render: RenderSettings) -> OnnxGenerator:
    return open_generator(render.model_path, render.provider)


def prepare(job_portrait: Path, render: RenderSettings, generator: OnnxGenerator | None
            ) -> PreparedPortrait:
    """Load and prepare the portrait; the matte and plate are made unless ``generator``
    is given and takes neither (None: not known yet, make them)."""
    loaded = load_portrait(job_portrait, max_side=render.max_side)
    wants_matte = generator is None or bool(generator.optional_inputs)
    return prepare_portrait(loaded, render.size, with_matte=wants_matte,
                            rigid_glasses=render.rigid_glasses)


def _abandon(driver_starting: Future | None) -> None:
    """Stop a driver that was started for a render that will not run."""
    if driver_starting is None:
        return
    try:
        early = driver_starting.result()
    except BaseException:   # its own error is not this render's
        return
    early.abandon()


def _replay(head: list, stream: Iterator) -> Iterator:
    yield from head
    yield from stream


def _make_sink(job: RenderJob, size: tuple[int, int], fps: float, driver: DriverInfo,
               record):
    fmt = job.export.format
    if fmt == "png":
        return PngSequenceSink(job.output, record)
    if fmt == "gif":
        return GifSink(job.output, size, job.export.gif_fps or fps, record)
    audio = driver.path if (job.export.keep_audio and driver.has_audio) else None
    return Mp4Sink(job.output, size, fps, record, crf=job.export.crf, audio_from=audio)


class _Stage(threading.Thread):
    """A pipeline thread: pulls from ``inbox``, pushes to ``outbox``, reports errors."""

    _END = object()

    def __init__(self, name, work, inbox: queue.Queue, outbox: queue.Queue | None,
                 stop: threading.Event):
        super().__init__(name=name, daemon=True)
        self.work, self.inbox, self.outbox, self.stop_event = work, inbox, outbox, stop
        self.error: BaseException | None = None

    def run(self):
        try:
            while not self.stop_event.is_set():
                try:
                    item = self.inbox.get(timeout=0.1)
                except queue.Empty:
                    continue
                if item is self._END:
                    break
                result = self.work(item)
                if self.outbox is not None:
                    _put(self.outbox, result, self.stop_event)
        except BaseException as exc:
            self.error = exc
            self.stop_event.set()
        finally:
            if self.outbox is not None:
                _put(self.outbox, self._END, self.stop_event, force=True)


def _put(box: queue.Queue, item, stop: threading.Event, force: bool = False) -> None:
    while True:
        try:
            box.put(item, timeout=0.1)
            return
        except queue.Full:
            if stop.is_set() and not force:
                return
            if stop.is_set():
                try:
                    box.get_nowait()   # make room for the end marker
                except queue.Empty:
                    pass


def render(job: RenderJob, progress: Callable[[RenderProgress], None] | None = None,
           cancel: threading.Event | None = None, generator: OnnxGenerator | None = None,
           portrait: PreparedPortrait | None = None,
           generator_loading: Future | None = None,
           driver_starting: Future | None = None) -> RenderResult:
    """Render a job to its output file. Raises StudioError subclasses on bad input and
    RenderCancelled when ``cancel`` is set; in both cases no output file appears.

    generator: an open generator to use; generator_loading: one the caller is already
    opening for ``job.render`` (its errors are raised where opening it here would
    raise them); neither: it is opened here, beside the other start-up work.
    driver_starting: core.driver.start_driver() for this job's driver, already running
    (the same applies; one started for other settings is stopped and not used)."""
    cancel = cancel or threading.Event()
    started = time.perf_counter()
    try:
        check_output_path(job.output, [job.portrait, job.driver, *job.references],
                          allow_folder=job.export.format == "png")
        request = (Path(job.driver), job.motion, job.render.max_frames, job.render.start_frame)
        early = driver_starting.result() if driver_starting is not None else None
    except BaseException:
        _abandon(driver_starting)
        raise
    if early is not None and early.request != request:
        log.info("driver started for %s, the job wants %s: starting it again",
                 early.request, request)
        early.abandon()
        early = None
    # Start-up jobs run side by side: tracking the driver's first seconds (to find its
    # neutral frame), opening the generator's sessions and preparing the portrait took
    # 1.4 + 1.8 + 1.2 s one after another at 512 px, half of a 9 s clip's render.
    head_source: DriverStart = early or start_driver(*request)
    driver, landmarks = head_source.info, head_source.landmarks
    fps = driver.fps
    stop = threading.Event()          # stops the pipeline stages (error or cancel)
    driver_stop = head_source.stop    # stops the driver's decoding thread
    head_job = head_source.head
    startup = ThreadPoolExecutor(max_workers=1, thread_name_prefix="render-startup")
    sink = None
    try:
        generator_job = None
        if generator is None:
            generator_job = generator_loading or startup.submit(load_generator, job.render)
        if portrait is None:
            # The matte is wanted by every generator that takes optional inputs (the
            # shipped one does); computing it before the model is known keeps the
            # portrait off the critical path, and costs ~0.1 s when it goes unused.
            portrait = prepare(job.portrait, job.render, generator)
        generator = generator or generator_job.result()
        if not generator.info.supports(job.render.size):
            sizes = ", ".join(str(r) for r in generator.info.resolutions)
            raise GeneratorContractError(
                f"The generator '{generator.info.name}' works at {sizes} px, not "
                f"{job.render.size}; choose one of those sizes.")
        references = load_references(list(job.references), portrait, job.render.max_side)
        animator = Animator(portrait, generator, job.motion, fps=fps, references=references)
        # The driver's first seconds are usually still being tracked here (the start-up's
        # critical path), and the other core has time: everything else the first frame
        # needs is set up now rather than in front of it (~0.2 s at 512 px: the
        # watermark's tables, starting the encoder, the generator's first run, which
        # allocates its buffers and costs twice a later one).
        record = provenance.ProvenanceRecord.for_export(
            generator_name=generator.info.name, watermark=job.export.watermark,
            portrait_name=job.portrait.name, driver_name=job.driver.name)
        watermarker = provenance.Watermarker() if job.export.watermark else None
        height, width = portrait.image.rgb.shape[:2]
        sink = _make_sink(job, (width, height), fps, driver, record)
        sink.open()
        animator.frame_with(portrait.crop_points, None)
        head, neutral = head_job.result()
    except BaseException:
        driver_stop.set()
        wait([head_job])      # the tracking stops at its next frame
        landmarks.close()
        if sink is not None:
            sink.abort()
        raise
    finally:
        # A generator still loading after an error finishes on its own; nobody waits.
        startup.shutdown(wait=False, cancel_futures=True)
    if neutral is not None:
        _, neutral_points, _, neutral_camera = neutral
        animator.set_driver_reference(neutral_points, neutral_camera)
    stream = _replay(head, landmarks)
    total = driver.frame_count - job.render.start_frame
    if job.render.max_frames:
        total = min(total, job.render.max_frames)
    want_alpha = job.export.format == "png" and generator.info.has_mask

    generated: queue.Queue = queue.Queue(maxsize=4)
    state = {"done": 0, "missing": 0}

    workers = job.render.parallel_frames or min(4, os.cpu_count() or 2)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="render-generator")

    def plan_one(item):
        # Retargeting and view choice keep temporal state (smoothing): in frame order
        # here. The generator call itself is stateless and goes to the pool, so on a
        # multi-core CPU several frames are generated at once.
        _, points, detected, camera = item
        state["missing"] += 0 if detected else 1
        target = animator.target_landmarks(points, camera)
        generating = pool.submit(animator.frame_with, target, animator.view_weights(target),
                                 want_alpha)
        return generating, animator.frame_motion(camera)

    def finish_one(planned):
        generating, motion = planned
        frame, alpha = animator.move(*generating.result(), motion)
        if watermarker is not None:
            frame = watermarker.embed(frame)
        sink.write(frame, alpha)
        state["done"] += 1
        if progress is not None:
            elapsed = max(time.perf_counter() - started, 1e-6)
            rate = state["done"] / elapsed
            remaining = max(total - state["done"], 0)
            progress(RenderProgress(state["done"], max(total, state["done"]), rate,
                                    remaining / max(rate, 1e-6)))

    inbox: queue.Queue = queue.Queue(maxsize=4)
    finisher = _Stage("render-finish", finish_one, generated, None, stop)
    generator_stage = _Stage("render-plan", plan_one, inbox, generated, stop)
    try:
        finisher.start()
        generator_stage.start()
        for item in stream:
            if cancel.is_set() or stop.is_set():
                break
            _put(inbox, item, stop)
        _put(inbox, _Stage._END, stop, force=True)
        generator_stage.join()
        finisher.join()
        for stage in (generator_stage, finisher):
            if stage.error is not None:
                raise stage.error
        if cancel.is_set():
            raise RenderCancelled("Render cancelled; no file was written.")
        output = sink.commit()
    except BaseException:
        stop.set()
        generator_stage.join(timeout=5)
        finisher.join(timeout=5)
        sink.abort()
        raise
    finally:
        stop.set()
        driver_stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        if hasattr(stream, "close"):
            stream.close()
    seconds = time.perf_counter() - started
    return RenderResult(output, state["done"], fps, seconds, state["missing"],
                        generator.active_provider, portrait.notes)
