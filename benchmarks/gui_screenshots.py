"""Screenshots of the desktop studio's main states, for the README and for review.

    xvfb-run -s "-screen 0 1280x720x24" .venv/bin/python benchmarks/gui_screenshots.py

Runs the real app in a real (X11/xcb) window at 1280x720 and saves what a person would
see, dialogs included, to docs/screenshots/: 01_empty, 02_portrait, 03_playing,
04_exporting, 05_error, 06_extra_views. Pass --out DIR to write elsewhere, --offscreen
to run without an X server (dialogs are then captured on their own, not over the window).

Content is public domain only: resources/portraits/ and the shipped sample driver
(resources/drivers/sample_driver.mp4); while that is not built, a clip made from the
astronaut picture (tests/qt/samples.py). Never point this at ../shared/data.
The extra views are made here from the portrait, since the sample has no second photo
of its face: the portrait mirrored, and the portrait with its mouth opened by the app's
own generator (the sample motion's widest-open frame).

Debian/Ubuntu packages for the xcb platform under Xvfb: xvfb libegl1 libgl1
libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1
libfontconfig1 libdbus-1-3 fonts-dejavu-core.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from tests.qt import samples  # noqa: E402

SIZE = (1280, 720)
TIMEOUT_S = 150
VIEW_WAIT_S = 12    # how long 06 waits for a frame drawn mostly from an extra view


def sample_inputs(folder: Path) -> tuple[Path, Path, Path, Path | None]:
    """(portrait, driver, no-face picture, model or None for the shipped one)."""
    driver = samples.sample_driver_path()
    if driver is None:
        driver = samples.write_driver_clip(folder / "astronaut_nod.mp4", count=200, size=320)
        portrait = samples.grace_hopper_path()
    else:
        portrait = samples.astronaut_path()
    no_face = samples.write_no_face_image(folder / "gradient.png")
    model = None
    if not (ROOT / "models" / "mesh_warp.onnx").is_file():
        from tests.fixtures.onnx_models import build_identity_generator

        model = build_identity_generator(folder / "identity.onnx")
        print("note: models/mesh_warp.onnx is not built; using the identity test generator "
              "(the result will not move)")
    return portrait, driver, no_face, model


def mouth_open_view(portrait: Path, model: Path | None, out: Path) -> Path | None:
    """The portrait with its mouth opened by the generator: the sample motion's frame
    with the widest-open mouth, relative to its automatic neutral frame."""
    from talkinghead_studio.config import MotionSettings, RenderSettings
    from talkinghead_studio.core import face_regions as fr
    from talkinghead_studio.core.animator import Animator
    from talkinghead_studio.core.motion import pick_neutral_frame
    from talkinghead_studio.core.pipeline import load_generator, prepare
    from talkinghead_studio.core.track import MotionTrack
    from talkinghead_studio.paths import resource_path

    motion = resource_path("drivers/sample_motion.npz")
    if not motion.is_file():
        return None
    track = MotionTrack.load(motion)
    gaps = np.array([np.linalg.norm(p[14, :2] - p[13, :2]) / fr.interocular(p)
                     for p in track.points])
    widest = int(np.argmax(gaps))
    window = max(1, int(3 * track.fps))
    neutral = pick_neutral_frame(track.points[:window], track.detected[:window])
    render = RenderSettings(size=512, model_path=model)
    generator = load_generator(render)
    if not generator.info.supports(512):
        render = RenderSettings(size=generator.info.resolutions[0], model_path=model)
    animator = Animator(prepare(portrait, render, generator), generator,
                        MotionSettings(smoothing=0.0), fps=track.fps)
    animator.set_driver_reference(track.points[neutral])
    frame = animator.animate(track.points[widest]).frame
    return samples.write_png(frame, out / f"{portrait.stem}_mouth_open.png")


def extra_views(portrait: Path, model: Path | None, folder: Path) -> list[Path]:
    from talkinghead_studio.core.images import load_portrait

    mirrored = samples.write_png(np.ascontiguousarray(load_portrait(portrait).rgb[:, ::-1]),
                                 folder / f"{portrait.stem}_mirrored.png")
    opened = mouth_open_view(portrait, model, folder)
    return [p for p in (opened, mirrored) if p is not None]


class Scenario:
    """Runs steps one after another without blocking the event loop: each step acts,
    then waits (by polling on a timer) for a condition, then takes a screenshot."""

    def __init__(self, app, window, out: Path, offscreen: bool) -> None:
        self.app, self.window, self.out, self.offscreen = app, window, out, offscreen
        self.steps: list[tuple] = []
        self.saved: list[Path] = []
        self.started = time.monotonic()

    def add(self, name: str | None, act, ready, settle_ms: int = 300) -> None:
        self.steps.append((name, act, ready, settle_ms))

    def run(self) -> None:
        from PySide6.QtCore import QTimer

        if not self.steps:
            self.window.shutdown()
            self.app.quit()
            return
        name, act, ready, settle_ms = self.steps.pop(0)
        act()
        self._wait(ready, lambda: QTimer.singleShot(settle_ms, lambda: self._shoot(name)))

    def _wait(self, ready, then) -> None:
        from PySide6.QtCore import QTimer

        if time.monotonic() - self.started > TIMEOUT_S:
            print("screenshots: timed out waiting for the app", file=sys.stderr)
            self.window.shutdown()
            self.app.exit(1)
            return
        if ready():
            then()
        else:
            QTimer.singleShot(50, lambda: self._wait(ready, then))

    def _shoot(self, name: str | None) -> None:
        if name is not None:
            path = self.out / f"{name}.png"
            self._grab().save(str(path))
            self.saved.append(path)
            print(f"saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        self.run()

    def _grab(self):
        """The screen as a person sees it (window and any dialog over it)."""
        from PySide6.QtWidgets import QApplication

        if self.offscreen:
            popup = QApplication.activeModalWidget() or QApplication.activeWindow()
            return (popup or self.window).grab()
        geometry = self.window.frameGeometry()
        screen = self.window.screen()
        return screen.grabWindow(0, geometry.x(), geometry.y(), geometry.width(),
                                 geometry.height())


def build_scenario(app, window, out: Path, inputs, views: list[Path],
                   offscreen: bool) -> Scenario:
    portrait, driver, no_face, _ = inputs
    panel = window.controls.extra_views
    export_to = Path(tempfile.mkdtemp()) / "exported.mp4"
    s = Scenario(app, window, out, offscreen)
    s.add("01_empty", lambda: None, lambda: window.generator is not None, 600)
    s.add("02_portrait", lambda: window.open_portrait(portrait),
          lambda: window.portrait_view is not None)
    s.add(None, lambda: window.open_driver(driver), lambda: window.last_frame is not None)
    s.add(None, lambda: window.preview.seek(40),
          lambda: window.last_frame.index == 40 and not window.preview.neutral_pending)
    # Playing: both faces close up without dots, so the animation itself is what shows.
    s.add("03_playing", lambda: (window.commands.zoom_face.setChecked(True),
                                 window.commands.show_landmarks.setChecked(False),
                                 window.preview.play()),
          lambda: window.fps_label.text() != "– fps", 1200)
    s.add(None, lambda: (window.commands.zoom_face.setChecked(False),
                         window.commands.show_landmarks.setChecked(True)), lambda: True, 0)
    s.add("04_exporting", lambda: (window.preview.pause(),
                                   window.start_export(export_to, window.settings.export_settings())),
          lambda: window.render_dialog is not None and window.render_dialog.bar.value() >= 30)
    s.add(None, window.cancel_export, lambda: not window.exporting)
    s.add("05_error", lambda: window.open_portrait(no_face),
          lambda: bool(window.errors.visible_dialogs()), 500)
    # Extra views in use: playing close up, the row the face is drawn from highlighted.
    s.add(None, lambda: ([d.close() for d in window.errors.visible_dialogs()],
                         window.open_portrait(portrait)),
          lambda: window.portrait_view is not None and window.portrait_view.path == portrait
          and window.portrait_view.prepared is not None)
    s.add(None, lambda: window.add_extra_views([str(v) for v in views]),
          lambda: panel.list.count() == len(views))
    # Play until a frame is drawn mostly from a view, then show that frame paused (a
    # seek draws it afresh, without the blend carried over from the frames before).
    deadline, hit = [], {}

    def view_in_use() -> bool:
        if panel.in_use_row() is not None:
            hit["index"], hit["shown"] = window.last_frame.index, window.frames_shown
            window.preview.pause()
            return True
        return time.monotonic() > deadline[0]

    s.add(None, lambda: (deadline.append(time.monotonic() + VIEW_WAIT_S),
                         window.commands.zoom_face.setChecked(True),
                         window.commands.show_landmarks.setChecked(False),
                         window.preview.play()), view_in_use, 300)
    s.add("06_extra_views", lambda: hit and window.preview.seek(hit["index"]),
          lambda: not hit or (window.commands.play.text() == "Play"
                              and window.frames_shown > hit["shown"]
                              and window.last_frame.index == hit["index"]), 400)
    return s


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--offscreen", action="store_true")
    args = parser.parse_args(argv)
    if args.offscreen:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ths-shots-"))
    inputs = sample_inputs(work)
    views = extra_views(inputs[0], inputs[3], work)

    from PySide6.QtCore import QSettings, QTimer

    from talkinghead_studio.qt.app import create_window
    from talkinghead_studio.qt.settings import AppSettings

    settings = AppSettings(QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat))
    app, window = create_window(model_path=inputs[3], settings=settings)
    window.resize(*SIZE)
    window.move(0, 0)
    scenario = build_scenario(app, window, args.out, inputs, views, args.offscreen)
    QTimer.singleShot(500, scenario.run)
    app.exec()
    print(f"{len(scenario.saved)} screenshots in {args.out}")
    return 0 if len(scenario.saved) == 6 else 1


if __name__ == "__main__":
    sys.exit(main())
