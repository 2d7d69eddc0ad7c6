"""Time from launch to the main window on screen.

    xvfb-run -s "-screen 0 1280x720x24" .venv/bin/python benchmarks/gui_startup.py
    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/gui_startup.py   # no X server

Starts a fresh Python process per run (imports included, as a user's launch is) that
builds the window exactly as ``talkinghead-studio`` does (qt.app.create_window) and
reports when the window is first exposed (painted on screen). Also reports when the
first preview frame is shown with a portrait and a driver given on the command line.
The clock is CLOCK_MONOTONIC, shared by parent and child. Prints medians of N runs.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import sys, time
sys.path.insert(0, {root!r})
from PySide6.QtCore import QEvent, QObject, QSettings, QTimer
from PySide6.QtWidgets import QApplication
from talkinghead_studio.qt.app import create_window
from talkinghead_studio.qt.settings import AppSettings

marks = {{}}

class Exposed(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Expose and "shown" not in marks and obj.isExposed():
            marks["shown"] = time.monotonic()
        return False

settings = AppSettings(QSettings({ini!r}, QSettings.Format.IniFormat))
app = QApplication(sys.argv[:1])
spy = Exposed()
app.installEventFilter(spy)
args = {files!r}
app_, window = create_window(*args, model_path={model!r}, settings=settings)

def check():
    if "shown" in marks and (not args or window.last_frame is not None):
        if args:
            marks["frame"] = time.monotonic()
        print("MARKS", marks.get("shown"), marks.get("frame"), flush=True)
        window.close()
    else:
        QTimer.singleShot(5, check)

QTimer.singleShot(0, check)
app.exec()
"""


def one_run(files: list[str], model: str | None, ini: str) -> tuple[float, float | None]:
    code = CHILD.format(root=str(ROOT), ini=ini, files=files, model=model)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, env=os.environ.copy())
    line = next((l for l in result.stdout.splitlines() if l.startswith("MARKS")), None)
    if line is None:
        raise RuntimeError(f"the app did not report; stderr:\n{result.stderr[-2000:]}")
    _, shown, frame = line.split()
    return float(shown) - started, (float(frame) - started if frame != "None" else None)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from gui_common import load_average, pick_driver, pick_model, samples, work_dir

    folder = work_dir()
    model, label = pick_model(folder)
    driver = pick_driver(folder, None)
    ini = str(folder / "settings.ini")
    empty = [one_run([], str(model), ini)[0] for _ in range(args.runs)]
    loaded = [one_run([str(samples.astronaut_path()), str(driver)], str(model), ini)
              for _ in range(args.runs)]
    platform = os.environ.get("QT_QPA_PLATFORM", "xcb" if os.environ.get("DISPLAY") else "?")
    print(f"platform {platform}; generator: {label}; {args.runs} runs; {load_average()}")
    print(f"launch -> window shown: median {statistics.median(empty):.2f} s "
          f"(min {min(empty):.2f}, max {max(empty):.2f})")
    frames = [f for _, f in loaded if f is not None]
    print(f"launch with portrait + driver -> first preview frame: median "
          f"{statistics.median(frames):.2f} s (min {min(frames):.2f}, max {max(frames):.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
