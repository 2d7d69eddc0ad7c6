#!/usr/bin/env python3
"""Where the self-reenactment L1 comes from: per clip, split by region, plus error maps.

Reads a finished `benchmarks/quality.py` run (its renders/self/*.mp4) and the real
driving clips, and for each clip prints its L1 (as thmetrics computes it: the render
resized to the driver's size with INTER_AREA, mean |difference| over pixels and channels,
0..1) and how much of it lies in three regions:

  face    the convex hull of the driver's frame-0 face mesh;
  torso   below the chin by more than 0.15 face heights (shoulders, chest);
  rest    everything else: hair, ears, neck, background.

Each share is that region's summed error over the frame's pixel count, so the three add
up to the clip's L1. (Within ~0.002 of thmetrics' L1: the two decode the clips with
different readers.) Also printed: L1 over the first and the last ten frames (a clip
drifting away from its frame 0 grows); "still", the L1 of doing nothing (every real
frame against frame 0); and "floor", what exporting costs a frame that should equal
frame 0 exactly: frame 0 watermarked, encoded as the export encodes and decoded again,
against frame 0. No render scores below its floor. A sheet per clip row (frame 0 | a
middle driver frame | our render of it | the mean error map, 4x gain) goes to --sheet.

  .venv/bin/python benchmarks/self_error.py --run bench_out/quality/size256_frames100 \
      [--sheet bench_out/self_error.png] [--frames 100]

Research data stays out of the repository: the sheet is written under bench_out/ only.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from talkinghead_studio.core import provenance  # noqa: E402
from talkinghead_studio.core.landmarks import FaceMeshDetector  # noqa: E402
from talkinghead_studio.core.video import AtomicVideoWriter, iter_frames  # noqa: E402

TORSO_BELOW_CHIN = 0.15    # face heights below the chin where "torso" starts
CHIN, FOREHEAD = 152, 10   # MediaPipe indices


def regions(frame0: np.ndarray) -> dict[str, np.ndarray]:
    """HxW bool masks (face, torso, rest) from the driver's first frame."""
    with FaceMeshDetector("image") as detector:
        found = detector.detect(frame0)
    if found is None:
        raise SystemExit("no face in the driver's first frame")
    points = found.points[:, :2]
    height, width = frame0.shape[:2]
    face = np.zeros((height, width), np.uint8)
    cv2.fillConvexPoly(face, cv2.convexHull(np.round(points).astype(np.int32)), 1)
    chin, top = points[CHIN, 1], points[FOREHEAD, 1]
    rows = np.arange(height)[:, None] > chin + TORSO_BELOW_CHIN * (chin - top)
    torso = rows & (face == 0)
    return {"face": face > 0, "torso": torso, "rest": (face == 0) & ~torso}


def clip_errors(driver: Path, render: Path, frames: int):
    """(mean error map HxW float32 in 0..1, per-frame L1 list, the still L1 (real frames
    against frame 0), picked frames: frame 0, a middle driver frame, our render of it)."""
    total, per_frame, still, picked = None, [], [], {}
    middle = frames // 2
    for index, (real, ours) in enumerate(zip(iter_frames(driver), iter_frames(render))):
        if index >= frames:
            break
        if ours.shape != real.shape:
            ours = cv2.resize(ours, (real.shape[1], real.shape[0]), interpolation=cv2.INTER_AREA)
        error = np.abs(real.astype(np.float32) - ours.astype(np.float32)).mean(-1) / 255.0
        total = error if total is None else total + error
        per_frame.append(float(error.mean()))
        if index == 0:
            picked["frame0"] = real
        still.append(float(np.abs(real.astype(np.float32) - picked["frame0"]).mean() / 255.0))
        if index <= middle:
            picked["real"], picked["ours"] = real, ours
    return total / len(per_frame), per_frame, float(np.mean(still)), picked


def codec_floor(frame0: np.ndarray, scratch: Path, frames: int = 5) -> float:
    """L1 (0..1) of frame0 (HxWx3 uint8 RGB) watermarked, encoded the way an export is
    (core/video.py AtomicVideoWriter: H.264 CRF 18, yuv420p) and decoded again."""
    height, width = frame0.shape[:2]
    marked = provenance.Watermarker().embed(frame0)
    target = scratch / "floor.mp4"
    with AtomicVideoWriter(target, (width, height), 25.0) as writer:
        for _ in range(frames):
            writer.write(marked)
    errors = [np.abs(decoded[:height, :width].astype(np.float32) - frame0).mean() / 255.0
              for decoded in iter_frames(target)]
    return float(np.mean(errors))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True,
                        help="a quality.py run folder (holding renders/self)")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--sheet", type=Path, default=ROOT / "bench_out" / "self_error.png")
    args = parser.parse_args()
    renders = sorted((args.run / "renders" / "self").glob("*__frame0.mp4"))
    if not renders:
        print(f"no self-reenactment renders under {args.run / 'renders' / 'self'}",
              file=sys.stderr)
        return 2
    print("| clip | L1 | face | torso | rest | first 10 frames | last 10 frames | still | "
          "floor |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows, means = [], []
    scratch = Path(tempfile.mkdtemp(prefix="self_error_"))
    for render in renders:
        clip = render.name.split("__")[0]
        driver = args.data / "driving" / f"{clip}.mp4"
        if not driver.is_file():
            print(f"| {clip} | driver missing | | | | | | | |")
            continue
        error, per_frame, still, picked = clip_errors(driver, render, args.frames)
        shares = {name: float(error[mask].sum() / error.size)
                  for name, mask in regions(picked["frame0"]).items()}
        floor = codec_floor(picked["frame0"], scratch)
        means.append((float(error.mean()), shares, still, floor))
        print(f"| {clip} | {error.mean():.4f} | {shares['face']:.4f} | {shares['torso']:.4f} | "
              f"{shares['rest']:.4f} | {np.mean(per_frame[:10]):.4f} | "
              f"{np.mean(per_frame[-10:]):.4f} | {still:.4f} | {floor:.4f} |")
        heat = cv2.applyColorMap(np.clip(error * 4 * 255, 0, 255).astype(np.uint8),
                                 cv2.COLORMAP_JET)[..., ::-1]
        tiles = [picked["frame0"], picked["real"], picked["ours"], heat]
        rows.append(np.concatenate([cv2.resize(t, (256, int(256 * t.shape[0] / t.shape[1])))
                                    for t in tiles], 1))
    shutil.rmtree(scratch, ignore_errors=True)
    if means:
        l1 = np.mean([m[0] for m in means])
        share = {k: np.mean([m[1][k] for m in means]) for k in ("face", "torso", "rest")}
        print(f"| **mean** | **{l1:.4f}** | {share['face']:.4f} | {share['torso']:.4f} | "
              f"{share['rest']:.4f} | | | {np.mean([m[2] for m in means]):.4f} | "
              f"{np.mean([m[3] for m in means]):.4f} |")
        height = max(r.shape[0] for r in rows)
        sheet = np.concatenate([np.pad(r, ((0, height - r.shape[0]), (0, 0), (0, 0)))
                                for r in rows], 0)
        args.sheet.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.sheet), sheet[..., ::-1])
        print(f"\nsheet: {args.sheet} (frame 0 | driver, middle frame | ours | mean error x4)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
