"""Dialogs: errors (and the exception hook that feeds them), export options, render
progress, and yes/no questions.

Every dialog opens with ``open()`` (window-modal, no nested event loop), so the app
keeps painting and workers keep reporting while it is up, and tests can find and answer
it like a user would.
"""
from __future__ import annotations

import logging
import sys
import threading
import traceback
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from talkinghead_studio import errors
from talkinghead_studio.config import ExportSettings
from talkinghead_studio.core.pipeline import RenderProgress, RenderResult
from talkinghead_studio.qt.signals import emit

log = logging.getLogger(__name__)

# QMessageBox wraps its text at a narrow width; long advice reads better wider.
MESSAGE_STYLE = "QLabel#qt_msgbox_informativelabel { min-width: 420px; }"

_TITLES = (
    (errors.NoFaceFound, "No face found"),
    (errors.UnreadableVideo, "Cannot read this video"),
    (errors.UnreadableImage, "Cannot read this image"),
    (errors.InputFileError, "Cannot open this file"),
    (errors.OutputPathError, "Cannot save there"),
    (errors.GeneratorContractError, "Problem with the generator model"),
    (errors.ProviderError, "Provider not available"),
    (errors.NoCameraFound, "No camera"),
    (errors.StudioError, "Cannot do that"),
)


def error_title(error: BaseException) -> str:
    for kind, title in _TITLES:
        if isinstance(error, kind):
            return title
    return "Unexpected error"


def error_message(error: BaseException) -> str:
    """What the dialog says. StudioErrors carry their own advice; anything else is a bug."""
    if isinstance(error, errors.StudioError):
        return str(error)
    return (f"Something went wrong inside Talking-Head Studio ({type(error).__name__}: "
            f"{error}). Your files were not changed. You can keep working; if it happens "
            f"again, please report it with the details below.")


class ErrorPresenter(QObject):
    """Shows errors in dialogs. ``report`` may be emitted from any thread."""

    report = Signal(object, str)    # exception, details ("" for StudioErrors)

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._parent = parent
        self.dialogs: list[QMessageBox] = []
        self.report.connect(self.show)   # queued when emitted from another thread

    def show(self, error: BaseException, details: str = "") -> QMessageBox | None:
        message = error_message(error)
        if any(d.isVisible() and d.informativeText() == message for d in self.dialogs):
            return None   # the same error twice in a row: one dialog is enough
        unexpected = not isinstance(error, errors.StudioError)
        box = QMessageBox(self._parent)
        box.setObjectName("errorDialog")
        box.setWindowTitle("Talking-Head Studio")
        box.setIcon(QMessageBox.Icon.Critical if unexpected else QMessageBox.Icon.Warning)
        box.setText(f"<b>{error_title(error)}</b>")
        box.setInformativeText(message)
        box.setStyleSheet(MESSAGE_STYLE)
        if details:
            box.setDetailedText(details)
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _=None, b=box: self._forget(b))
        self.dialogs.append(box)
        box.open()
        return box

    def _forget(self, box: QMessageBox) -> None:
        if box in self.dialogs:
            self.dialogs.remove(box)

    def visible_dialogs(self) -> list[QMessageBox]:
        return [d for d in self.dialogs if d.isVisible()]


