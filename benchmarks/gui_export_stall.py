"""Longest stall of the GUI thread while the app exports (target: under 50 ms).

    xvfb-run -s "-screen 0 1280x720x24" .venv/bin/python benchmarks/gui_export_stall.py
    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/gui_export_stall.py

Opens the real window with the astronaut portrait and the sample driver, starts an MP4
export from it (as the Export dialog does) and, until the export ends, runs a 5 ms
QTimer heartbeat on the GUI thread recording the gap between beats. A gap well above
5 ms means the GUI thread could not run: the window would not repaint or react.
Prints the longest gap, percentiles and how many gaps exceeded 50 ms.
"""
from __future__ import annotations

import argparse
import time

from gui_common import (app, close, load_average, open_sample_window, pick_driver, pick_model,
                        settings_in, wait_until, work_dir)

HEARTBEAT_MS = 5


class Heartbeat:
    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.gaps: list[float] = []
        self.when: list[float] = []     # seconds since start() at the end of each gap
        self._last = None
        self._start = 0.0
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(HEARTBEAT_MS)
        self.timer.timeout.connect(self._beat)

    def _beat(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.gaps.append((now - self._last) * 1000)
            self.when.append(now - self._start)
        self._last = now

    def start(self) -> None:
        self._last = None
        self._start = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driver", help="driver video (default: the shipped sample)")
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args(argv)
    folder = work_dir()
    model, label = pick_model(folder)
    driver = pick_driver(folder, args.driver)
    qapp = app()
    from talkinghead_studio.config import ExportSettings

    settings = settings_in(folder)
    settings.size = args.size
    window = open_sample_window(settings, model, driver)
    beat = Heartbeat()
    beat.start()
    started = time.perf_counter()
    window.start_export(folder / "stall.mp4", ExportSettings())
    wait_until(lambda: not window.exporting, timeout=900)
    seconds = time.perf_counter() - started
    beat.stop()
    failed = [d.informativeText() for d in window.errors.dialogs]
    gaps = beat.gaps
    print(f"export of {window.driver_meta.frame_count} frames at {args.size} px with {label} "
          f"took {seconds:.1f} s{' (FAILED: ' + failed[0] + ')' if failed else ''}; "
          f"{load_average()}")
    print(f"GUI heartbeat every {HEARTBEAT_MS} ms, {len(gaps)} beats: longest gap "
          f"{max(gaps):.1f} ms, p99 {percentile(gaps, 99):.1f} ms, p50 "
          f"{percentile(gaps, 50):.1f} ms, gaps over 50 ms: {sum(g > 50 for g in gaps)}")
    worst = sorted(zip(gaps, beat.when), reverse=True)[:5]
    print("longest gaps (ms @ s after start): " +
          ", ".join(f"{g:.0f} @ {t:.2f}" for g, t in worst))
    close(window)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
