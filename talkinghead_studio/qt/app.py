"""Starting the desktop studio.

``run_app`` is what ``talkinghead-studio`` (no arguments), ``talkinghead-studio gui
[PORTRAIT [DRIVER]]`` and ``python -m talkinghead_studio`` call; ``main`` is the
``talkinghead-studio-gui`` entry point and parses its own few arguments. PySide6 is
imported inside the functions, so importing this module costs nothing and the CLI
never loads Qt.
"""
from __future__ import annotations

import argparse
import logging
import multiprocessing
import sys
from pathlib import Path

from talkinghead_studio import TOOL_NAME, __version__

log = logging.getLogger(__name__)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="talkinghead-studio-gui",
                                     description=f"{TOOL_NAME}: the desktop app.")
    parser.add_argument("portrait", nargs="?", help="portrait picture to open")
    parser.add_argument("driver", nargs="?", help="driver video or motion track (.npz)")
    parser.add_argument("--model", type=Path, default=None,
                        help="generator .onnx to use instead of the shipped one")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log progress and keep native libraries' console messages")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser.parse_args(argv)


def create_window(portrait: str | None = None, driver: str | None = None,
                  model_path: str | Path | None = None, settings=None):
    """The QApplication (made if needed) and a shown MainWindow with files queued to
    open. Also used by the startup benchmark, so it measures what users get."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from talkinghead_studio.qt.main_window import MainWindow
    from talkinghead_studio.qt.settings import APPLICATION, ORGANIZATION

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationVersion(__version__)
    window = MainWindow(settings=settings, model_path=Path(model_path) if model_path else None)
    window.show()
    # Open files after the window is up: the user sees the app at once, and loading
    # reports through the same path as a file opened from the menu.
    QTimer.singleShot(0, lambda: window.open_initial(portrait, driver))
    return app, window


def missing_display() -> str | None:
    """Why no window can open here, or None. Qt aborts the process (no Python error)
    when it cannot reach a display, so we check first and say what to do instead."""
    import os

    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return ("No display found, so the desktop app cannot open a window (DISPLAY and "
            "WAYLAND_DISPLAY are unset). Run it in a desktop session, under xvfb-run, or "
            "use the command line: talkinghead-studio render PORTRAIT DRIVER -o OUT.mp4")


def run_app(portrait: str | None = None, driver: str | None = None, *,
            model_path: str | Path | None = None) -> int:
    """Open the studio, optionally with a portrait and a driver loaded. Returns the exit
    status when the window closes."""
    from talkinghead_studio.errors import StudioError
    from talkinghead_studio.qt.dialogs import install_exception_hooks

    problem = missing_display()
    if problem:
        raise StudioError(problem)

    app, window = create_window(portrait, driver, model_path)
    restore_hooks = install_exception_hooks(window.errors)
    try:
        return app.exec()
    finally:
        restore_hooks()


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()   # a frozen (PyInstaller) build re-enters here
    args = _parse(argv)
    from talkinghead_studio.logsetup import configure_logging

    configure_logging(args.verbose)
    from talkinghead_studio.errors import StudioError

    try:
        return run_app(args.portrait, args.driver, model_path=args.model)
    except StudioError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