def install_exception_hooks(presenter: ErrorPresenter) -> Callable[[], None]:
    """Route uncaught exceptions from every thread to an error dialog with details.

    Returns a function that restores the previous hooks.
    """
    previous_sys, previous_thread = sys.excepthook, threading.excepthook

    def show(exc_type, exc, tb) -> None:
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        log.error("uncaught exception:\n%s", details)
        try:
            emit(presenter.report, exc, details)
        except RuntimeError:   # the window is already gone (during shutdown)
            previous_sys(exc_type, exc, tb)

    def sys_hook(exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            previous_sys(exc_type, exc, tb)
            return
        show(exc_type, exc, tb)

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        show(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = sys_hook
    threading.excepthook = thread_hook

    def restore() -> None:
        sys.excepthook, threading.excepthook = previous_sys, previous_thread

    return restore


def ask(parent: QWidget, title: str, text: str, yes: str,
        on_yes: Callable[[], None]) -> QMessageBox:
    """A non-blocking yes/no question; ``on_yes`` runs if the user agrees."""
    box = QMessageBox(QMessageBox.Icon.Question, "Talking-Head Studio", f"<b>{title}</b>",
                      QMessageBox.StandardButton.NoButton, parent)
    box.setObjectName("confirmDialog")
    box.setInformativeText(text)
    box.setStyleSheet(MESSAGE_STYLE)
    agree = box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Cancel", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(agree)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.buttonClicked.connect(lambda button: on_yes() if button is agree else None)
    box.open()
    return box


# --------------------------------------------------------------------------- export

FORMAT_CHOICES = (
    ("mp4", "MP4 video (H.264)", ".mp4"),
    ("png", "PNG sequence (folder; alpha where the generator gives a mask)", ""),
    ("gif", "Animated GIF", ".gif"),
)


def output_for_format(path: str, fmt: str) -> str:
    """The path with the extension the format needs (a PNG sequence is a folder)."""
    if not path:
        return path
    suffix = dict((f, s) for f, _, s in FORMAT_CHOICES)[fmt]
    base = Path(path)
    if base.suffix.lower() in (".mp4", ".gif"):
        base = base.with_suffix("")
    if fmt == "png":
        name = base.name if base.name.endswith("_frames") else f"{base.name}_frames"
        return str(base.with_name(name))
    if base.name.endswith("_frames"):
        base = base.with_name(base.name[: -len("_frames")])
    return str(base) + suffix


class ExportDialog(QDialog):
    """Export options: format, output path, quality, audio and watermark."""

    def __init__(self, parent: QWidget, settings: ExportSettings, default_output: str,
                 has_audio: bool, has_mask: bool) -> None:
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle("Export")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        layout.addLayout(form)
        self.format_combo = QComboBox(self)
        self.format_combo.setToolTip("File type to write")
        for value, label, _ in FORMAT_CHOICES:
            self.format_combo.addItem(label, value)
        form.addRow("Format", self.format_combo)
        form.addRow("Save as", self._path_row(default_output))
        self.crf = QSpinBox(self)
        self.crf.setRange(0, 51)
        self.crf.setValue(settings.crf)
        self.crf.setToolTip("H.264 quality (CRF): lower is better and larger; 18 looks "
                            "lossless to most eyes")
        form.addRow("Quality (CRF)", self.crf)
        self.keep_audio = QCheckBox("Keep the driver's audio", self)
        self.keep_audio.setChecked(settings.keep_audio and has_audio)
        self.keep_audio.setEnabled(has_audio)
        self.keep_audio.setToolTip("Copy the driver video's sound into the MP4" if has_audio
                                   else "The driver has no audio track")
        form.addRow("", self.keep_audio)
        self.watermark = QCheckBox("Invisible provenance watermark", self)
        self.watermark.setChecked(settings.watermark)
        self.watermark.setToolTip("Marks the frames as synthetic in a way viewers cannot see "
                                  "and detectors can read back. Recommended")
        form.addRow("", self.watermark)
        self.alpha_note = QLabel("" if has_mask else
                                 "This generator gives no mask: PNGs will be opaque.", self)
        self.alpha_note.setWordWrap(True)
        layout.addWidget(self.alpha_note)
        buttons = QDialogButtonBox(self)
        self.export_button = buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setToolTip("Start rendering (Enter)")
        cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.setToolTip("Close without exporting (Esc)")
        buttons.accepted.connect(self._accept_if_valid)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.format_combo.currentIndexChanged.connect(self._format_changed)
        self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(settings.format)))
        self._format_changed()

    def _path_row(self, default_output: str) -> QWidget:
        row = QWidget(self)
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        self.path_edit = QLineEdit(default_output, row)
        self.path_edit.setToolTip("Where the export is written. An existing file is replaced "
                                  "only when the export has finished")
        browse = QPushButton("Browse…", row)
        browse.setToolTip("Choose the output file")
        browse.clicked.connect(self._browse)
        layout.addWidget(self.path_edit, 1)
        layout.addWidget(browse)
        return row

    def _format_changed(self) -> None:
        fmt = self.format()
        self.crf.setEnabled(fmt == "mp4")
        self.keep_audio.setVisible(fmt == "mp4")
        self.alpha_note.setVisible(fmt == "png" and bool(self.alpha_note.text()))
        self.path_edit.setText(output_for_format(self.path_edit.text(), fmt))

    def _browse(self) -> None:
        fmt = self.format()
        current = self.path_edit.text()
        if fmt == "png":
            chosen, _ = QFileDialog.getSaveFileName(self, "PNG sequence folder", current,
                                                    "Folder name (*)")
        else:
            pattern = "MP4 video (*.mp4)" if fmt == "mp4" else "GIF (*.gif)"
            chosen, _ = QFileDialog.getSaveFileName(self, "Export as", current, pattern)
        if chosen:
            self.path_edit.setText(output_for_format(chosen, fmt))

    def _accept_if_valid(self) -> None:
        text = self.path_edit.text().strip()
        if not text:
            self.path_edit.setFocus()
            self.path_edit.setPlaceholderText("Choose where to save the export")
            return
        self.path_edit.setText(output_for_format(text, self.format()))
        self.accept()

    def format(self) -> str:
        return str(self.format_combo.currentData())

    def output_path(self) -> Path:
        return Path(self.path_edit.text().strip()).expanduser()

    def settings(self) -> ExportSettings:
        return ExportSettings(format=self.format(), crf=self.crf.value(),
                              keep_audio=self.keep_audio.isChecked(),
                              watermark=self.watermark.isChecked())


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


