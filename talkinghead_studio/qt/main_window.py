"""The main window: driver and result side by side, transport, live controls, export.

The window owns no engine state. The PreviewWorker owns the portrait, generator and
driver and sends frames; the window shows them, turns widget values into config
dataclasses and hands long jobs (export) to workers.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from talkinghead_studio import TOOL_NAME, __version__
from talkinghead_studio.config import RenderSettings
from talkinghead_studio.core.images import IMAGE_SUFFIXES
from talkinghead_studio.core.pipeline import RenderJob
from talkinghead_studio.core.preview import (
    CameraInfo,
    DriverMeta,
    ExtraView,
    PortraitView,
    PreviewFrame,
    list_cameras,
)
from talkinghead_studio.core.video import is_video_path
from talkinghead_studio.errors import InputFileError
from talkinghead_studio.inference.session import cuda_available
from talkinghead_studio.qt.actions import Actions, build_actions
from talkinghead_studio.qt.dialogs import (
    ErrorPresenter,
    ExportDialog,
    RenderDialog,
    ask,
    output_for_format,
)
from talkinghead_studio.qt.icons import webcam_icon
from talkinghead_studio.qt.settings import AppSettings
from talkinghead_studio.qt.widgets import ControlPanel, ImageCanvas, TransportBar, is_still_picture
from talkinghead_studio.qt.workers import ExportWorker, PreviewWorker, TaskWorker

log = logging.getLogger(__name__)

MIN_SIZE = (1024, 600)          # lays out sensibly from 1280x720 up, and a bit below
DEFAULT_SIZE = (1280, 760)
SIDE_PANEL_WIDTH = 310
IMAGE_FILTER = "Images (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES)) + ")"
VIEWS_FILTER = "Images (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES)
                                     if s != ".gif") + ")"
DRIVER_FILTER = ("Driver videos and motion tracks (*.mp4 *.mov *.m4v *.mkv *.avi *.webm "
                 "*.gif *.mpg *.mpeg *.npz);;All files (*)")
NO_FACE_BANNER = ("No face found in this portrait. Open a picture where one face is "
                  "clearly visible and roughly frontal.")
NO_DRIVER_FACE_BANNER = "No face in this driver frame: holding the last pose."


def is_driver_path(path: str | Path) -> bool:
    return is_video_path(path) or Path(path).suffix.lower() == ".npz"


class MainWindow(QMainWindow):
    def __init__(self, settings: AppSettings | None = None, model_path: Path | None = None,
                 realtime: bool = True) -> None:
        super().__init__()
        self.settings = settings or AppSettings()
        self.model_path = Path(model_path) if model_path else None
        self.setWindowTitle(TOOL_NAME)
        self.setMinimumSize(*MIN_SIZE)
        self.resize(*DEFAULT_SIZE)
        self.setAcceptDrops(True)
        self.errors = ErrorPresenter(self)
        self.commands: Actions = build_actions(self)
        self.portrait_path: Path | None = None
        self.portrait_view: PortraitView | None = None
        self.driver_meta: DriverMeta | None = None
        self.extra_views: tuple[ExtraView, ...] = ()   # as the preview worker uses them
        self._views_portrait: Path | None = None        # the portrait they belong to
        self.generator = None
        self.cameras: list[CameraInfo] = []
        self.frames_shown = 0
        self.tracked_fraction = 0.0     # of the driver video, by the background tracker
        self.last_frame: PreviewFrame | None = None
        self.export_worker: ExportWorker | None = None
        self.render_dialog: RenderDialog | None = None
        self._camera_worker: TaskWorker | None = None
        self._closing = False
        self._build_ui()
        self._build_menus()
        self._connect_actions()
        self.preview = self._start_preview(realtime)
        self._restore_settings()
        self.refresh_cameras()
        self._update_actions()

    # ------------------------------------------------------------------ building
    def _build_ui(self) -> None:
        self.driver_canvas = ImageCanvas(
            "Driver", "Drop a driver video here, open one with Ctrl+D,\n"
                      "or choose a camera in the Webcam menu.", self)
        self.driver_canvas.setObjectName("driverCanvas")
        self.driver_canvas.setToolTip("The driving video or webcam, with its landmarks")
        self.result_canvas = ImageCanvas(
            "Portrait", "Drop a portrait picture here\nor open one with Ctrl+O.", self)
        self.result_canvas.setObjectName("resultCanvas")
        self.result_canvas.setToolTip("The portrait, animated by the driver")
        canvases = QSplitter(Qt.Orientation.Horizontal, self)
        canvases.setChildrenCollapsible(False)
        canvases.addWidget(self.driver_canvas)
        canvases.addWidget(self.result_canvas)
        self.transport = TransportBar(self.commands.play, self.commands.step_back,
                                      self.commands.step_forward, self)
        left = QWidget(self)
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(canvases, 1)
        column.addWidget(self.transport)
        self.controls = ControlPanel(self.commands.use_as_neutral, self.commands.auto_neutral, self)
        scroll = QScrollArea(self)
        scroll.setWidget(self.controls)
        scroll.setWidgetResizable(True)
        scroll.setFixedWidth(SIDE_PANEL_WIDTH)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        # A short window scrolls the panel up and down; the controls then narrow by the
        # scroll bar's width rather than hide their right edge behind a second bar.
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        central = QWidget(self)
        row = QHBoxLayout(central)
        row.setContentsMargins(4, 4, 4, 0)
        row.addWidget(left, 1)
        row.addWidget(scroll)
        self.setCentralWidget(central)
        self._build_toolbar()
        self._build_status_bar()

    def _build_toolbar(self) -> None:
        bar = QToolBar("Main", self)
        bar.setObjectName("mainToolbar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        bar.addAction(self.commands.open_portrait)
        bar.addAction(self.commands.open_driver)
        self.webcam_menu = QMenu("&Webcam", self)
        self.webcam_button = QToolButton(self)
        self.webcam_button.setText("Webcam")
        self.webcam_button.setIcon(webcam_icon())
        self.webcam_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.webcam_button.setMenu(self.webcam_menu)
        self.webcam_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.webcam_button.setToolTip("Drive the portrait live from a camera")
        bar.addWidget(self.webcam_button)
        bar.addSeparator()
        bar.addAction(self.commands.play)
        bar.addAction(self.commands.show_landmarks)
        bar.addAction(self.commands.zoom_face)
        bar.addSeparator()
        bar.addAction(self.commands.export)
        self.addToolBar(bar)

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.tracking_label = QLabel("", self)
        self.tracking_label.setToolTip("How much of the driver video has been analysed")
        self.fps_label = QLabel("– fps", self)
        self.fps_label.setToolTip("Preview frames per second")
        self.provider_label = QLabel("Provider: –", self)
        self.provider_label.setToolTip("Where the generator really runs (CPU or CUDA)")
        for label in (self.tracking_label, self.fps_label, self.provider_label):
            label.setContentsMargins(8, 0, 8, 0)
            status.addPermanentWidget(label)
        status.showMessage(self._hint())

    def _build_menus(self) -> None:
        a = self.commands
        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        file_menu.addAction(a.open_portrait)
        file_menu.addAction(a.open_driver)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(a.export)
        file_menu.addSeparator()
        file_menu.addAction(a.quit)
        view = menus.addMenu("&View")
        view.addAction(a.show_landmarks)
        view.addAction(a.zoom_face)
        playback = menus.addMenu("&Playback")
        for action in (a.play, a.step_back, a.step_forward, a.first_frame, None,
                       a.use_as_neutral, a.auto_neutral):
            playback.addSeparator() if action is None else playback.addAction(action)
        menus.addMenu(self.webcam_menu)
        help_menu = menus.addMenu("&Help")
        help_menu.addAction(a.shortcuts)
        help_menu.addAction(a.about)

    def _connect_actions(self) -> None:
        a = self.commands
        a.open_portrait.triggered.connect(self.choose_portrait)
        a.open_driver.triggered.connect(self.choose_driver)
        a.export.triggered.connect(self.choose_export)
        a.quit.triggered.connect(self.close)
        a.play.triggered.connect(lambda: self.preview.toggle_play())
        a.step_back.triggered.connect(lambda: self.preview.step(-1))
        a.step_forward.triggered.connect(lambda: self.preview.step(1))
        a.first_frame.triggered.connect(lambda: self.preview.seek(0))
        a.use_as_neutral.triggered.connect(lambda: self.preview.use_as_neutral())
        a.auto_neutral.triggered.connect(self._auto_neutral)
        a.show_landmarks.toggled.connect(self._show_landmarks)
        a.zoom_face.toggled.connect(self._zoom_face)
        a.stop_camera.triggered.connect(lambda: self.preview.close_driver())
        a.refresh_cameras.triggered.connect(self.refresh_cameras)
        a.clear_recent.triggered.connect(self.settings.clear_recent)
        a.shortcuts.triggered.connect(self._show_shortcuts)
        a.about.triggered.connect(self._show_about)
        self.transport.seek_requested.connect(lambda index: self.preview.seek(index))
        self.controls.motion_changed.connect(lambda motion: self.preview.set_motion(motion))
        self.controls.size_changed.connect(self._size_changed)
        self.controls.glasses_changed.connect(self._glasses_changed)
        self.controls.provider_changed.connect(self._provider_changed)
        views = self.controls.extra_views
        views.add_requested.connect(self.choose_extra_views)
        views.files_dropped.connect(self.add_extra_views)
        views.remove_requested.connect(self.remove_extra_views)

    def _start_preview(self, realtime: bool) -> PreviewWorker:
        worker = PreviewWorker(realtime=realtime)
        worker.generator_ready.connect(self._on_generator)
        worker.portrait_ready.connect(self._on_portrait)
        worker.views_changed.connect(self._on_views)
        worker.driver_ready.connect(self._on_driver)
        worker.frame_ready.connect(self._on_frame)
        worker.playing_changed.connect(self._on_playing)
        worker.neutral_changed.connect(self._on_neutral)
        worker.fps_measured.connect(lambda fps: self.fps_label.setText(f"{fps:.1f} fps"))
        worker.tracking_progress.connect(self._on_tracking)
        worker.camera_moves.connect(self.controls.show_camera_note)
        worker.busy.connect(self._on_busy)
        worker.failed.connect(self._on_preview_failed)
        worker.start()
        worker.load_generator(self.render_settings())
        return worker

    def _restore_settings(self) -> None:
        geometry = self.settings.window_geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        self.commands.show_landmarks.setChecked(self.settings.show_landmarks)
        self._show_landmarks(self.settings.show_landmarks)
        self.commands.zoom_face.setChecked(self.settings.zoom_face)
        self.controls.set_sizes((256, 512), self.settings.size)
        self.controls.set_provider(self.settings.provider, cuda_available())
        self.controls.glasses_check.blockSignals(True)
        self.controls.glasses_check.setChecked(self.settings.rigid_glasses)
        self.controls.glasses_check.blockSignals(False)

    # ------------------------------------------------------------------ settings
    def render_settings(self) -> RenderSettings:
        return RenderSettings(size=self.settings.size, provider=self.settings.provider,
                              model_path=self.model_path,
                              rigid_glasses=self.settings.rigid_glasses)

    def _size_changed(self, size: int) -> None:
        self.settings.size = size
        self.preview.set_size(size)

    def _glasses_changed(self, rigid: bool) -> None:
        self.settings.rigid_glasses = rigid
        self.preview.set_rigid_glasses(rigid)

    def _provider_changed(self, provider: str) -> None:
        self.settings.provider = provider
        self.provider_label.setText("Provider: loading…")
        self.preview.load_generator(self.render_settings())

    def _show_landmarks(self, visible: bool) -> None:
        self.settings.show_landmarks = visible
        self.driver_canvas.set_overlay_visible(visible)
        self.result_canvas.set_overlay_visible(visible)

    def _zoom_face(self, zoomed: bool) -> None:
        self.settings.zoom_face = zoomed
        self._show_result()
        self._show_driver_zoom()

    def _auto_neutral(self) -> None:
        self.controls.set_neutral_frame(None)
        self.preview.set_motion(self.controls.motion())

    # ------------------------------------------------------------------- opening
    def choose_portrait(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self, "Open portrait",
                                              self.settings.last_dir("portrait"), IMAGE_FILTER)
        if path:
            self.open_portrait(path)

    def choose_driver(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self, "Open driver",
                                              self.settings.last_dir("driver"), DRIVER_FILTER)
        if path:
            self.open_driver(path)

    def open_portrait(self, path: str | Path) -> None:
        self.portrait_path = Path(path)
        self.settings.set_last_dir("portrait", self.portrait_path.parent)
        self.result_canvas.set_image(None)
        self.result_canvas.set_placeholder(f"Finding the face in {self.portrait_path.name}…")
        self.preview.load_portrait(self.portrait_path)
        self._update_actions()

    def open_driver(self, path: str | Path) -> None:
        path = Path(path)
        self.settings.set_last_dir("driver", path.parent)
        self.driver_canvas.set_image(None)
        self.driver_canvas.set_placeholder(f"Opening {path.name}…")
        self.preview.open_driver(path)

    def open_camera(self, camera: CameraInfo) -> None:
        self.driver_canvas.set_image(None)
        self.driver_canvas.set_placeholder(f"Starting {camera.name}…")
        self.preview.open_camera(camera)

    def open_paths(self, paths: list[str]) -> None:
        """Open dropped or command-line files: pictures as the portrait, videos and
        motion tracks as the driver."""
        for path in paths:
            if is_still_picture(path):
                self.open_portrait(path)
            elif is_driver_path(path):
                self.open_driver(path)
            else:
                self.errors.show(InputFileError(
                    f"{Path(path).name} is neither a picture (PNG, JPEG, TIFF, BMP, WebP) nor "
                    f"a driver (a video or a .npz motion track). Drop one of those."))

    # --------------------------------------------------------------- extra views
    def choose_extra_views(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        folder = self.settings.last_dir("views", fallback=self.portrait_path)
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Add extra views of the face", folder, VIEWS_FILTER)
        if paths:
            self.add_extra_views(paths)

    def add_extra_views(self, paths: list[str]) -> None:
        """Align these pictures (in the preview worker) and use them as extra views. The
        list shows each one once its face is found; one without a face gets a dialog."""
        if self.portrait_view is None or self.portrait_view.prepared is None or self.exporting:
            return
        listed = {view.path for view in self.extra_views}
        for path in map(Path, paths):
            if not is_still_picture(path):
                self.errors.show(InputFileError(
                    f"{path.name} is not a picture. Extra views are pictures (PNG, JPEG, "
                    f"TIFF, BMP, WebP) of the portrait's face."))
            elif path not in listed:
                self.settings.set_last_dir("views", path.parent)
                self.preview.add_extra_view(path)

    def remove_extra_views(self, paths: list[Path]) -> None:
        for path in paths:
            self.preview.remove_extra_view(path)

    def _on_views(self, views: tuple[ExtraView, ...]) -> None:
        dropped = (self.extra_views and not views and self.portrait_view is not None
                   and self.portrait_view.path != self._views_portrait)
        self.extra_views = tuple(views)
        if views and self.portrait_view is not None:
            self._views_portrait = self.portrait_view.path
        self.controls.extra_views.set_views(self.extra_views)
        if dropped:
            self.statusBar().showMessage(
                "Extra views cleared: they showed the previous portrait's face.", 8000)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt name)
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if any(url.isLocalFile() for url in urls):
            event.acceptProposedAction()
            self.statusBar().showMessage("Drop a picture to animate it, or a video to drive it.")

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt name)
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        event.acceptProposedAction()
        self.open_paths(paths)

    def _fill_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        for kind, label, opener in (("portrait", "Portraits", self.open_portrait),
                                    ("driver", "Drivers", self.open_driver)):
            items = self.settings.recent(kind)
            section = menu.addSection(label)
            section.setToolTip(f"Recently opened {label.lower()}")
            for path in items:
                action = menu.addAction(Path(path).name)
                action.setToolTip(path)
                action.triggered.connect(lambda _=False, p=path, o=opener: o(p))
            if not items:
                menu.addAction("(none)").setEnabled(False)
        menu.addSeparator()
        menu.addAction(self.commands.clear_recent)

    # ------------------------------------------------------------------- cameras
    def refresh_cameras(self) -> None:
        if self._camera_worker is not None and self._camera_worker.is_running():
            return
        self._camera_worker = TaskWorker("list-cameras", list_cameras)
        self._camera_worker.finished.connect(self._on_cameras)
        self._camera_worker.failed.connect(lambda exc, details: self.errors.show(exc, details))
        self._camera_worker.start()

    def _on_cameras(self, cameras: list[CameraInfo]) -> None:
        self.cameras = list(cameras)
        menu = self.webcam_menu
        menu.clear()
        if not self.cameras:
            none = menu.addAction("No camera found")
            none.setEnabled(False)
            none.setToolTip("Connect a webcam, then choose Refresh Cameras")
        for camera in self.cameras:
            action = menu.addAction(camera.name)
            action.setToolTip(f"Drive the portrait live from {camera.name}")
            action.triggered.connect(lambda _=False, c=camera: self.open_camera(c))
        menu.addSeparator()
        menu.addAction(self.commands.stop_camera)
        menu.addAction(self.commands.refresh_cameras)
        tip = "Drive the portrait live from a camera" if self.cameras else \
            "No camera found: connect one, then choose Webcam ▸ Refresh Cameras"
        self.webcam_button.setToolTip(tip)

    # ------------------------------------------------------------ worker results
    def _on_generator(self, generator) -> None:
        self.generator = generator
        self.provider_label.setText(f"Provider: {generator.active_provider}")
        self.controls.set_sizes(generator.info.resolutions, self.settings.size)
        self._update_actions()

    def _on_portrait(self, view: PortraitView) -> None:
        self.portrait_view = view
        self.last_frame = None     # an older frame belongs to the previous portrait
        self._show_result()
        self.result_canvas.set_banner(NO_FACE_BANNER if view.problem is not None else None)
        if view.problem is None:
            self.settings.add_recent("portrait", view.path)
        self._update_titles()
        self._update_actions()
        self.statusBar().showMessage(self._hint())

    def _on_driver(self, meta: DriverMeta | None) -> None:
        self.driver_meta = meta
        self.tracked_fraction = 0.0
        self.controls.set_neutral_frame(None)
        self.controls.show_camera_note(False)   # until the new driver's camera is known
        if meta is None:
            self.last_frame = None
            self._show_result()
            self.driver_canvas.set_image(None)
            self.driver_canvas.set_placeholder("Driver closed. Open a video or pick a camera.")
            self.driver_canvas.title = "Driver"
            self.transport.set_driver(0, 25.0)
        else:
            self.driver_canvas.title = f"Driver — {meta.name}"
            self.transport.set_driver(meta.frame_count, meta.fps)
            if meta.path is not None:
                self.settings.add_recent("driver", meta.path)
            self.tracking_label.setText("")
        self.fps_label.setText("– fps")
        self._update_titles()
        self._update_actions()
        self.statusBar().showMessage(self._hint())

    def _on_frame(self, frame: PreviewFrame) -> None:
        try:
            self.driver_canvas.set_image(frame.driver)
            self.driver_canvas.set_overlay(frame.driver_points)
            self.driver_canvas.set_banner(None if frame.face_found else NO_DRIVER_FACE_BANNER)
            self.transport.set_position(frame.index)
            self.last_frame = frame
            self._show_result()
            self._show_driver_zoom()
            self.controls.extra_views.show_weights(frame.view_weights)
            self.frames_shown += 1
        finally:
            self.preview.frame_shown()   # always: the worker waits for this

    def _show_result(self) -> None:
        """The animated frame, else the portrait; whole, or the face close-up (zoom)."""
        frame, view = self.last_frame, self.portrait_view
        zoom = self.commands.zoom_face.isChecked()
        canvas = self.result_canvas
        close_up = frame.face_close_up() if (zoom and frame is not None) else None
        if frame is not None and frame.result_points is not None:
            if close_up is not None:
                canvas.set_image(close_up)
                canvas.set_overlay(frame.crop_points)
            else:
                canvas.set_image(frame.result)
                canvas.set_overlay(frame.result_points)
        elif view is not None:
            prepared = view.prepared
            if zoom and prepared is not None:
                canvas.set_image(prepared.crop)
                canvas.set_overlay(prepared.crop_points[:, :2] * prepared.size)
            else:
                canvas.set_image(view.image)
                canvas.set_overlay(view.points, view.face_box)

    def _show_driver_zoom(self) -> None:
        """Zoom to Face frames the driver's face by the rule that frames the portrait's
        crop, so both faces show at the same scale."""
        frame = self.last_frame
        zoom = self.commands.zoom_face.isChecked()
        self.driver_canvas.set_view_box(
            frame.driver_face_box if zoom and frame is not None else None)

    def _on_playing(self, playing: bool) -> None:
        icon = self.style().StandardPixmap.SP_MediaPause if playing else \
            self.style().StandardPixmap.SP_MediaPlay
        self.commands.play.setIcon(self.style().standardIcon(icon))
        self.commands.play.setText("Pause" if playing else "Play")
        if not playing:
            self.fps_label.setText("– fps")

    def _on_neutral(self, index) -> None:
        self.controls.set_neutral_frame(None if index is None or index < 0 else index,
                                        live=index is not None and index < 0)

    def _on_tracking(self, fraction: float) -> None:
        self.tracked_fraction = fraction
        self.tracking_label.setText("" if fraction >= 1.0 else
                                    f"Analysing driver {fraction:.0%}")

    def _on_busy(self, text: str) -> None:
        self.statusBar().showMessage(text or self._hint())

    def _hint(self) -> str:
        """What to do next, shown in the status bar whenever nothing else is going on."""
        view = getattr(self, "portrait_view", None)
        notes = " ".join(view.notes) + " " if view is not None and view.notes else ""
        if view is None or view.prepared is None:
            if self.driver_meta is not None:
                return "Open a portrait with a clear face (Ctrl+O) to animate it."
            return "Open a portrait (Ctrl+O) and a driver (Ctrl+D), or drop them on the window."
        if self.driver_meta is None:
            return f"{notes}Now open a driver video (Ctrl+D) or choose a camera in Webcam."
        if self.driver_meta.is_live:
            return f"{notes}Live. N uses the current camera frame as the neutral pose."
        return f"{notes}Space plays, ← → step, N sets the neutral frame, Ctrl+E exports."

    def _update_titles(self) -> None:
        view, driver = self.portrait_view, self.driver_meta
        name = view.path.name if view is not None else None
        animating = driver is not None and view is not None and view.prepared is not None
        self.result_canvas.title = (f"{'Result' if animating else 'Portrait'} — {name}"
                                    if name else "Portrait")
        self.result_canvas.update()
        parts = [p for p in (name, driver.name if driver else None) if p]
        self.setWindowTitle(" — ".join([TOOL_NAME, " + ".join(parts)]) if parts else TOOL_NAME)

    def _on_preview_failed(self, error: BaseException, details: str) -> None:
        from talkinghead_studio.errors import GeneratorContractError, ProviderError

        if isinstance(error, (GeneratorContractError, ProviderError)):
            self.provider_label.setText("Provider: none (no generator)")
        if self.driver_meta is None:
            self.driver_canvas.set_placeholder(
                "Drop a driver video here, open one with Ctrl+D,\n"
                "or choose a camera in the Webcam menu.")
        if self.portrait_view is None and self.portrait_path is not None:
            self.result_canvas.set_placeholder(
                "That portrait could not be opened.\nDrop another picture or press Ctrl+O.")
        self.errors.show(error, details)

    # -------------------------------------------------------------------- export
    @property
    def exporting(self) -> bool:
        return self.export_worker is not None

    @property
    def live(self) -> bool:
        return self.driver_meta is not None and self.driver_meta.is_live

    def can_export(self) -> bool:
        return (self.generator is not None and self.portrait_view is not None
                and self.portrait_view.prepared is not None and self.driver_meta is not None
                and not self.driver_meta.is_live and not self.exporting)

    def default_output(self) -> str:
        export = self.settings.export_settings()
        folder = Path(self.settings.last_dir("export"))
        name = f"{self.portrait_view.path.stem}_{Path(self.driver_meta.name).stem}"
        return output_for_format(str(folder / name) + ".mp4", export.format)

    def choose_export(self) -> ExportDialog | None:
        if not self.can_export():
            return None
        self.preview.pause()
        dialog = ExportDialog(self, self.settings.export_settings(), self.default_output(),
                              has_audio=self.driver_meta.has_audio,
                              has_mask="mask" in self.generator.info.outputs)
        dialog.accepted.connect(lambda: self.start_export(dialog.output_path(), dialog.settings()))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def start_export(self, output: Path, export) -> None:
        """Render the current portrait, driver and controls to ``output`` in a worker."""
        if not self.can_export():
            return
        self.settings.set_export_settings(export)
        self.settings.set_last_dir("export", Path(output).parent)
        self.preview.pause()   # both cores go to the export
        worker = ExportWorker(self.render_job(output, export), self.generator,
                              self.portrait_view.prepared)
        dialog = RenderDialog(self, Path(output))
        # Not worker.cancel directly: the worker lives in its busy thread, so a queued
        # slot call would only run after the render had finished.
        dialog.cancel_requested.connect(self.cancel_export)
        worker.progress.connect(dialog.set_progress)
        worker.finished.connect(self._export_finished)
        worker.cancelled.connect(self._export_cancelled)
        worker.failed.connect(self._export_failed)
        self.export_worker, self.render_dialog = worker, dialog
        dialog.show()
        worker.start()
        self.statusBar().showMessage(f"Exporting {Path(output).name}…")
        self._update_actions()

    def render_job(self, output: str | Path, export) -> RenderJob:
        """What the export renders: the portrait, its extra views, the driver and the
        current controls, at the size the portrait is prepared at."""
        return RenderJob(portrait=self.portrait_view.path, driver=self.driver_meta.path,
                         output=Path(output), motion=self.controls.motion(),
                         render=replace(self.render_settings(),
                                        size=self.portrait_view.prepared.size),
                         export=export,
                         references=tuple(view.path for view in self.extra_views))

    def cancel_export(self) -> None:
        if self.export_worker is not None:
            self.export_worker.cancel()

    def _end_export(self) -> None:
        worker, self.export_worker = self.export_worker, None
        if worker is not None:
            worker.wait(10_000)   # the render has returned; this only joins the thread
        self._update_actions()

    def _export_finished(self, result) -> None:
        self._end_export()
        self.statusBar().showMessage(
            f"Exported {result.output.name}: {result.frames} frames on {result.provider}.")
        if self.render_dialog is not None:
            self.render_dialog.show_done(result)

    def _export_cancelled(self) -> None:
        self._end_export()
        self._close_render_dialog()
        self.statusBar().showMessage("Export cancelled; no file was written.")
        if self._closing:
            self.close()

    def _export_failed(self, error: BaseException, details: str) -> None:
        self._end_export()
        self._close_render_dialog()
        self.statusBar().showMessage("Export failed; no file was written.")
        self.errors.show(error, details)

    def _close_render_dialog(self) -> None:
        if self.render_dialog is not None:
            self.render_dialog.result = object()   # lets reject() close it
            self.render_dialog.close()
            self.render_dialog = None

    # ------------------------------------------------------------------ state
    def _update_actions(self) -> None:
        a = self.commands
        has_driver = self.driver_meta is not None
        file_driver = has_driver and not self.driver_meta.is_live
        a.export.setEnabled(self.can_export())
        a.play.setEnabled(has_driver)
        for action in (a.step_back, a.step_forward, a.first_frame):
            action.setEnabled(file_driver)
        a.use_as_neutral.setEnabled(has_driver)
        a.auto_neutral.setEnabled(has_driver)
        a.stop_camera.setEnabled(self.live)
        a.open_portrait.setEnabled(not self.exporting)
        a.open_driver.setEnabled(not self.exporting)
        self.controls.size_combo.setEnabled(not self.exporting)
        self.controls.provider_combo.setEnabled(not self.exporting)
        self.controls.glasses_check.setEnabled(not self.exporting)
        # Views change the preview at once but an export only when it starts: no edits
        # while one runs, so what is listed is what is being rendered.
        has_face = self.portrait_view is not None and self.portrait_view.prepared is not None
        if self.exporting:
            self.controls.extra_views.set_available(False, "Extra views can change once the "
                                                           "export has finished.")
        else:
            self.controls.extra_views.set_available(has_face)

    def open_initial(self, portrait: str | None, driver: str | None) -> None:
        """Files given on the command line."""
        if portrait:
            self.open_portrait(portrait)
        if driver:
            self.open_driver(driver)

    # ------------------------------------------------------------------ help
    def _show_shortcuts(self) -> None:
        lines = [f"<tr><td>{a.text().replace('&', '')}</td><td><b>"
                 f"{', '.join(s.toString() for s in a.shortcuts())}</b></td></tr>"
                 for a in self.commands.all() if a.shortcuts()]
        box = QMessageBox(QMessageBox.Icon.Information, "Keyboard shortcuts",
                          "<table cellspacing=6>" + "".join(lines) + "</table>",
                          QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _show_about(self) -> None:
        box = QMessageBox(QMessageBox.Icon.Information, f"About {TOOL_NAME}",
                          f"<b>{TOOL_NAME}</b> {__version__}<br>Animate a still portrait "
                          f"from a driving video or a webcam.<br>Exports are marked as "
                          f"synthetic media.", QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        """Ask before ending a render or a webcam session; then stop every worker."""
        busy = [what for what, on in (("an export", self.exporting),
                                      ("a webcam session", self.live)) if on]
        if busy and not self._closing:
            event.ignore()
            ask(self, "Quit now?", f"Closing stops {' and '.join(busy)}. "
                "An unfinished export leaves no file.", "Quit", self._confirm_close)
            return
        if self.exporting:          # confirmed: cancel, and close once it has stopped
            event.ignore()
            self.cancel_export()
            return
        self.shutdown()
        event.accept()

    def _confirm_close(self) -> None:
        self._closing = True
        self.close()

    def shutdown(self) -> None:
        """Stop workers and save settings. Safe to call twice."""
        self.settings.save_window(self.saveGeometry(), self.saveState())
        self.settings.sync()
        if self.export_worker is not None:
            self.export_worker.cancel()
            self.export_worker.wait(15_000)
        self.preview.stop()
        if self._camera_worker is not None:
            self._camera_worker.wait(5_000)
