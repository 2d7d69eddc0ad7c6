"""Render speed per stage and end to end, and peak memory, on this machine.

    .venv/bin/python benchmarks/speed.py [--driver CLIP] [--portrait IMG] [--sizes 256 512]
                                         [--frames N] [--no-memory]

Prints one table per working size:
  stage rows   each stage alone, single-threaded in this process, in ms/frame and fps:
               decode, landmarks (MediaPipe, tracking mode), motion (retarget + smoothing),
               generate (ONNX generator, and finishing the frame in the portrait when
               the face's box is no larger than the working size), paste (paste-back
               at portrait size, for the other cases: 0 when the frame was finished),
               watermark, encode (H.264 via ffmpeg, at portrait size);
  end to end   `talkinghead-studio render` in a fresh process (stages overlapped in
               threads), wall-clock fps including start-up, and its peak memory (RSS).
Then a memory check: the same render on the driver looped 1x and 4x; a streaming
pipeline's peak memory must not grow with the video's length.

    .venv/bin/python benchmarks/speed.py --compare /tmp/old --sizes 512 [--pairs 5]

times only end to end renders, this checkout alternating with another one (make it
with `git worktree add /tmp/old <commit>`): the machine's speed drifts too much for
numbers from different runs to be compared.

    .venv/bin/python benchmarks/speed.py --series 12 --sizes 512

times only end to end renders, N in a row, and prints each fps, the median, the range and
how many reach the target (2x real time): one render is one sample of a drifting machine.

The default driver is the shipped sample (resources/drivers/sample_driver.mp4, 8.8 s at
25 fps) and the default portrait the shipped astronaut (512x512).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from talkinghead_studio.config import MotionSettings  # noqa: E402
from talkinghead_studio.core.animator import Animator  # noqa: E402
from talkinghead_studio.core.images import load_portrait  # noqa: E402
from talkinghead_studio.core.landmarks import FaceMeshDetector  # noqa: E402
from talkinghead_studio.core.portrait import prepare_portrait  # noqa: E402
from talkinghead_studio.core.provenance import Watermarker  # noqa: E402
from talkinghead_studio.core.video import AtomicVideoWriter, ffmpeg_exe, iter_frames  # noqa: E402
from talkinghead_studio.inference.session import OnnxGenerator  # noqa: E402
from talkinghead_studio.paths import model_path  # noqa: E402


def timed(function, items) -> tuple[float, list]:
    """(ms per item, results) of calling ``function`` on each item in turn."""
    results = []
    start = time.perf_counter()
    for item in items:
        results.append(function(item))
    return (time.perf_counter() - start) * 1000 / max(len(items), 1), results


def stage_timings(portrait_path: Path, driver: Path, size: int, frames: int) -> dict:
    start = time.perf_counter()
    decoded = []
    for frame in iter_frames(driver):
        decoded.append(frame)
        if len(decoded) >= frames:
            break
    decode_ms = (time.perf_counter() - start) * 1000 / len(decoded)
    with FaceMeshDetector(mode="video") as detector:
        landmarks_ms, found = timed(detector.detect, decoded)
    points = [f.points for f in found if f is not None]
    portrait = prepare_portrait(load_portrait(portrait_path), size)
    animator = Animator(portrait, OnnxGenerator(model_path("mesh_warp.onnx")),
                        MotionSettings(), fps=25.0)
    animator.set_driver_reference(points[0])
    motion_ms, targets = timed(animator.target_landmarks, points)
    if animator.composes_in_portrait:
        # As the render does it: the companion's fields finished straight into the
        # portrait (inference/sampling.py RegionCompositor), so there is no paste.
        generate_ms, finished = timed(lambda t: animator.frame_with(t, None), targets)
        full = [frame for frame, _ in finished]
        paste_ms = 0.0
    else:
        generate_ms, crops = timed(animator.generate, targets)
        paste_ms, full = timed(lambda c: animator.compose(c[0], c[1])[0], crops)
    marker = Watermarker()
    watermark_ms, marked = timed(marker.embed, full)
    height, width = full[0].shape[:2]
    with tempfile.TemporaryDirectory() as scratch:
        with AtomicVideoWriter(Path(scratch) / "o.mp4", (width, height), 25.0) as writer:
            encode_ms, _ = timed(writer.write, marked)
    return {"decode": decode_ms, "landmarks": landmarks_ms, "motion": motion_ms,
            "generate": generate_ms, "paste": paste_ms, "watermark": watermark_ms,
            "encode": encode_ms}


def end_to_end(portrait: Path, driver: Path, size: int, checkout: Path = ROOT) -> dict:
    """Wall-clock fps and peak RSS of a CLI render in a fresh process, with the code of
    ``checkout`` (its folder goes first on the child's import path)."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "out.mp4"
        code = (
            "import sys, time, json\n"
            "from talkinghead_studio.cli import main\n"
            "t = time.perf_counter()\n"
            f"rc = main(['render', {str(portrait)!r}, {str(driver)!r}, '-o', {str(out)!r},"
            f" '--size', '{size}', '--quiet'])\n"
            "wall = time.perf_counter() - t\n"
            # VmHWM, not ru_maxrss: ru_maxrss survives exec, so it would report this
            # benchmark's own (parent) peak when that is larger.
            "peak = [int(l.split()[1]) for l in open('/proc/self/status')"
            " if l.startswith('VmHWM')][0] / 1024\n"
            "print(json.dumps({'rc': rc, 'wall': wall, 'peak_mb': peak}), file=sys.stderr)\n")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                cwd=checkout)
        stats = json.loads(result.stderr.strip().splitlines()[-1])
        frames_line = [l for l in result.stdout.splitlines() if l.startswith("wrote")]
        frames = int(frames_line[0].split("(")[1].split()[0]) if frames_line else 0
    stats["frames"] = frames
    stats["fps"] = frames / stats["wall"] if stats["wall"] else 0.0
    return stats


