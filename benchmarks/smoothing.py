"""How much the landmark smoothing removes jitter, and what it costs in responsiveness.

    .venv/bin/python benchmarks/smoothing.py [--clips NAME ...] [--settings 0 0.25 0.5 0.75 1]

For each driving clip in ../shared/data/driving (research data; skipped if absent) and
each smoothing setting, prints:
  ear_corr / mar_corr  correlation of the eye / mouth opening series after smoothing
                       with the raw series (1 = no lag or loss; blinks are the hardest);
  jitter               mean frame-to-frame acceleration of the rigid head points after
                       smoothing, divided by the raw one (lower = steadier).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from talkinghead_studio.core import face_regions as fr  # noqa: E402
from talkinghead_studio.core.motion import landmark_smoother  # noqa: E402
from talkinghead_studio.core.track import extract_track  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "driving"


def series(points: np.ndarray):
    ear = np.array([fr.eye_aspect_ratio(p) for p in points])
    mar = np.array([fr.mouth_aspect_ratio(p) for p in points])
    jitter = np.abs(np.diff(points[:, list(fr.RIGID), :2], 2, axis=0)).mean()
    return ear, mar, jitter


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="*", default=None)
    parser.add_argument("--settings", nargs="*", type=float, default=[0.25, 0.5, 0.75, 1.0])
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"skipped: {DATA} is absent")
        return 0
    clips = sorted(DATA.glob("*.mp4"))
    if args.clips:
        clips = [c for c in clips if c.stem in args.clips]
    print(f"{'clip':<20} {'smoothing':>9} {'ear_corr':>8} {'mar_corr':>8} {'jitter':>7}")
    for clip in clips:
        track = extract_track(clip)
        raw_ear, raw_mar, raw_jitter = series(track.points)
        face = fr.interocular(track.points[0]) * 2.5
        for setting in args.settings:
            smoother = landmark_smoother(setting, track.fps, face)
            smooth = np.stack([smoother(p) for p in track.points])
            ear, mar, jitter = series(smooth)
            print(f"{clip.stem:<20} {setting:>9.2f} {np.corrcoef(raw_ear, ear)[0, 1]:>8.3f} "
                  f"{np.corrcoef(raw_mar, mar)[0, 1]:>8.3f} {jitter / raw_jitter:>7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
