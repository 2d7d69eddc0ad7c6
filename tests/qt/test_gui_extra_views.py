"""Extra views (few-shot references): add by dialog or drop, remove, refuse a picture
without a face; the preview's animator and the export job get exactly the listed views."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from talkinghead_studio.config import ExportSettings
from talkinghead_studio.core.preview import ExtraView
from talkinghead_studio.qt.widgets import ExtraViewsPanel
from tests.qt.conftest import WAIT_MS, error_dialog, wait_portrait
from tests.qt.test_gui_export import EXPORT_WAIT_MS


def animator_views(window) -> int | None:
    animator = window.preview.session.animator
    return None if animator is None else len(animator.references)


def wait_views(qtbot, window, count: int) -> None:
    """The list shows ``count`` views and the preview renders with exactly those."""
    panel = window.controls.extra_views
    qtbot.waitUntil(lambda: panel.list.count() == count and animator_views(window) == count,
                    timeout=WAIT_MS)


def drop_onto(widget, paths) -> None:
    """Drag files onto a widget and drop them, as a file manager does."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    actions = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(widget.rect().center(), actions, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    accepted = enter.isAccepted()
    assert accepted, "the drag was refused"
    drop = QDropEvent(QPointF(widget.rect().center()), actions, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)


def test_add_view_reaches_preview_and_export_then_remove(qtbot, loaded_window,
                                                         mirrored_astronaut, tmp_path,
                                                         monkeypatch):
    window = loaded_window
    panel = window.controls.extra_views
    assert panel.add_button.isEnabled() and panel.list.count() == 0
    assert panel.toolTip().startswith("Other pictures of the same face")
    seen_folders = []
    monkeypatch.setattr(
        "PySide6.QtWidgets.QFileDialog.getOpenFileNames",
        lambda parent, title, folder, filters: (seen_folders.append(folder)
                                                or ([str(mirrored_astronaut)], filters)))
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    wait_views(qtbot, window, 1)
    item = panel.list.item(0)
    assert item.text() == mirrored_astronaut.name and not item.icon().isNull()
    assert panel.paths() == [mirrored_astronaut]
    # The paused preview was drawn again, now choosing between the portrait and the view.
    frame = window.last_frame
    qtbot.waitUntil(lambda: window.last_frame is not frame
                    and window.last_frame.view_weights is not None, timeout=WAIT_MS)
    weights = window.last_frame.view_weights
    assert weights.shape == (2,) and abs(weights.sum() - 1) < 1e-6
    assert panel.usage_label.isVisible() and "Face drawn from" in panel.usage_label.text()
    # The folder is remembered (opened next time); the views themselves are not saved.
    assert Path(window.settings.last_dir("views")) == mirrored_astronaut.parent
    store = window.settings.store
    assert not any(mirrored_astronaut.name in str(store.value(key)) for key in store.allKeys())

    output = tmp_path / "with_view.gif"
    window.start_export(output, ExportSettings(format="gif"))
    assert window.export_worker.job.references == (mirrored_astronaut,)
    assert not panel.add_button.isEnabled() and not panel.list.isEnabled()  # listed = rendered
    qtbot.waitUntil(lambda: not window.exporting, timeout=EXPORT_WAIT_MS)
    assert panel.add_button.isEnabled()
    assert not window.errors.visible_dialogs()
    assert output.is_file() and window.render_dialog.result.frames == 24
    window.render_dialog.close()

    panel.list.setCurrentRow(0)
    assert panel.remove_button.isEnabled()
    qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    wait_views(qtbot, window, 0)
    assert window.render_job(output, window.settings.export_settings()).references == ()
    assert not panel.usage_label.isVisible()


