"""Preview speed in the real window: frames shown per second while playing a video.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/gui_preview_fps.py [--driver CLIP]

Plays the driver as fast as the preview can go (no real-time pacing), through the real
MainWindow and PreviewWorker (decode, landmarks, motion, generator, paste-back, paint),
at working size 256 and 512, after the background tracker has finished (steady state).
Prints one line per size. The portrait is resources/portraits/astronaut.png.
"""
from __future__ import annotations

import argparse
import time

from gui_common import (app, close, load_average, open_sample_window, pick_driver, pick_model,
                        settings_in, wait_until, work_dir)

MEASURE_FRAMES = 120


def measure(window, size: int) -> float:
    window.controls.size_combo.setCurrentIndex(window.controls.size_combo.findData(size))
    wait_until(lambda: window.portrait_view is not None and window.portrait_view.prepared
               is not None and window.portrait_view.prepared.size == size)
    window.preview.seek(0)
    window.preview.play()
    wait_until(lambda: window.frames_shown > 10)           # warm up
    start_frames, start = window.frames_shown, time.perf_counter()
    wait_until(lambda: window.frames_shown >= start_frames + MEASURE_FRAMES, timeout=600)
    seconds = time.perf_counter() - start
    window.preview.pause()
    return (window.frames_shown - start_frames) / seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driver", help="driver video (default: the shipped sample)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    args = parser.parse_args(argv)
    folder = work_dir()
    model, label = pick_model(folder)
    driver = pick_driver(folder, args.driver)
    qapp = app()
    window = open_sample_window(settings_in(folder), model, driver, realtime=False)
    meta = window.driver_meta
    print(f"driver {meta.name} {meta.frame_size[0]}x{meta.frame_size[1]} "
          f"{meta.frame_count} frames; generator: {label}; provider "
          f"{window.generator.active_provider}; {load_average()}")
    for size in args.sizes:
        fps = measure(window, size)
        print(f"preview fps at {size}: {fps:.1f}")
    close(window)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