def looped(driver: Path, times: int, folder: Path) -> Path:
    """The driver's video repeated ``times`` times (stream copy, no re-encode)."""
    listing = folder / "list.txt"
    listing.write_text("".join(f"file '{driver.resolve()}'\n" for _ in range(times)))
    out = folder / f"looped{times}.mp4"
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "concat", "-safe", "0",
                    "-i", str(listing), "-c", "copy", str(out)], check=True)
    return out


def compare(other: Path, portrait: Path, driver: Path, size: int, pairs: int) -> int:
    """Alternate end to end renders of this checkout and ``other``; print each pair and
    the mean wall times."""
    if not (other / "talkinghead_studio").is_dir():
        print(f"error: {other} is not a checkout of this project", file=sys.stderr)
        return 2
    print(f"\n## End to end at {size} px, alternated: this checkout vs {other}\n")
    print("| pair | this, s | other, s |\n|---|---|---|")
    walls: dict[str, list[float]] = {"this": [], "other": []}
    for pair in range(1, pairs + 1):
        for name, checkout in (("other", other), ("this", ROOT)):
            walls[name].append(end_to_end(portrait, driver, size, checkout)["wall"])
        print(f"| {pair} | {walls['this'][-1]:.2f} | {walls['other'][-1]:.2f} |")
    this, that = (float(np.mean(walls[k])) for k in ("this", "other"))
    print(f"| **mean** | **{this:.2f}** | **{that:.2f}** |\n\n"
          f"wall time, this checkout against the other: {100 * (this / that - 1):+.1f} %")
    return 0


def series(portrait: Path, driver: Path, size: int, count: int) -> int:
    """``count`` end to end renders in a row; each fps, median, range, share >= 2x real
    time (the issue's target: 50 fps for a 25 fps driver)."""
    import statistics

    from talkinghead_studio.core.video import probe_video

    target = 2.0 * probe_video(driver).fps
    print(f"\n## End to end at {size} px, {count} renders in a row\n")
    rates = []
    for _ in range(count):
        rates.append(end_to_end(portrait, driver, size)["fps"])
        print(f"{rates[-1]:.1f} fps", flush=True)
    print(f"\nmedian {statistics.median(rates):.1f} fps, range {min(rates):.1f}-"
          f"{max(rates):.1f}; {sum(r >= target for r in rates)} of {count} at >= {target:g} "
          f"fps (2x the driver's {target / 2:g} fps)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driver", type=Path,
                        default=ROOT / "resources" / "drivers" / "sample_driver.mp4")
    parser.add_argument("--portrait", type=Path,
                        default=ROOT / "resources" / "portraits" / "astronaut.png")
    parser.add_argument("--sizes", nargs="*", type=int, default=[256, 512])
    parser.add_argument("--frames", type=int, default=150, help="frames per stage timing")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--compare", type=Path, metavar="CHECKOUT",
                        help="only time end to end renders, alternating this checkout with "
                             "another (e.g. `git worktree add /tmp/old <commit>`), at the "
                             "largest --sizes: this machine's speed drifts by 10-20 %% over "
                             "a day, so builds are compared side by side, never across runs")
    parser.add_argument("--pairs", type=int, default=5, help="renders of each with --compare")
    parser.add_argument("--series", type=int, metavar="N",
                        help="only time N end to end renders in a row at the largest --sizes")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; driver {args.driver.name}; "
          f"portrait {args.portrait.name}")
    if args.series:
        return series(args.portrait.resolve(), args.driver.resolve(), max(args.sizes),
                      args.series)
    if args.compare is not None:
        return compare(args.compare.resolve(), args.portrait.resolve(), args.driver.resolve(),
                       max(args.sizes), args.pairs)
    for size in args.sizes:
        stages = stage_timings(args.portrait, args.driver, size, args.frames)
        print(f"\n## {size} px working size\n\n| stage | ms/frame | fps |\n|---|---|---|")
        for name, ms in stages.items():
            print(f"| {name} | {ms:.2f} | {1000 / ms:.0f} |" if ms > 0 else
                  f"| {name} | none: the frame is finished in generate | |")
        print(f"| sum of stages (no overlap) | {sum(stages.values()):.2f} | "
              f"{1000 / sum(stages.values()):.0f} |")
        e2e = end_to_end(args.portrait, args.driver, size)
        print(f"| **end to end** (CLI, {e2e['frames']} frames, start-up included) | "
              f"{1000 / max(e2e['fps'], 1e-6):.2f} | **{e2e['fps']:.1f}** |")
        with tempfile.TemporaryDirectory() as scratch:
            long = end_to_end(args.portrait, looped(args.driver, 4, Path(scratch)), size)
        print(f"| **end to end, driver x4** ({long['frames']} frames: start-up amortised) | "
              f"{1000 / max(long['fps'], 1e-6):.2f} | **{long['fps']:.1f}** |")
        print(f"\npeak memory (RSS) of the render process: {e2e['peak_mb']:.0f} MB")
    if not args.no_memory:
        print("\n## Memory against video length (256 px)\n\n| driver | frames | peak MB |\n|---|---|---|")
        with tempfile.TemporaryDirectory() as scratch:
            for times in (1, 4):
                clip = looped(args.driver, times, Path(scratch))
                e2e = end_to_end(args.portrait, clip, 256)
                print(f"| driver x{times} | {e2e['frames']} | {e2e['peak_mb']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
