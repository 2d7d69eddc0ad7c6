"""Do extra views help? Self-reenactment with and without few-shot references.

    .venv/bin/python benchmarks/fewshot_views.py [--clips NAME ...] [--size 256] [--views 2]

For each driving clip in ../shared/data/driving (research data; skipped when absent):
  portrait    the clip's frame 0;
  views       frames from the clip's first half that differ most from frame 0: the widest
              open mouth and the most closed eyes (the paper's "few shots");
  driver      the whole clip, neutral = frame 0;
  scored on   the clip's second half only (no view frame is scored), with the reference
              metrics ../shared/tools/thmetrics.py --self (L1, SSIM against the real
              frames) and its mouth/eye agreement.
Renders run once with the portrait alone and once with the views. Everything is written
under bench_out/fewshot_views/ (never the repository: the clips are research data).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from talkinghead_studio.core import face_regions as fr  # noqa: E402
from talkinghead_studio.core.track import extract_track  # noqa: E402
from talkinghead_studio.core.video import ffmpeg_exe, iter_frames  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "driving"
THMETRICS = ROOT.parent / "shared" / "tools" / "thmetrics.py"
OUT = ROOT / "bench_out" / "fewshot_views"


def save_frames(clip: Path, indices: list[int], folder: Path) -> list[Path]:
    from PIL import Image

    wanted, paths = set(indices), {}
    for index, frame in enumerate(iter_frames(clip)):
        if index in wanted:
            paths[index] = folder / f"{clip.stem}_f{index}.png"
            Image.fromarray(frame).save(paths[index])
        if len(paths) == len(wanted):
            break
    return [paths[i] for i in indices]


def pick_views(points: np.ndarray, count: int) -> list[int]:
    """Frame indices in the first half: widest mouth, then most closed eyes, ..."""
    half = len(points) // 2
    mar = np.array([fr.mouth_aspect_ratio(p) for p in points[:half]])
    ear = np.array([fr.eye_aspect_ratio(p) for p in points[:half]])
    picks = [int(np.argmax(mar)), int(np.argmin(ear))]
    return sorted(set(picks))[:count]


def trim(video: Path, start: int, out: Path) -> Path:
    """Frames [start:] of ``video`` re-encoded losslessly enough (CRF 12) for scoring."""
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(video), "-vf",
                    f"select=gte(n\\,{start}),setpts=N/FRAME_RATE/TB", "-an", "-c:v",
                    "libx264", "-crf", "12", "-pix_fmt", "yuv420p", str(out)], check=True)
    return out


def render(portrait: Path, clip: Path, out: Path, size: int, views: list[Path]) -> None:
    cmd = [str(ROOT / ".venv" / "bin" / "talkinghead-studio"), "render", str(portrait),
           str(clip), "-o", str(out), "--size", str(size), "--neutral", "first", "--quiet",
           "--no-watermark"]
    for view in views:
        cmd += ["--reference", str(view)]
    subprocess.run(cmd, check=True, capture_output=True)


def score(driver: Path, generated: Path, portrait: Path, python: str) -> dict:
    result = subprocess.run([python, str(THMETRICS), "eval", "--driving", str(driver),
                             "--generated", str(generated), "--source", str(portrait),
                             "--self"], capture_output=True, text=True, check=True)
    summary = json.loads(result.stdout)
    return {"l1": summary["self_reenactment"]["l1"],
            "ssim": summary["self_reenactment"]["ssim"],
            "mar_corr": summary["expression"]["mar_corr"],
            "ear_corr": summary["expression"]["ear_corr"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="*")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--views", type=int, default=2)
    parser.add_argument("--python", default="/work/thm_venv/bin/python")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"skipped: {DATA} is absent")
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    clips = sorted(DATA.glob("*.mp4"))
    if args.clips:
        clips = [c for c in clips if c.stem in args.clips]
    print("| clip | views (frames) | L1 alone | L1 views | SSIM alone | SSIM views | "
          "mar_corr alone | mar_corr views | ear_corr alone | ear_corr views |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for clip in clips:
        track = extract_track(clip)
        view_frames = pick_views(track.points, args.views)
        portrait = save_frames(clip, [0], OUT)[0]
        views = save_frames(clip, view_frames, OUT)
        half = len(track) // 2
        driver_half = trim(clip, half, OUT / f"{clip.stem}_driver_half.mp4")
        scores = {}
        for label, used in (("alone", []), ("views", views)):
            full = OUT / f"{clip.stem}_{label}.mp4"
            render(portrait, clip, full, args.size, used)
            scores[label] = score(driver_half, trim(full, half, OUT / f"{clip.stem}_{label}_half.mp4"),
                                  portrait, args.python)
        rows.append(scores)
        a, v = scores["alone"], scores["views"]
        fmt = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
        print(f"| {clip.stem} | {view_frames} | {fmt(a['l1'])} | {fmt(v['l1'])} | "
              f"{fmt(a['ssim'])} | {fmt(v['ssim'])} | {fmt(a['mar_corr'])} | "
              f"{fmt(v['mar_corr'])} | {fmt(a['ear_corr'])} | {fmt(v['ear_corr'])} |",
              flush=True)
    for key in ("l1", "ssim"):
        alone = np.mean([r["alone"][key] for r in rows])
        views = np.mean([r["views"][key] for r in rows])
        print(f"\nmean {key}: alone {alone:.4f}, with views {views:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
