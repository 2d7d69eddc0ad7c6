"""Closing: asks first during an export or a webcam session, then stops cleanly."""
from __future__ import annotations

import threading

from PySide6.QtWidgets import QMessageBox

from talkinghead_studio.core.preview import CameraInfo
from tests.qt.conftest import WAIT_MS, wait_driver, wait_portrait
from tests.qt.test_gui_export import export_via_dialog, leftovers


def confirm_dialog(qtbot, window) -> QMessageBox:
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "confirmDialog") is not None
                    and window.findChild(QMessageBox, "confirmDialog").isVisible(),
                    timeout=WAIT_MS)
    return window.findChild(QMessageBox, "confirmDialog")


def click(box: QMessageBox, text: str) -> None:
    next(b for b in box.buttons() if b.text() == text).click()


def worker_threads() -> set[str]:
    names = {"preview-tracker", "webcam-capture", "driver-landmarks", "render-generate",
             "render-finish"}
    return {t.name for t in threading.enumerate() if t.name in names}


def test_close_during_export_asks_then_stops(qtbot, window, portrait_path, long_driver_clip,
                                             tmp_path):
    wait_portrait(qtbot, window, portrait_path)
    wait_driver(qtbot, window, long_driver_clip)
    output = tmp_path / "half.mp4"
    render_dialog = export_via_dialog(qtbot, window, output, "mp4")
    qtbot.waitUntil(lambda: render_dialog.bar.value() >= 3, timeout=60_000)
    window.close()
    box = confirm_dialog(qtbot, window)
    assert "export" in box.informativeText()
    click(box, "Cancel")                                  # changed my mind: keep going
    assert window.isVisible() and window.exporting
    window.close()
    click(confirm_dialog(qtbot, window), "Quit")
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT_MS)
    assert not window.exporting and not window.preview.is_running()
    assert not output.exists() and leftovers(tmp_path) == []
    qtbot.waitUntil(lambda: not worker_threads(), timeout=WAIT_MS)


def test_close_during_webcam_asks(qtbot, window, driver_clip):
    window.open_camera(CameraInfo(str(driver_clip), "Test Camera"))
    qtbot.waitUntil(lambda: window.live and window.frames_shown > 3, timeout=WAIT_MS)
    window.close()
    box = confirm_dialog(qtbot, window)
    assert "webcam" in box.informativeText()
    click(box, "Quit")
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT_MS)
    assert not window.preview.is_running()
    qtbot.waitUntil(lambda: "webcam-capture" not in worker_threads(), timeout=WAIT_MS)


def test_close_when_idle_does_not_ask(qtbot, loaded_window):
    window = loaded_window
    window.close()
    assert not window.isVisible()
    assert window.findChild(QMessageBox, "confirmDialog") is None
    assert not window.preview.is_running()
