"""The window's actions: one place for each command's text, shortcut, tooltip and icon.

Menus, the toolbar and the transport bar all show these same QActions, so a shortcut
or a tooltip is defined once and is the same everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QStyle, QWidget

from talkinghead_studio.qt.icons import face_zoom_icon, landmarks_icon


@dataclass
class Actions:
    open_portrait: QAction
    open_driver: QAction
    export: QAction
    quit: QAction
    play: QAction
    step_back: QAction
    step_forward: QAction
    first_frame: QAction
    use_as_neutral: QAction
    auto_neutral: QAction
    show_landmarks: QAction
    zoom_face: QAction
    stop_camera: QAction
    refresh_cameras: QAction
    clear_recent: QAction
    shortcuts: QAction
    about: QAction

    def all(self) -> list[QAction]:
        return [getattr(self, f.name) for f in fields(self)]


def _action(parent: QWidget, text: str, tip: str, shortcuts=(), icon: QIcon | None = None,
            checkable: bool = False) -> QAction:
    action = QAction(text, parent)
    keys = [QKeySequence(s) for s in shortcuts]
    if keys:
        action.setShortcuts(keys)
        tip = f"{tip} ({keys[0].toString(QKeySequence.SequenceFormat.NativeText)})"
    action.setToolTip(tip)
    action.setStatusTip(tip)
    if icon is not None:
        action.setIcon(icon)
    action.setCheckable(checkable)
    return action


def build_actions(window: QWidget) -> Actions:
    icon = window.style().standardIcon
    pixmap = QStyle.StandardPixmap
    key = QKeySequence.StandardKey
    return Actions(
        open_portrait=_action(window, "Open &Portrait…", "Open the still portrait to animate",
                              [key.Open], icon(pixmap.SP_DialogOpenButton)),
        open_driver=_action(window, "Open &Driver…",
                            "Open a driver video or a saved motion track (.npz)",
                            ["Ctrl+D"], icon(pixmap.SP_FileDialogContentsView)),
        export=_action(window, "&Export…", "Render the animation to MP4, PNG frames or GIF",
                       ["Ctrl+E"], icon(pixmap.SP_DialogSaveButton)),
        quit=_action(window, "&Quit", "Close Talking-Head Studio", [key.Quit]),
        play=_action(window, "Play", "Play or pause the preview", ["Space"],
                     icon(pixmap.SP_MediaPlay)),
        step_back=_action(window, "Previous frame", "Step one driver frame back",
                          ["Left", ","], icon(pixmap.SP_MediaSeekBackward)),
        step_forward=_action(window, "Next frame", "Step one driver frame forward",
                             ["Right", "."], icon(pixmap.SP_MediaSeekForward)),
        first_frame=_action(window, "First frame", "Go to the driver's first frame", ["Home"],
                            icon(pixmap.SP_MediaSkipBackward)),
        use_as_neutral=_action(window, "Use frame as neutral",
                               "Use the current driver frame as the neutral pose", ["N"]),
        auto_neutral=_action(window, "Automatic neutral",
                             "Let the app pick the most neutral frontal driver frame"),
        show_landmarks=_action(window, "Show &Landmarks",
                               "Show the detected face and landmarks over the pictures",
                               ["L"], landmarks_icon(), checkable=True),
        zoom_face=_action(window, "&Zoom to Face",
                          "Show both faces close up, at the same scale: the face the "
                          "generator draws and the driver's face", ["Z"], face_zoom_icon(),
                          checkable=True),
        stop_camera=_action(window, "Stop &Webcam", "Stop the webcam driver",
                            icon=icon(pixmap.SP_MediaStop)),
        refresh_cameras=_action(window, "Refresh Cameras", "Look for cameras again"),
        clear_recent=_action(window, "Clear Recent Files", "Forget the recent files list"),
        shortcuts=_action(window, "Keyboard &Shortcuts", "List the keyboard shortcuts",
                          [key.HelpContents]),
        about=_action(window, "&About", "About Talking-Head Studio"),
    )
