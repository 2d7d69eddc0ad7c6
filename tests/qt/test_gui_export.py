"""Export from the GUI: MP4 with audio, PNG sequence, GIF; progress, cancel, open."""
from __future__ import annotations

from pathlib import Path

import cv2
from PIL import Image
from PySide6.QtCore import Qt

from tests.qt.conftest import WAIT_MS, wait_driver, wait_portrait

EXPORT_WAIT_MS = 90_000


def export_via_dialog(qtbot, window, output: Path, fmt: str):
    """Open the export dialog, choose format and file, press Export."""
    dialog = window.choose_export()
    assert dialog is not None and dialog.isVisible()
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData(fmt))
    dialog.path_edit.setText(str(output))
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.render_dialog is not None, timeout=WAIT_MS)
    return window.render_dialog


def wait_done(qtbot, window, render_dialog):
    qtbot.waitUntil(lambda: render_dialog.result is not None or bool(window.errors.visible_dialogs()),
                    timeout=EXPORT_WAIT_MS)
    assert not window.errors.visible_dialogs(), window.errors.visible_dialogs()[0].informativeText()
    assert not window.exporting
    return render_dialog.result


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "partial" in p.name or p.name.startswith("."))


def test_export_mp4_keeps_audio_and_offers_to_open(qtbot, loaded_window, tmp_path, monkeypatch):
    opened = []
    monkeypatch.setattr("talkinghead_studio.qt.dialogs.QDesktopServices.openUrl",
                        lambda url: opened.append(url.toLocalFile()) or True)
    window = loaded_window
    output = tmp_path / "clip.mp4"
    render_dialog = export_via_dialog(qtbot, window, output, "mp4")
    result = wait_done(qtbot, window, render_dialog)
    assert result.output == output and output.is_file()
    capture = cv2.VideoCapture(str(output))
    frames = 0
    while capture.read()[0]:
        frames += 1
    assert frames == 24 and round(capture.get(cv2.CAP_PROP_FPS)) == 25
    capture.release()
    from talkinghead_studio.core.video import probe_video

    assert probe_video(output).has_audio                     # the driver's tone came along
    assert render_dialog.bar.value() == 24 and "Open it now?" in render_dialog.detail.text()
    qtbot.mouseClick(render_dialog.open_button, Qt.MouseButton.LeftButton)
    assert opened == [str(output)]
    assert window.settings.export_settings().format == "mp4"
    assert leftovers(tmp_path) == []


def test_export_png_sequence_with_alpha(qtbot, loaded_window, tmp_path):
    window = loaded_window
    folder = tmp_path / "frames"
    render_dialog = export_via_dialog(qtbot, window, folder, "png")
    result = wait_done(qtbot, window, render_dialog)
    assert result.output.is_dir() and result.output.name.endswith("_frames")
    files = sorted(result.output.glob("*.png"))
    assert len(files) == 24
    expected = "RGBA" if "mask" in window.generator.info.outputs else "RGB"
    with Image.open(files[0]) as first:
        assert first.mode == expected
        assert first.size == window.portrait_view.prepared.image.original_size


def test_export_gif(qtbot, loaded_window, tmp_path):
    window = loaded_window
    render_dialog = export_via_dialog(qtbot, window, tmp_path / "loop.gif", "gif")
    result = wait_done(qtbot, window, render_dialog)
    with Image.open(result.output) as gif:
        assert gif.format == "GIF" and gif.n_frames >= 20


def test_cancel_leaves_no_file(qtbot, window, portrait_path, long_driver_clip, tmp_path):
    wait_portrait(qtbot, window, portrait_path)
    wait_driver(qtbot, window, long_driver_clip)
    output = tmp_path / "cancelled.mp4"
    render_dialog = export_via_dialog(qtbot, window, output, "mp4")
    qtbot.waitUntil(lambda: render_dialog.bar.value() >= 5, timeout=EXPORT_WAIT_MS)
    assert "left" in render_dialog.detail.text()              # an ETA is shown
    qtbot.mouseClick(render_dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.exporting, timeout=WAIT_MS)
    assert not output.exists()
    assert leftovers(tmp_path) == []
    assert "cancelled" in window.statusBar().currentMessage()
    assert not window.errors.visible_dialogs()
    assert window.commands.export.isEnabled()                 # ready for another go


def test_export_to_unwritable_place_explains(qtbot, loaded_window, tmp_path):
    window = loaded_window
    render_dialog = export_via_dialog(qtbot, window, tmp_path / "missing" / "x.mp4", "mp4")
    qtbot.waitUntil(lambda: bool(window.errors.visible_dialogs()), timeout=EXPORT_WAIT_MS)
    dialog = window.errors.visible_dialogs()[-1]
    assert "Cannot save there" in dialog.text()
    assert "does not exist" in dialog.informativeText()
    assert not window.exporting and not render_dialog.isVisible()


def test_export_needs_portrait_and_driver(qtbot, window, portrait_path):
    assert not window.commands.export.isEnabled()
    wait_portrait(qtbot, window, portrait_path)
    assert not window.commands.export.isEnabled()
    assert window.choose_export() is None
