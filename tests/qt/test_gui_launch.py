"""Launch: run_app opens the window with files already loaded; Qt stays in qt/."""
from __future__ import annotations

import ast
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from talkinghead_studio.qt import app as studio_app
from talkinghead_studio.qt.main_window import MainWindow

PACKAGE = Path(studio_app.__file__).resolve().parents[1]


def test_run_app_opens_files_and_returns_on_close(qtbot, tmp_path, gui_model, portrait_path,
                                                  driver_clip):
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path))
    seen = {}

    def check_and_close():
        windows = [w for w in QApplication.topLevelWidgets()
                   if isinstance(w, MainWindow) and w.isVisible()]
        window = windows[-1] if windows else None
        if window is None or window.last_frame is None or window.portrait_view is None:
            QTimer.singleShot(100, check_and_close)   # still loading
            return
        seen["portrait"] = window.portrait_view.path
        seen["driver"] = window.driver_meta.path
        seen["title"] = window.windowTitle()
        window.close()

    QTimer.singleShot(100, check_and_close)
    code = studio_app.run_app(str(portrait_path), str(driver_clip), model_path=gui_model)
    assert code == 0
    assert seen == {"portrait": Path(portrait_path), "driver": Path(driver_clip),
                    "title": "Talking-Head Studio — astronaut.png + driver.mp4"}
    assert (tmp_path / "TalkingHeadStudio").is_dir()     # settings went to QSettings


def test_main_parses_files(monkeypatch):
    calls = []
    monkeypatch.setattr(studio_app, "run_app", lambda *a, **k: calls.append((a, k)) or 0)
    monkeypatch.setattr("talkinghead_studio.logsetup.configure_logging", lambda verbose: None)
    assert studio_app.main(["face.png", "drive.mp4", "--model", "m.onnx"]) == 0
    assert calls == [(("face.png", "drive.mp4"), {"model_path": Path("m.onnx")})]


def test_cli_gui_passes_model(monkeypatch):
    from talkinghead_studio import cli

    calls = []
    monkeypatch.setattr(studio_app, "run_app", lambda *a, **k: calls.append((a, k)) or 0)
    monkeypatch.setattr("talkinghead_studio.logsetup.configure_logging", lambda verbose: None)
    assert cli.main(["gui", "face.png", "--model", "m.onnx"]) == 0
    assert cli.main([]) == 0                      # no command: the app, shipped model
    assert calls == [(("face.png", None), {"model_path": Path("m.onnx")}),
                     ((None, None), {"model_path": None})]


def qt_importers(folder: Path) -> list[str]:
    found = []
    for path in folder.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.split(".")[0] in ("PySide6", "PyQt5", "PyQt6", "shiboken6") for n in names):
                found.append(str(path.relative_to(PACKAGE)))
    return found


def test_only_qt_package_imports_pyside():
    outside = [p for p in qt_importers(PACKAGE) if not p.startswith("qt/")]
    assert outside == [], f"PySide6 imported outside talkinghead_studio/qt/: {outside}"
