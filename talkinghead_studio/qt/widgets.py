"""Widgets of the main window: image canvases, the transport bar, the control panel and
its list of extra views.

They hold no engine state: they show what they are given and say what the user asked
for through typed signals. The main window connects them to the preview worker.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QFont, QIcon, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from talkinghead_studio.config import MotionSettings, RegionStrengths
from talkinghead_studio.core.images import is_image_path
from talkinghead_studio.core.preview import ExtraView
from talkinghead_studio.qt.signals import emit

CANVAS_BACKGROUND = QColor(30, 31, 34)
OVERLAY_POINTS = QColor(80, 230, 140, 200)
OVERLAY_BOX = QColor(255, 200, 60, 220)
THROTTLE_MS = 50   # live controls send at most ~20 updates a second while dragged
VIEW_ICON_SIDE = 48
VIEW_IN_USE = QColor(80, 230, 140, 70)
VIEWS_TOOLTIP = ("Other pictures of the same face — mouth open, eyes closed, another "
                 "angle. Where one matches the driver's expression better than the "
                 "portrait, its real pixels are used.")


def is_still_picture(path: str | Path) -> bool:
    """A picture file a portrait or an extra view can come from (a GIF is a driver)."""
    return is_image_path(path) and Path(path).suffix.lower() != ".gif"


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """HxWx3 uint8 RGB -> QImage that shares the array's memory (keep the array alive)."""
    rgb = np.ascontiguousarray(rgb)
    height, width = rgb.shape[:2]
    return QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888)


class ImageCanvas(QWidget):
    """Shows one RGB image (or a part of it: set_view_box) fitted to the widget, an
    optional landmark overlay, a title and a message (the placeholder when empty, a
    banner over the picture otherwise)."""

    def __init__(self, title: str, placeholder: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = title
        self.placeholder = placeholder
        self.banner: str | None = None
        self.overlay_visible = True
        self._array: np.ndarray | None = None   # keeps the QImage's memory alive
        self._image: QImage | None = None
        self._points: np.ndarray | None = None
        self._box: tuple[float, float, float, float] | None = None
        self._view_box: tuple[float, float, float, float] | None = None
        self.setMinimumSize(240, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    # ------------------------------------------------------------------------ content
    def set_image(self, rgb: np.ndarray | None) -> None:
        self._array = None if rgb is None else np.ascontiguousarray(rgb)
        self._image = None if rgb is None else rgb_to_qimage(self._array)
        self.update()

    def set_overlay(self, points: np.ndarray | None,
                    box: tuple[float, float, float, float] | None = None) -> None:
        """points: Nx2 float32 in the image's pixels; box: (x0, y0, x1, y1) pixels."""
        self._points, self._box = points, box
        self.update()

    def set_view_box(self, box: tuple[float, float, float, float] | None) -> None:
        """Show only this part of the image, (x0, y0, x1, y1) in its pixels (a close-up;
        parts outside the image stay background). None shows the whole image."""
        self._view_box = box
        self.update()

    @property
    def view_box(self) -> tuple[float, float, float, float] | None:
        return self._view_box

    def set_overlay_visible(self, visible: bool) -> None:
        self.overlay_visible = visible
        self.update()

    def set_banner(self, text: str | None) -> None:
        self.banner = text
        self.update()

    def set_placeholder(self, text: str) -> None:
        self.placeholder = text
        self.update()

    @property
    def has_image(self) -> bool:
        return self._image is not None

    @property
    def overlay_points(self) -> np.ndarray | None:
        return self._points

    @property
    def image_array(self) -> np.ndarray | None:
        return self._array

    # ----------------------------------------------------------------------- painting
    def source_rect(self) -> QRectF:
        """The part of the image shown, in image pixels: all of it, or the view box."""
        if self._image is None:
            return QRectF()
        if self._view_box is not None:
            x0, y0, x1, y1 = self._view_box
            return QRectF(x0, y0, x1 - x0, y1 - y0)
        return QRectF(0, 0, self._image.width(), self._image.height())

    def image_rect(self) -> QRectF:
        """Where the shown part of the image is drawn: fitted, centred, aspect kept."""
        source = self.source_rect()
        if source.isEmpty():
            return QRectF()
        area = QRectF(self.rect()).adjusted(4, 26, -4, -4)
        scale = min(area.width() / source.width(), area.height() / source.height())
        width, height = source.width() * scale, source.height() * scale
        return QRectF(area.center().x() - width / 2, area.center().y() - height / 2,
                      width, height)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), CANVAS_BACKGROUND)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self._image is not None:
            target, source = self.image_rect(), self.source_rect()
            # Qt clips a source rectangle that leaves the image, and the target with it.
            painter.drawImage(target, self._image, source)
            if self.overlay_visible:
                painter.save()
                painter.setClipRect(target)
                self._paint_overlay(painter, target, source)
                painter.restore()
        self._paint_title(painter)
        message = self.banner if self._image is not None else self.placeholder
        if message:
            self._paint_message(painter, message, centred=self._image is None)
        painter.end()

    def _paint_overlay(self, painter: QPainter, target: QRectF, source: QRectF) -> None:
        scale = target.width() / source.width()
        left, top = target.x() - source.x() * scale, target.y() - source.y() * scale
        if self._box is not None:
            x0, y0, x1, y1 = self._box
            painter.setPen(QPen(OVERLAY_BOX, 1.5))
            painter.drawRect(QRectF(left + x0 * scale, top + y0 * scale,
                                    (x1 - x0) * scale, (y1 - y0) * scale))
        if self._points is not None:
            painter.setPen(QPen(OVERLAY_POINTS, 2.0))
            painter.drawPoints([QPointF(left + x * scale, top + y * scale)
                                for x, y in self._points[:, :2]])

    def _paint_title(self, painter: QPainter) -> None:
        painter.setPen(QColor(200, 200, 205))
        font = QFont(self.font())
        font.setBold(True)
        painter.setFont(font)
        painter.drawText(QRectF(10, 4, self.width() - 20, 20),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.title)

    def _paint_message(self, painter: QPainter, text: str, centred: bool) -> None:
        painter.setFont(self.font())
        width = min(self.width() - 40, 420)
        flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
        bounds = painter.boundingRect(QRectF(0, 0, width, 400), flags, text)
        box = QRectF(0, 0, width, bounds.height() + 20)
        if centred:
            box.moveCenter(QRectF(self.rect()).center())
        else:   # a banner sits at the bottom, over the picture, and hides little of it
            box.moveCenter(QPointF(self.width() / 2, self.height() - box.height() / 2 - 12))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 170))
        painter.drawRoundedRect(box, 8, 8)
        painter.setPen(QColor(235, 235, 240))
        painter.drawText(box, flags, text)


