"""GUI test fixtures: a real MainWindow, offscreen, with its settings in a temp INI file.

The window uses the shipped generator (models/mesh_warp.onnx) when it is built, else the
identity test generator, so every test runs today and becomes stricter once the real
model lands.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from tests.qt import samples  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_MODEL = ROOT / "models" / "mesh_warp.onnx"
WAIT_MS = 20_000     # generous: two shared CPU cores


@pytest.fixture(scope="session")
def gui_model(identity_model) -> Path:
    return SHIPPED_MODEL if SHIPPED_MODEL.is_file() else identity_model


@pytest.fixture(scope="session")
def real_model() -> Path:
    if not SHIPPED_MODEL.is_file():
        pytest.skip("needs models/mesh_warp.onnx: the identity test generator returns the "
                    "portrait unchanged, so the picture cannot change with the controls")
    return SHIPPED_MODEL


@pytest.fixture(scope="session", autouse=True)
def shared_generator_sessions():
    """Each window opens the generator as the app does, but a model already opened in
    this test run is reused: opening mesh_warp.onnx costs about a second of a shared
    CPU, and forty windows would spend most of the suite's time on it. Loading errors
    still come from the real code (failures are not cached)."""
    from talkinghead_studio.core import preview

    real = preview.open_generator
    cache = {}

    def open_once(model, provider):
        key = (str(model), provider)
        if key not in cache:
            cache[key] = real(model, provider)
        return cache[key]

    patch = pytest.MonkeyPatch()
    patch.setattr(preview, "open_generator", open_once)
    yield
    patch.undo()


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("gui_samples")


@pytest.fixture(scope="session")
def driver_clip(sample_dir) -> Path:
    """24 frames, 256x256, 25 fps, a 440 Hz tone as audio; the head rolls and sways."""
    return samples.write_driver_clip(sample_dir / "driver.mp4", count=24, with_audio=True)


@pytest.fixture(scope="session")
def long_driver_clip(sample_dir) -> Path:
    """150 frames (6 s): long enough to cancel an export in the middle."""
    return samples.write_driver_clip(sample_dir / "long_driver.mp4", count=150)


@pytest.fixture(scope="session")
def portrait_path(astronaut_path) -> Path:
    return astronaut_path


@pytest.fixture(scope="session")
def mirrored_astronaut(sample_dir) -> Path:
    """A second picture of the portrait's face (the astronaut, flipped): an extra view."""
    return samples.write_mirrored_astronaut(sample_dir / "astronaut_mirrored.png")


@pytest.fixture(scope="session")
def no_face_image(sample_dir) -> Path:
    return samples.write_no_face_image(sample_dir / "gradient.png")


@pytest.fixture(scope="session")
def corrupt_video(sample_dir) -> Path:
    return samples.write_corrupt_video(sample_dir / "broken.mp4")


@pytest.fixture
def app_settings(tmp_path):
    from PySide6.QtCore import QSettings

    from talkinghead_studio.qt.settings import AppSettings

    return AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def make_window(qtbot, app_settings, gui_model):
    """Builds MainWindows; each is shut down (workers stopped) after the test."""
    from talkinghead_studio.qt.main_window import MainWindow

    windows = []

    def make(settings=None, model=None):
        window = MainWindow(settings or app_settings, model_path=model or gui_model)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitUntil(lambda: window.generator is not None or bool(window.errors.dialogs),
                        timeout=WAIT_MS)
        windows.append(window)
        return window

    yield make
    for window in windows:
        for dialog in list(window.errors.dialogs):
            dialog.close()
        window.shutdown()
        assert not window.preview.is_running(), "the preview thread did not stop"


@pytest.fixture
def window(make_window):
    return make_window()


def wait_portrait(qtbot, window, path):
    window.open_portrait(path)
    qtbot.waitUntil(lambda: window.portrait_view is not None
                    and window.portrait_view.path == Path(path), timeout=WAIT_MS)
    return window.portrait_view


def wait_driver(qtbot, window, path):
    shown = window.frames_shown
    window.open_driver(path)
    qtbot.waitUntil(lambda: window.driver_meta is not None
                    and window.driver_meta.path == Path(path)
                    and window.frames_shown > shown, timeout=WAIT_MS)
    return window.driver_meta


def error_dialog(qtbot, window):
    """The error dialog the window opened (waits for it)."""
    qtbot.waitUntil(lambda: bool(window.errors.visible_dialogs()), timeout=WAIT_MS)
    return window.errors.visible_dialogs()[-1]


@pytest.fixture
def loaded_window(qtbot, window, portrait_path, driver_clip):
    """A window with the astronaut portrait and the test driver open."""
    wait_portrait(qtbot, window, portrait_path)
    wait_driver(qtbot, window, driver_clip)
    return window