class RenderDialog(QDialog):
    """Progress, ETA and Cancel while exporting; Open / Show in folder when done.

    Not modal: the main window stays usable (and closable, which asks first).
    """

    cancel_requested = Signal()

    def __init__(self, parent: QWidget, output: Path) -> None:
        super().__init__(parent)
        self.setObjectName("renderDialog")
        self.setWindowTitle("Exporting")
        self.setMinimumWidth(460)
        self.output = output
        self.result: RenderResult | None = None
        layout = QVBoxLayout(self)
        self.heading = QLabel(f"Exporting <b>{output.name}</b>", self)
        layout.addWidget(self.heading)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 0)   # busy until the first progress report
        self.bar.setToolTip("Frames rendered so far")
        layout.addWidget(self.bar)
        self.detail = QLabel("Starting…", self)
        self.detail.setToolTip("Progress, render speed and estimated time left")
        layout.addWidget(self.detail)
        self.buttons = QDialogButtonBox(self)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setToolTip("Stop the export; no file is written (Esc)")
        self.cancel_button.clicked.connect(self._cancel)
        layout.addWidget(self.buttons)
        self._done_buttons: list[QPushButton] = []

    def _cancel(self) -> None:
        self.cancel_button.setEnabled(False)
        self.detail.setText("Cancelling…")
        emit(self.cancel_requested)

    def reject(self) -> None:
        """Esc or the window's close button: cancel while running, close when done."""
        if self.result is None:
            if self.cancel_button.isEnabled():
                self._cancel()
            return
        super().reject()

    def set_progress(self, update: RenderProgress) -> None:
        self.bar.setRange(0, max(1, update.total))
        self.bar.setValue(update.done)
        self.detail.setText(
            f"Frame {update.done} of {update.total}  ·  {update.fps:.1f} fps  ·  "
            f"about {format_duration(update.eta_seconds)} left")

    def show_done(self, result: RenderResult) -> None:
        self.result = result
        self.setWindowTitle("Export finished")
        self.heading.setText(f"Saved <b>{result.output.name}</b>")
        self.bar.setRange(0, max(1, result.frames))
        self.bar.setValue(result.frames)
        self.detail.setText(f"{result.frames} frames in {format_duration(result.seconds)} on "
                            f"{result.provider}. Open it now?")
        self.detail.setToolTip(str(result.output))
        self.cancel_button.hide()
        self.open_button = self._add_done_button("Open", "Open the export in your player",
                                                 lambda: self._open(result.output))
        self._add_done_button("Show in folder", "Open the folder that holds the export",
                              lambda: self._open(result.output.parent))
        close = self._add_done_button("Close", "Close this window", self.accept)
        self.open_button.setDefault(True)
        close.setAutoDefault(False)

    def _add_done_button(self, text: str, tip: str, slot) -> QPushButton:
        button = self.buttons.addButton(text, QDialogButtonBox.ButtonRole.ActionRole)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        self._done_buttons.append(button)
        return button

    def _open(self, path: Path) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
        self.accept()
