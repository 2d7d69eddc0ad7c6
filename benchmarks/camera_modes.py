"""The driver's camera (core/camera.py): what the tracker reads, and what the modes cost.

    .venv/bin/python benchmarks/camera_modes.py [--clips NAME ...] [--frames 100]
                                                [--rounds 3] [--size 512]

1. For each driving clip in ../shared/data/driving (research data; this part is skipped
   when it is absent) and the shipped sample driver, tracks the camera over the first
   --frames frames, as a render in "steady" or "follow" mode does, and prints:
     reliable   frames whose background gave a camera estimate (others hold the last);
     scale      range of the estimated zoom;
     tx, ty     range of the estimated pan, in driver pixels;
     travel     the most the camera moved a frame corner, as a share of the long side
                (the GUI's "this driver's camera moves" note shows above 2 %);
     ms/frame   the tracker's own cost (the face landmarks come first, untimed).
2. Renders the sample portrait with the sample driver through the CLI in each camera
   mode, alternated --rounds times (fresh processes; the host's speed drifts, so only
   renders from the same round compare), and prints the median wall time per mode.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from talkinghead_studio.core import camera as cam  # noqa: E402
from talkinghead_studio.core.landmarks import FaceMeshDetector  # noqa: E402
from talkinghead_studio.core.video import iter_frames  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "driving"
SAMPLE_DRIVER = ROOT / "resources" / "drivers" / "sample_driver.mp4"
SAMPLE_PORTRAIT = ROOT / "resources" / "portraits" / "astronaut.png"
MODES = ("fixed", "steady", "follow")


def track_clip(path: Path, frames: int) -> dict:
    """Camera statistics of one clip's first ``frames`` frames."""
    cameras, spent, size = [], 0.0, None
    last_points = None
    with FaceMeshDetector(mode="video") as detector, cam.CameraTracker() as tracker:
        for index, frame in enumerate(iter_frames(path)):
            if index >= frames:
                break
            size = (frame.shape[1], frame.shape[0])
            found = detector.detect(frame)
            last_points = found.points if found is not None else last_points
            start = time.perf_counter()
            cameras.append(tracker.update(frame, last_points))
            spent += time.perf_counter() - start
        reliable = tracker.reliable_frames
    stack = np.stack(cameras)
    scales = np.sqrt(np.abs(np.linalg.det(stack[:, :, :2].astype(np.float64))))
    travel = max(cam.travel(matrix, size) for matrix in cameras) / max(size)
    return {"frames": len(cameras), "reliable": reliable, "scale": (scales.min(), scales.max()),
            "tx": (stack[:, 0, 2].min(), stack[:, 0, 2].max()),
            "ty": (stack[:, 1, 2].min(), stack[:, 1, 2].max()), "travel": travel,
            "ms": 1000 * spent / max(len(cameras), 1)}


def tracker_table(clips: list[Path], frames: int) -> None:
    print("| clip | reliable | scale | tx, px | ty, px | travel | ms/frame |")
    print("|---|---|---|---|---|---|---|")
    for clip in clips:
        got = track_clip(clip, frames)
        print(f"| {clip.stem} | {got['reliable']}/{got['frames'] - 1} "
              f"| {got['scale'][0]:.3f}-{got['scale'][1]:.3f} "
              f"| {got['tx'][0]:.1f}..{got['tx'][1]:.1f} | {got['ty'][0]:.1f}..{got['ty'][1]:.1f} "
              f"| {100 * got['travel']:.1f} % | {got['ms']:.2f} |")


def render_seconds(mode: str, size: int, out: Path) -> tuple[float, int]:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "talkinghead_studio", "render", str(SAMPLE_PORTRAIT),
         str(SAMPLE_DRIVER), "-o", str(out), "--size", str(size), "--camera", mode,
         "--quiet"], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"render failed ({mode}): {result.stderr.strip()}")
    frames = int(result.stdout.split("(")[1].split()[0])
    return wall, frames


def modes_table(size: int, rounds: int) -> None:
    walls: dict[str, list[float]] = {mode: [] for mode in MODES}
    frames = 0
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(rounds):
            for mode in MODES:
                wall, frames = render_seconds(mode, size, Path(scratch) / f"{mode}.mp4")
                walls[mode].append(wall)
    print(f"\n## The sample at {size} px, {frames} frames, each mode {rounds}x alternated "
          f"(whole CLI process)\n")
    print("| mode | median s | fps | renders, s |\n|---|---|---|---|")
    for mode in MODES:
        median = statistics.median(walls[mode])
        print(f"| {mode} | {median:.2f} | {frames / median:.1f} | "
              f"{', '.join(f'{w:.2f}' for w in walls[mode])} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="*", help="clip names (default: all)")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    clips = [SAMPLE_DRIVER]
    if DATA.is_dir():
        clips += [p for p in sorted(DATA.glob("*.mp4"))
                  if not args.clips or p.stem in args.clips]
    else:
        print(f"({DATA} is absent: the research clips are skipped)")
    print(f"## Camera tracking, first {args.frames} frames\n")
    tracker_table(clips, args.frames)
    modes_table(args.size, args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
