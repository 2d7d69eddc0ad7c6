"""Opening a portrait: file, drag and drop, recent files; the face overlay; no face."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from tests.qt.conftest import WAIT_MS, error_dialog, wait_portrait


def drop_files(window, paths) -> None:
    """Drag files onto the window and drop them, as a file manager does."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    centre = QPointF(window.rect().center())
    actions = Qt.DropAction.CopyAction
    # Qt declares the drag-enter position as an integer QPoint, the drop as a QPointF.
    enter = QDragEnterEvent(window.rect().center(), actions, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted(), "the window refused a file drag"
    drop = QDropEvent(centre, actions, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop)


def test_portrait_shows_face_and_landmarks(qtbot, window, portrait_path):
    view = wait_portrait(qtbot, window, portrait_path)
    canvas = window.result_canvas
    assert canvas.has_image and canvas.banner is None
    assert canvas.overlay_points is not None and canvas.overlay_points.shape == (478, 2)
    x0, y0, x1, y1 = view.face_box
    # The astronaut's face is in the upper middle of the picture.
    height, width = view.image.shape[:2]
    assert 0.25 * width < (x0 + x1) / 2 < 0.6 * width and (y0 + y1) / 2 < 0.45 * height
    assert not window.errors.visible_dialogs()


def test_landmark_overlay_toggles(qtbot, window, portrait_path):
    wait_portrait(qtbot, window, portrait_path)
    toggle = window.commands.show_landmarks
    assert toggle.isChecked() and window.result_canvas.overlay_visible
    before = window.result_canvas.grab().toImage()
    toggle.trigger()
    assert not window.result_canvas.overlay_visible
    assert window.result_canvas.grab().toImage() != before   # the dots are gone
    assert window.settings.show_landmarks is False


def test_no_face_says_so_plainly(qtbot, window, no_face_image):
    window.open_portrait(no_face_image)
    dialog = error_dialog(qtbot, window)
    assert "No face found" in dialog.text()
    assert "No face was found in the portrait" in dialog.informativeText()
    assert not dialog.detailedText()            # a user error: no traceback
    canvas = window.result_canvas
    assert canvas.has_image and "No face found" in canvas.banner
    assert not window.commands.export.isEnabled()
    dialog.close()
    assert window.preview.is_running()          # nothing crashed


def test_unreadable_image_error(qtbot, window, tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("not a picture")
    window.open_portrait(fake)
    dialog = error_dialog(qtbot, window)
    assert "Cannot read this image" in dialog.text()
    assert "notes.png" in dialog.informativeText()


def test_drag_and_drop_portrait(qtbot, window, portrait_path):
    drop_files(window, [portrait_path])
    qtbot.waitUntil(lambda: window.portrait_view is not None, timeout=WAIT_MS)
    assert window.portrait_view.path == Path(portrait_path)


def test_drop_of_unknown_file_is_explained(qtbot, window, tmp_path):
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    drop_files(window, [other])
    dialog = error_dialog(qtbot, window)
    assert "neither a picture" in dialog.informativeText()


def test_recent_portraits(qtbot, window, portrait_path, hopper_path):
    wait_portrait(qtbot, window, hopper_path)
    wait_portrait(qtbot, window, portrait_path)
    recent = window.settings.recent("portrait")
    assert recent[:2] == [str(Path(portrait_path).resolve()), str(Path(hopper_path).resolve())]
    window._fill_recent_menu()
    entries = {a.text(): a for a in window.recent_menu.actions()}
    assert Path(hopper_path).name in entries
    entries[Path(hopper_path).name].trigger()
    qtbot.waitUntil(lambda: window.portrait_view.path == Path(hopper_path).resolve(),
                    timeout=WAIT_MS)
