"""Settings persist; shortcuts and tooltips exist; the window fits 1280x720."""
from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QScrollBar,
    QWidget,
)

from talkinghead_studio.config import ExportSettings
from talkinghead_studio.qt.settings import AppSettings
from tests.qt.conftest import WAIT_MS


def test_preferences_persist_across_runs(qtbot, make_window, tmp_path, portrait_path):
    path = str(tmp_path / "prefs.ini")
    first = make_window(AppSettings(QSettings(path, QSettings.Format.IniFormat)))
    first.controls.size_combo.setCurrentIndex(first.controls.size_combo.findData(512))
    first.controls.provider_combo.setCurrentIndex(first.controls.provider_combo.findData("cpu"))
    first.commands.show_landmarks.setChecked(False)
    first.settings.set_export_settings(ExportSettings(format="gif", crf=23, keep_audio=False))
    first.settings.add_recent("portrait", portrait_path)
    first.resize(1300, 800)
    first.close()                 # idle: closes at once and saves
    saved = first.saveGeometry()
    second = make_window(AppSettings(QSettings(path, QSettings.Format.IniFormat)))
    assert second.settings.size == 512 and second.controls.size() == 512
    assert second.settings.provider == "cpu" and second.controls.provider() == "cpu"
    assert not second.commands.show_landmarks.isChecked()
    assert not second.result_canvas.overlay_visible
    export = second.settings.export_settings()
    assert (export.format, export.crf, export.keep_audio) == ("gif", 23, False)
    assert second.settings.recent("portrait")[0].endswith("astronaut.png")
    assert second.settings.last_dir("portrait") == str(portrait_path.parent.resolve())
    # The offscreen test screen is small, so Qt fits the restored window to it; what
    # matters here is that the geometry went to the settings and came back.
    assert second.settings.window_geometry() == saved


def test_bad_settings_values_fall_back(tmp_path):
    store = QSettings(str(tmp_path / "odd.ini"), QSettings.Format.IniFormat)
    store.setValue("render/size", "huge")
    store.setValue("render/provider", "quantum")
    store.setValue("export/format", "avi")
    settings = AppSettings(store)
    assert settings.size == 256 and settings.provider == "auto"
    assert settings.export_settings().format == "mp4"


def test_shortcuts(window):
    c = window.commands
    expected = {c.open_portrait: QKeySequence(QKeySequence.StandardKey.Open),
                c.open_driver: QKeySequence("Ctrl+D"), c.play: QKeySequence("Space"),
                c.step_forward: QKeySequence("Right"), c.step_back: QKeySequence("Left"),
                c.export: QKeySequence("Ctrl+E")}
    for action, key in expected.items():
        assert key in action.shortcuts(), action.text()


CONTROL_TYPES = (QAbstractButton, QAbstractSlider, QComboBox, QAbstractSpinBox, QLineEdit)


def controls_without_tooltip(root: QWidget) -> list[str]:
    missing = []
    for widget in root.findChildren(QWidget):
        if not isinstance(widget, CONTROL_TYPES) or isinstance(widget, QScrollBar):
            continue
        if not widget.isVisibleTo(root) or widget.objectName().startswith("qt_"):
            continue
        if not widget.toolTip():
            missing.append(f"{type(widget).__name__} {widget.objectName()!r} "
                           f"{getattr(widget, 'text', lambda: '')()!r}")
    return missing


def test_every_control_has_a_tooltip(qtbot, loaded_window):
    window = loaded_window
    assert controls_without_tooltip(window) == []
    for action in window.commands.all():
        assert action.toolTip() and action.toolTip() != action.text().replace("&", "")
    dialog = window.choose_export()
    assert controls_without_tooltip(dialog) == []
    dialog.reject()


def test_lays_out_at_1280x720(qtbot, loaded_window):
    window = loaded_window
    window.resize(1280, 720)
    qtbot.waitUntil(lambda: window.width() == 1280, timeout=WAIT_MS)
    hint = window.minimumSizeHint()
    assert hint.width() <= 1280 and hint.height() <= 720
    for canvas in (window.driver_canvas, window.result_canvas):
        assert canvas.width() >= 380 and canvas.height() >= 380, canvas.size()
    # The control panel fits without scrolling, and nothing is squeezed below its hint.
    panel = window.controls
    assert panel.parentWidget().height() >= panel.minimumSizeHint().height()
    # ... and never sideways: a wide control would push the sliders' values out of view.
    scroll = panel.parentWidget().parentWidget()
    assert not scroll.horizontalScrollBar().isVisible()
    assert panel.minimumSizeHint().width() <= scroll.viewport().width()
    assert window.transport.slider.width() >= 300
