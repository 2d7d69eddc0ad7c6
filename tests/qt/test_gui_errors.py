"""Errors reach people: dialogs for user errors, and details for bugs from any thread."""
from __future__ import annotations

import sys
import threading

import pytest

from talkinghead_studio.errors import UnreadableVideo
from talkinghead_studio.qt.dialogs import install_exception_hooks
from tests.qt.conftest import WAIT_MS, error_dialog, wait_driver, wait_portrait


@pytest.fixture
def hooks(window):
    restore = install_exception_hooks(window.errors)
    yield
    restore()


def test_uncaught_exception_in_a_thread_shows_details(qtbot, window, hooks):
    def broken():
        raise RuntimeError("boom in a worker thread")

    thread = threading.Thread(target=broken, name="some-worker")
    thread.start()
    thread.join()
    dialog = error_dialog(qtbot, window)
    assert "Unexpected error" in dialog.text()
    assert "boom in a worker thread" in dialog.informativeText()
    assert "Traceback" in dialog.detailedText() and "def broken" not in dialog.text()
    assert "RuntimeError: boom in a worker thread" in dialog.detailedText()


def test_uncaught_exception_in_gui_thread_shows_details(qtbot, window, hooks):
    try:
        raise KeyError("missing thing")
    except KeyError:
        sys.excepthook(*sys.exc_info())
    dialog = error_dialog(qtbot, window)
    assert "KeyError" in dialog.detailedText()


def test_studio_error_has_no_details(qtbot, window):
    window.errors.show(UnreadableVideo("clip.mp4 could not be decoded. Re-export it."))
    dialog = error_dialog(qtbot, window)
    assert dialog.text() == "<b>Cannot read this video</b>"
    assert dialog.informativeText().endswith("Re-export it.")
    assert dialog.detailedText() == ""


def test_unexpected_error_in_preview_worker(qtbot, window, portrait_path, driver_clip,
                                            monkeypatch):
    """A bug while rendering a preview frame: dialog with traceback, playback stops,
    the app keeps working."""
    wait_portrait(qtbot, window, portrait_path)
    wait_driver(qtbot, window, driver_clip)
    from talkinghead_studio.core import preview

    def broken_render(self, index, frame=None):
        raise ZeroDivisionError("preview bug")

    monkeypatch.setattr(preview.PreviewSession, "render", broken_render)
    window.commands.step_forward.trigger()
    dialog = error_dialog(qtbot, window)
    assert "ZeroDivisionError: preview bug" in dialog.detailedText()
    assert window.commands.play.text() == "Play"
    monkeypatch.undo()
    dialog.close()
    shown = window.frames_shown
    window.commands.step_forward.trigger()
    qtbot.waitUntil(lambda: window.frames_shown > shown, timeout=WAIT_MS)


def test_missing_generator_model_is_explained(qtbot, make_window, tmp_path):
    window = make_window(model=tmp_path / "nowhere.onnx")
    dialog = error_dialog(qtbot, window)
    assert "Problem with the generator model" in dialog.text()
    assert "nowhere.onnx" in dialog.informativeText()
    assert window.provider_label.text() == "Provider: none (no generator)"


def test_same_error_twice_opens_one_dialog(qtbot, window):
    error = UnreadableVideo("x.mp4 is broken.")
    window.errors.show(error)
    window.errors.show(error)
    qtbot.waitUntil(lambda: len(window.errors.visible_dialogs()) == 1, timeout=WAIT_MS)
    qtbot.wait(100)
    assert len(window.errors.visible_dialogs()) == 1