def test_drop_pictures_on_the_list(qtbot, loaded_window, mirrored_astronaut, tmp_path):
    window = loaded_window
    viewport = window.controls.extra_views.list.viewport()
    drop_onto(viewport, [mirrored_astronaut])
    wait_views(qtbot, window, 1)
    assert window.portrait_view.path.name == "astronaut.png"   # not opened as the portrait
    # Anything but a picture is left to the window, which explains what it accepts.
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    drop_onto(viewport, [notes])
    dialog = error_dialog(qtbot, window)
    assert "neither a picture" in dialog.informativeText()
    dialog.close()
    assert window.controls.extra_views.list.count() == 1
    # Delete removes the selected view.
    window.controls.extra_views.list.setCurrentRow(0)
    qtbot.keyClick(window.controls.extra_views.list, Qt.Key.Key_Delete)
    wait_views(qtbot, window, 0)


def test_view_without_face_is_refused(qtbot, loaded_window, mirrored_astronaut,
                                      no_face_image):
    window = loaded_window
    window.add_extra_views([str(mirrored_astronaut)])
    wait_views(qtbot, window, 1)
    window.add_extra_views([str(no_face_image)])
    dialog = error_dialog(qtbot, window)
    assert "No face found" in dialog.text()
    assert "gradient.png" in dialog.informativeText()
    assert "not added" in dialog.informativeText() and not dialog.detailedText()
    dialog.close()
    qtbot.wait(200)
    assert window.controls.extra_views.paths() == [mirrored_astronaut]   # unchanged
    assert animator_views(window) == 1
    # Adding a listed file again changes nothing.
    window.add_extra_views([str(mirrored_astronaut)])
    qtbot.wait(200)
    assert window.controls.extra_views.list.count() == 1


def test_views_need_a_portrait_and_belong_to_it(qtbot, window, portrait_path, hopper_path,
                                                mirrored_astronaut):
    panel = window.controls.extra_views
    assert not panel.add_button.isEnabled() and not panel.list.isEnabled()
    assert "Open a portrait with a clear face first" in panel.list.placeholder
    wait_portrait(qtbot, window, portrait_path)
    assert panel.add_button.isEnabled() and panel.list.isEnabled()
    window.add_extra_views([str(mirrored_astronaut)])
    qtbot.waitUntil(lambda: panel.list.count() == 1, timeout=WAIT_MS)
    assert window.preview.session.extra_views[0].path == mirrored_astronaut
    wait_portrait(qtbot, window, hopper_path)       # another face: its views go
    qtbot.waitUntil(lambda: panel.list.count() == 0, timeout=WAIT_MS)
    assert window.preview.session.extra_views == ()
    assert "Extra views cleared" in window.statusBar().currentMessage()


def test_panel_highlights_the_view_in_use(qtbot):
    panel = ExtraViewsPanel()
    qtbot.addWidget(panel)
    thumb = np.zeros((96, 96, 3), np.uint8)
    panel.set_available(True)
    panel.set_views((ExtraView(Path("/x/open.png"), "open.png", thumb),
                     ExtraView(Path("/x/closed.png"), "closed.png", thumb)))
    assert panel.in_use_row() is None and panel.usage_label.text().endswith("the portrait")
    panel.show_weights(np.array([0.2, 0.1, 0.7]))
    assert panel.in_use_row() == 1 and panel.list.item(1).font().bold()
    assert panel.usage_label.text().endswith("the highlighted view")
    panel.show_weights(np.array([0.6, 0.3, 0.1]))
    assert panel.in_use_row() is None and not panel.list.item(1).font().bold()
    panel.show_weights(np.array([0.1, 0.9]))          # a frame from before a change: ignored
    assert panel.in_use_row() is None


def test_long_view_names_do_not_widen_the_side_panel(qtbot):
    from talkinghead_studio.qt.main_window import SIDE_PANEL_WIDTH

    panel = ExtraViewsPanel()
    qtbot.addWidget(panel)
    name = "a_very_long_file_name_of_an_extra_view_with_the_mouth_wide_open_2024.png"
    panel.set_available(True)
    panel.set_views((ExtraView(Path("/x") / name, name, np.zeros((96, 96, 3), np.uint8)),))
    panel.show_weights(np.array([0.1, 0.9]))
    assert panel.in_use_row() == 0
    assert panel.minimumSizeHint().width() < SIDE_PANEL_WIDTH - 20
