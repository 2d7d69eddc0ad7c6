"""Shared set-up for the GUI benchmarks: sample inputs, a window, waiting on the loop."""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.qt import samples  # noqa: E402

SHIPPED_MODEL = ROOT / "models" / "mesh_warp.onnx"


def work_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="ths-bench-"))


def pick_model(folder: Path) -> tuple[Path, str]:
    """(model path, label): the shipped generator when built, else the identity model."""
    if SHIPPED_MODEL.is_file():
        return SHIPPED_MODEL, "mesh_warp.onnx"
    from tests.fixtures.onnx_models import build_identity_generator

    return build_identity_generator(folder / "identity.onnx"), "identity test generator"


def pick_driver(folder: Path, given: str | None, frames: int = 250) -> Path:
    """The given driver, else the shipped sample, else a 512x512 synthetic clip."""
    if given:
        return Path(given)
    return samples.sample_driver_path() or samples.write_driver_clip(
        folder / "bench_driver.mp4", count=frames, size=512)


def settings_in(folder: Path):
    from PySide6.QtCore import QSettings

    from talkinghead_studio.qt.settings import AppSettings

    return AppSettings(QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat))


def app():
    if not os.environ.get("DISPLAY"):   # under xvfb-run the real xcb window is used
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication(sys.argv[:1])


def wait_until(predicate, timeout: float = 120.0) -> None:
    """Run the Qt event loop until predicate() is true (a benchmark driver, not app code)."""
    from PySide6.QtCore import QEventLoop, QTimer

    deadline = time.monotonic() + timeout
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: loop.quit() if predicate() or time.monotonic() > deadline
                          else None)
    timer.start()
    if not predicate():
        loop.exec()
    timer.stop()
    if not predicate():
        raise TimeoutError("benchmark: the app did not get there in time")


def open_sample_window(settings, model: Path, driver: Path, realtime: bool = True):
    """The real MainWindow at 1280x720 with the astronaut portrait and ``driver`` open,
    once the first frame is shown and the background tracker has finished."""
    from talkinghead_studio.qt.main_window import MainWindow

    window = MainWindow(settings, model_path=model, realtime=realtime)
    window.resize(1280, 720)
    window.show()
    wait_until(lambda: window.generator is not None)
    window.open_portrait(samples.astronaut_path())
    window.open_driver(driver)
    wait_until(lambda: window.driver_meta is not None and window.last_frame is not None
               and window.portrait_view is not None)
    wait_until(lambda: window.tracked_fraction >= 1.0, timeout=600)
    return window


def load_average() -> str:
    try:
        return "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "load average unknown"


def close(window) -> None:
    """Close the window as a user does (workers stop) and let Qt delete it before Python
    shuts down, so nothing Qt-owned is left for the interpreter's final clean-up."""
    from PySide6.QtCore import QCoreApplication, QEvent
    from PySide6.QtWidgets import QApplication

    window.close()
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QApplication.instance().processEvents()