class TransportBar(QWidget):
    """Play/pause, step buttons, a timeline slider and the time readout.

    The buttons show the main window's actions, so shortcuts and tooltips live in one
    place. seek_requested fires while the user drags the slider.
    """

    seek_requested = Signal(int)

    def __init__(self, play: QAction, back: QAction, forward: QAction,
                 parent: QWidget | None = None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        for action in (back, play, forward):
            button = QToolButton(self)
            button.setDefaultAction(action)
            button.setAutoRaise(True)
            layout.addWidget(button)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setObjectName("timeline")
        self.slider.setToolTip("Timeline: drag to scrub through the driver")
        self.slider.setEnabled(False)
        self.slider.valueChanged.connect(self._slider_moved)
        layout.addWidget(self.slider, 1)
        self.time_label = QLabel("–", self)
        self.time_label.setToolTip("Current driver frame / frame count, and time")
        self.time_label.setMinimumWidth(150)
        self.time_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self.time_label)
        self._fps = 25.0
        self._count = 0
        self._live = False

    def set_driver(self, frame_count: int | None, fps: float) -> None:
        """A file driver (frame_count frames), a live camera (None) or nothing (0)."""
        self._fps = fps or 25.0
        self._live = frame_count is None
        self._count = frame_count or 0
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, self._count - 1))
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self.slider.setEnabled(self._count > 1)
        self.time_label.setText("Live" if self._live else self._describe(0))

    def set_position(self, index: int | None) -> None:
        if index is None or self._live:
            return
        self.slider.blockSignals(True)   # our own update is not a user seek
        self.slider.setValue(index)
        self.slider.blockSignals(False)
        self.time_label.setText(self._describe(index))

    def _describe(self, index: int) -> str:
        if self._count == 0:
            return "–"
        seconds = index / self._fps
        return f"{index + 1} / {self._count}   {int(seconds // 60)}:{seconds % 60:05.2f}"

    def _slider_moved(self, value: int) -> None:
        self.time_label.setText(self._describe(value))
        emit(self.seek_requested, value)


class StrengthSlider(QWidget):
    """A 0..150 % slider with its value shown beside it."""

    changed = Signal()

    def __init__(self, tooltip: str, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(0, 150)
        self.slider.setValue(100)
        self.slider.setPageStep(10)
        self.slider.setToolTip(tooltip)
        self.label = QLabel("100 %", self)
        self.label.setMinimumWidth(44)
        self.label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.label.setToolTip(tooltip)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.label)
        self.slider.valueChanged.connect(self._on_change)

    def _on_change(self, value: int) -> None:
        self.label.setText(f"{value} %")
        emit(self.changed)

    def value(self) -> float:
        return self.slider.value() / 100.0

    def set_value(self, fraction: float) -> None:
        self.slider.setValue(round(fraction * 100))


def _dropped_pictures(mime: QMimeData) -> list[str]:
    if not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls()
            if url.isLocalFile() and is_still_picture(url.toLocalFile())]


def _icon(rgb: np.ndarray) -> QIcon:
    """A QIcon that owns a copy of an HxWx3 uint8 RGB picture."""
    return QIcon(QPixmap.fromImage(rgb_to_qimage(rgb).copy()))


class ViewList(QListWidget):
    """The extra views, a thumbnail and a name per row. Picture files dropped on it are
    offered through files_dropped; Delete asks to remove the selected rows."""

    files_dropped = Signal(list)      # list[str] of picture paths
    delete_pressed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("extraViews")
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setIconSize(QSize(VIEW_ICON_SIDE, VIEW_ICON_SIDE))
        self.setUniformItemSizes(True)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setMinimumHeight(2 * VIEW_ICON_SIDE + 16)
        # Take the height the controls above leave, not a fixed preferred height that
        # would push the panel into scrolling at 720 px.
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Ignored)
        self.placeholder = ""

    def set_placeholder(self, text: str) -> None:
        self.placeholder = text
        self.viewport().update()

    # Drops: only picture files; anything else goes on to the window.
    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if _dropped_pictures(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt name)
        paths = _dropped_pictures(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        emit(self.files_dropped, paths)

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.selectedItems():
            emit(self.delete_pressed)
            return
        super().keyPressEvent(event)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().paintEvent(event)
        if self.count() or not self.placeholder:
            return
        painter = QPainter(self.viewport())
        painter.setPen(self.palette().color(self.palette().ColorRole.PlaceholderText))
        painter.drawText(QRectF(self.viewport().rect()).adjusted(10, 6, -10, -6),
                         Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                         self.placeholder)
        painter.end()


class ExtraViewsPanel(QGroupBox):
    """Extra views of the portrait's face (few-shot references): list, Add…, Remove.

    The list only shows what the preview worker says is in use (set_views); requests
    go out as signals, so a view with no face never appears in it.
    """

    add_requested = Signal()
    files_dropped = Signal(list)        # list[str] of picture paths
    remove_requested = Signal(list)     # list[Path] of listed views

    EMPTY_HINT = ("Optional: drop other pictures of the same face here (mouth open, "
                  "eyes closed, …) or press Add…")
    NO_PORTRAIT_HINT = ("Open a portrait with a clear face first; then add other pictures "
                        "of that face here.")

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Extra views", parent)
        self.setToolTip(VIEWS_TOOLTIP)
        self._in_use: int | None = None       # row highlighted as the face's main source
        layout = QVBoxLayout(self)
        self.list = ViewList(self)
        self.list.setToolTip(VIEWS_TOOLTIP)
        self.list.files_dropped.connect(lambda paths: emit(self.files_dropped, paths))
        self.list.delete_pressed.connect(self._remove_selected)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        layout.addWidget(self.list, 1)
        self.usage_label = QLabel("", self)
        self.usage_label.setToolTip("Which picture the animated face is mostly drawn from "
                                    "right now (highlighted in the list)")
        self.usage_label.setWordWrap(True)     # never widens the side panel
        self.usage_label.setVisible(False)
        layout.addWidget(self.usage_label)
        row = QHBoxLayout()
        self.add_button = QPushButton("Add…", self)
        self.add_button.setToolTip("Add other pictures of the portrait's face (you can also "
                                   "drop them on the list)")
        self.add_button.clicked.connect(lambda: emit(self.add_requested))
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.setToolTip("Stop using the selected views (Delete)")
        self.remove_button.clicked.connect(self._remove_selected)
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        layout.addLayout(row)
        self.set_available(False)

    def set_available(self, available: bool, why_not: str = NO_PORTRAIT_HINT) -> None:
        """Whether views can be added and removed now; ``why_not`` shows in the empty
        list when they cannot."""
        self.list.setEnabled(available)
        self.add_button.setEnabled(available)
        self.list.set_placeholder(self.EMPTY_HINT if available else why_not)
        self._update_buttons()

    def set_views(self, views: tuple[ExtraView, ...]) -> None:
        self.list.clear()
        for view in views:
            item = QListWidgetItem(_icon(view.thumbnail), view.name)
            item.setData(Qt.ItemDataRole.UserRole, str(view.path))
            item.setToolTip(f"{view.path}\nShown as aligned to the portrait: the part of "
                            f"it the generator uses")
            self.list.addItem(item)
        self._in_use = None
        self.usage_label.setText("")
        self.usage_label.setVisible(bool(views))
        self.show_weights(None)
        self._update_buttons()

    def paths(self) -> list[Path]:
        return [Path(self.list.item(row).data(Qt.ItemDataRole.UserRole))
                for row in range(self.list.count())]

    def in_use_row(self) -> int | None:
        """The highlighted row (the view the face is mostly drawn from), if any."""
        return self._in_use

    def show_weights(self, weights: np.ndarray | None) -> None:
        """Highlight the view the face is mostly drawn from (weights: portrait first).
        Touches widgets only when that view changes, so it costs nothing per frame."""
        row = None
        if weights is not None and len(weights) == self.list.count() + 1:
            best = int(np.argmax(weights))
            row = best - 1 if best > 0 else None
        elif weights is not None:
            return   # a frame from before the list changed
        if row == self._in_use and self.usage_label.text():
            return
        for index in range(self.list.count()):
            item = self.list.item(index)
            font = item.font()
            font.setBold(index == row)
            item.setFont(font)
            item.setData(Qt.ItemDataRole.BackgroundRole, VIEW_IN_USE if index == row else None)
        self._in_use = row
        source = "the portrait" if row is None else "the highlighted view"
        self.usage_label.setText(f"Face drawn from: {source}")

    def _remove_selected(self) -> None:
        paths = [Path(item.data(Qt.ItemDataRole.UserRole)) for item in self.list.selectedItems()]
        if paths:
            emit(self.remove_requested, paths)

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(self.list.isEnabled() and bool(self.list.selectedItems()))


class ControlPanel(QWidget):
    """Live controls. Emits motion_changed (throttled) with a MotionSettings built from
    the widgets, and size_changed / provider_changed for the render settings. Its
    extra_views panel has signals of its own."""

    motion_changed = Signal(object)    # MotionSettings
    size_changed = Signal(int)
    glasses_changed = Signal(bool)     # keep glasses frames rigid
    provider_changed = Signal(str)     # "auto" | "cpu" | "cuda"

    CAMERA_MODES = (
        ("Fixed", "fixed", "The head moves as the driver's face moved on screen, camera "
                           "moves included"),
        ("Steady", "steady", "The driver's camera motion is taken out: the head keeps its "
                             "place on the body and the picture stays still"),
        ("Follow", "follow", "The head keeps its place on the body and the whole picture "
                             "pans and zooms as the driver's camera did"),
    )

    REGIONS = (
        ("pose", "Head pose", "How much of the driver's head turn, tilt and sway to use"),
        ("brows", "Brows", "How much of the driver's eyebrow motion to use"),
        ("eyes", "Eyes", "How much of the driver's blinks and eye motion to use"),
        ("mouth", "Mouth", "How much of the driver's mouth motion to use"),
    )

    def __init__(self, neutral: QAction, auto_neutral: QAction, parent: QWidget | None = None):
        super().__init__(parent)
        self._neutral_frame: int | None = None
        self._camera_moves = False       # the driver's camera moves (background tracker)
        self._pending = False
        self._throttle = QTimer(self)
        self._throttle.setSingleShot(True)
        self._throttle.setInterval(THROTTLE_MS)
        self._throttle.timeout.connect(self._flush)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self._motion_group(neutral, auto_neutral))
        layout.addWidget(self._output_group())
        self.extra_views = ExtraViewsPanel(self)
        layout.addWidget(self.extra_views, 1)     # the list takes the height left

    # ---------------------------------------------------------------------- building
    def _motion_group(self, neutral: QAction, auto_neutral: QAction) -> QGroupBox:
        group = QGroupBox("Motion", self)
        grid = QGridLayout(group)
        self.relative = QRadioButton("Relative", group)
        self.relative.setToolTip("Relative: the portrait keeps its own face and copies how "
                                 "the driver's face moves from its neutral pose")
        self.absolute = QRadioButton("Absolute", group)
        self.absolute.setToolTip("Absolute: the portrait takes on the driver's face shape "
                                 "and pose frame by frame")
        self.relative.setChecked(True)
        modes = QButtonGroup(group)
        modes.addButton(self.relative)
        modes.addButton(self.absolute)
        modes.buttonToggled.connect(lambda *_: self._schedule())
        row = QHBoxLayout()
        row.addWidget(self.relative)
        row.addWidget(self.absolute)
        row.addStretch(1)
        grid.addLayout(row, 0, 0, 1, 2)
        self.strengths: dict[str, StrengthSlider] = {}
        for line, (key, label, tip) in enumerate(self.REGIONS, start=1):
            slider = StrengthSlider(tip, group)
            slider.changed.connect(self._schedule)
            self.strengths[key] = slider
            grid.addWidget(QLabel(label, group), line, 0)
            grid.addWidget(slider, line, 1)
        self.smoothing = QSlider(Qt.Orientation.Horizontal, group)
        self.smoothing.setRange(0, 100)
        self.smoothing.setValue(50)
        self.smoothing.setToolTip("Smoothing: removes landmark jitter; high values also "
                                  "soften fast motion")
        self.smoothing.valueChanged.connect(self._schedule)
        grid.addWidget(QLabel("Smoothing", group), 5, 0)
        grid.addWidget(self.smoothing, 5, 1)
        self.camera_combo = QComboBox(group)
        for index, (label, value, tip) in enumerate(self.CAMERA_MODES):
            self.camera_combo.addItem(label, value)
            self.camera_combo.setItemData(index, tip, Qt.ItemDataRole.ToolTipRole)
        self.camera_combo.setToolTip(
            "What a moving camera in the driver video (a pan, a zoom, a handheld shake) "
            "does, read from the driver's background. Fixed: nothing; the head moves as "
            "the face moved on screen. Steady: the camera's motion is taken out, so the "
            "head keeps its place on the body. Follow: the same, and the whole picture "
            "moves as the camera did. Video files and motion tracks only, not a live "
            "camera.")
        self.camera_combo.currentIndexChanged.connect(lambda _: self._schedule())
        self.camera_combo.currentIndexChanged.connect(lambda _: self._update_camera_note())
        grid.addWidget(QLabel("Camera", group), 6, 0)
        grid.addWidget(self.camera_combo, 6, 1)
        self.camera_note = QLabel("This driver's camera moves: Steady keeps the head on "
                                  "the body.", group)
        self.camera_note.setWordWrap(True)
        self.camera_note.setToolTip("Found in the driver's background: a pan, a zoom or a "
                                    "handheld shake")
        self.camera_note.setVisible(False)
        grid.addWidget(self.camera_note, 7, 0, 1, 2)
        grid.addLayout(self._neutral_row(group, neutral, auto_neutral), 8, 0, 1, 2)
        self.neutral_label = QLabel("Neutral pose: automatic", group)
        self.neutral_label.setToolTip("The driver frame whose expression counts as "
                                      "'no motion' for the portrait")
        grid.addWidget(self.neutral_label, 9, 0, 1, 2)
        reset = QPushButton("Reset motion controls", group)
        reset.setToolTip("Set mode, strengths, smoothing and camera back to their defaults")
        reset.clicked.connect(self.reset)
        grid.addWidget(reset, 10, 0, 1, 2)
        return group

    def _neutral_row(self, parent, neutral: QAction, auto_neutral: QAction) -> QHBoxLayout:
        row = QHBoxLayout()
        for action in (neutral, auto_neutral):
            button = QToolButton(parent)
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            row.addWidget(button)
        return row

    def _output_group(self) -> QGroupBox:
        group = QGroupBox("Output", self)
        form = QFormLayout(group)
        self.size_combo = QComboBox(group)
        self.size_combo.setToolTip("Generator working size: 512 is sharper, 256 is faster")
        self.size_combo.currentIndexChanged.connect(
            lambda _: emit(self.size_changed, self.size()))
        form.addRow("Size", self.size_combo)
        self.provider_combo = QComboBox(group)
        self.provider_combo.setToolTip("Where the generator runs. The status bar shows the "
                                       "provider really in use")
        for label, value in (("Automatic", "auto"), ("CPU", "cpu"), ("CUDA (NVIDIA GPU)", "cuda")):
            self.provider_combo.addItem(label, value)
        self.provider_combo.currentIndexChanged.connect(
            lambda _: emit(self.provider_changed, self.provider()))
        form.addRow("Provider", self.provider_combo)
        self.glasses_check = QCheckBox("Keep glasses rigid", group)
        self.glasses_check.setChecked(True)
        self.glasses_check.setToolTip(
            "When the portrait wears glasses, their frames move with the head only and do "
            "not bend when the eyes blink. Turn off if something else was taken for glasses.")
        self.glasses_check.toggled.connect(lambda on: emit(self.glasses_changed, bool(on)))
        form.addRow("", self.glasses_check)
        self.set_sizes((256, 512), 256)
        return group

    # ------------------------------------------------------------------------ values
    def set_sizes(self, sizes, current: int) -> None:
        self.size_combo.blockSignals(True)
        self.size_combo.clear()
        for size in sizes:
            self.size_combo.addItem(f"{size} px", int(size))
        index = self.size_combo.findData(int(current))
        self.size_combo.setCurrentIndex(max(0, index))
        self.size_combo.blockSignals(False)

    def size(self) -> int:
        return int(self.size_combo.currentData() or 256)

    def set_provider(self, provider: str, cuda_offered: bool) -> None:
        self.provider_combo.blockSignals(True)
        item = self.provider_combo.model().item(2)
        item.setEnabled(cuda_offered)
        if not cuda_offered:
            item.setToolTip("No CUDA-capable onnxruntime or NVIDIA GPU found on this machine")
            provider = "auto" if provider == "cuda" else provider
        self.provider_combo.setCurrentIndex(max(0, self.provider_combo.findData(provider)))
        self.provider_combo.blockSignals(False)

    def provider(self) -> str:
        return str(self.provider_combo.currentData())

    def motion(self) -> MotionSettings:
        strengths = RegionStrengths(**{k: s.value() for k, s in self.strengths.items()})
        return MotionSettings(mode="absolute" if self.absolute.isChecked() else "relative",
                              neutral_frame=self._neutral_frame, strengths=strengths,
                              smoothing=self.smoothing.value() / 100.0,
                              camera=self.camera_combo.currentData())

    def set_neutral_frame(self, index: int | None, live: bool = False) -> None:
        """Shown, and carried into motion(); no signal (the worker already knows)."""
        self._neutral_frame = None if live else index
        if index is None and not live:
            text = "Neutral pose: automatic"
        elif live:
            text = "Neutral pose: the camera frame you picked"
        else:
            text = f"Neutral pose: driver frame {index + 1}"
        self.neutral_label.setText(text)

    def reset(self) -> None:
        defaults = MotionSettings()
        self.relative.setChecked(True)
        for key, slider in self.strengths.items():
            slider.set_value(getattr(defaults.strengths, key))
        self.smoothing.setValue(round(defaults.smoothing * 100))
        self.set_camera_mode(defaults.camera)

    def show_camera_note(self, camera_moves: bool) -> None:
        """Say so when the driver's camera moves and the camera mode is Fixed."""
        self._camera_moves = bool(camera_moves)
        self._update_camera_note()

    def _update_camera_note(self) -> None:
        fixed = self.camera_combo.currentData() == "fixed"
        self.camera_note.setVisible(self._camera_moves and fixed)

    def set_camera_mode(self, mode: str) -> None:
        self.camera_combo.setCurrentIndex(max(0, self.camera_combo.findData(mode)))

    # -------------------------------------------------------------------- throttling
    def _schedule(self) -> None:
        """Send now if nothing was sent in the last THROTTLE_MS, else once it has passed:
        the preview follows a dragged slider without a flood of re-renders."""
        if self._throttle.isActive():
            self._pending = True
            return
        emit(self.motion_changed, self.motion())
        self._throttle.start()

    def _flush(self) -> None:
        if self._pending:
            self._pending = False
            emit(self.motion_changed, self.motion())
            self._throttle.start()
