"""How well the invisible watermark survives, what it costs, and how often it lies.

Prints one table:
  * per transformation: detection rate over 1-second watermarked clips (and how often the
    payload decoded), with the lowest score seen;
  * false positives: the same transformations applied to the *unwatermarked* clips, plus
    the real clips in ../shared/data as they are, with the highest score seen;
  * PSNR of the watermarked frames against the originals;
  * milliseconds added per 512x512 frame by Watermarker.embed.

"Our exports" are stood in for by 1-second excerpts of the real driving clips in
../shared/data/driving (talking heads, as our renders are) and by procedural talking-head
clips (talkinghead_studio.core.provenance.synthetic), each watermarked and encoded the way
core/video.py's AtomicVideoWriter encodes (libx264, CRF 18, veryfast, yuv420p). Nothing
from ../shared/data is written outside a temporary folder, which is deleted at the end.

Usage:
    .venv/bin/python benchmarks/watermark_robustness.py            # full run (~5-10 min, 2 cores)
    .venv/bin/python benchmarks/watermark_robustness.py --quick    # fewer clips
    .venv/bin/python benchmarks/watermark_robustness.py --scores   # also list every score
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from talkinghead_studio.core.provenance import synthetic  # noqa: E402
from talkinghead_studio.core.provenance.watermark import (  # noqa: E402
    DETECTION_THRESHOLD,
    Watermarker,
    default_payload,
    detect_file,
    detect_frames,
)

DATA = ROOT.parent / "shared" / "data" / "driving"

# name -> ffmpeg -vf filter (None: plain re-encode) and CRF of the re-encode.
TRANSFORMS = {
    "as exported (CRF 18)": (None, None),
    "re-encode CRF 23": (None, 23),
    "re-encode CRF 28": (None, 28),
    "downscale 50% (CRF 23)": ("scale=trunc(iw/4)*2:trunc(ih/4)*2", 23),
    "crop 10% off-centre (CRF 23)": (
        "crop=trunc(iw*0.9/2)*2:trunc(ih*0.9/2)*2:trunc(iw*0.07):trunc(ih*0.03)", 23),
    "crop 10% + resize back (CRF 23)": (
        "crop=trunc(iw*0.9/2)*2:trunc(ih*0.9/2)*2:trunc(iw*0.03):trunc(ih*0.07),"
        "scale=trunc(iw/0.9/2)*2:trunc(ih/0.9/2)*2", 23),
    "gamma 1.5 + colour (CRF 23)": (
        "eq=gamma=1.5:contrast=1.1:brightness=0.04:saturation=1.3", 23),
    "screen capture: 75% + gamma 0.7 + TV range (CRF 28)": (
        "scale=trunc(iw*0.375)*2:trunc(ih*0.375)*2,eq=gamma=0.7:saturation=0.9,"
        "scale=in_range=pc:out_range=tv", 28),
    "mirrored (CRF 23)": ("hflip", 23),
}

# Beyond what the scheme is designed for (--stress): shows where it stops working.
STRESS = {
    "stress: re-encode CRF 40": (None, 40),
    "stress: crop to 50% (CRF 23)": (
        "crop=trunc(iw*0.5/2)*2:trunc(ih*0.5/2)*2:trunc(iw*0.2):trunc(ih*0.3)", 23),
    "stress: downscale to 40% (CRF 23)": ("scale=trunc(iw*0.2)*2:trunc(ih*0.2)*2", 23),
    "stress: blur sigma 2 (CRF 23)": ("gblur=sigma=2", 23),
    "stress: rotate 2 degrees (CRF 23)": ("rotate=2*PI/180", 23),
    "stress: aspect 100%x70% (CRF 23)": ("scale=trunc(iw/2)*2:trunc(ih*0.35)*2", 23),
}


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def encode(frames: list[np.ndarray], path: Path, fps: float, crf: int = 18) -> None:
    """Write HxWx3 uint8 RGB frames as our exporter does (libx264 veryfast, yuv420p)."""
    h, w = frames[0].shape[:2]
    cmd = [ffmpeg(), "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w}x{h}", "-r", f"{fps}", "-i", "-", "-c:v", "libx264", "-preset",
           "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p", "-threads", "1", str(path)]
    subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), check=True)


def transform(src: Path, dst: Path, vf: str | None, crf: int) -> None:
    cmd = [ffmpeg(), "-y", "-v", "error", "-i", str(src)]
    if vf:
        cmd += ["-vf", vf]
    cmd += ["-c:v", "libx264", "-preset", "medium", "-crf", str(crf), "-pix_fmt", "yuv420p",
            "-threads", "1", str(dst)]
    subprocess.run(cmd, check=True)


def read_clip(path: Path, start_s: float, seconds: float) -> tuple[list[np.ndarray], float]:
    """Frames [start_s, start_s + seconds) of a video as HxWx3 uint8 RGB, and its fps."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path), input_params=["-ss", f"{start_s}"])
    meta = next(reader)
    w, h = meta["size"]
    fps = float(meta["fps"])
    frames = []
    try:
        for raw in reader:
            frames.append(np.frombuffer(raw, np.uint8).reshape(h, w, 3).copy())
            if len(frames) >= round(seconds * fps):
                break
    finally:
        reader.close()
    return frames, fps


@dataclass
class Clip:
    name: str
    frames: list[np.ndarray]
    fps: float


def real_clips(per_clip: int, seconds: float) -> list[Clip]:
    clips = []
    if not DATA.is_dir():
        return clips
    for path in sorted(DATA.glob("*.mp4")):
        for k in range(per_clip):
            frames, fps = read_clip(path, k * (seconds + 0.5), seconds)
            if len(frames) >= max(2, int(0.9 * seconds * fps)):
                clips.append(Clip(f"{path.stem}@{k * (seconds + 0.5):.1f}s", frames, fps))
    return clips


def portrait_clips(seconds: float, max_side: int = 1024) -> list[Clip]:
    """Each portrait in ../shared/data/portraits, at its own size (capped, even), gently
    rotated and zoomed over time: a stand-in for an animated export of that portrait, with
    its real backgrounds (white, black, flat grey) and sizes."""
    from PIL import Image

    clips = []
    folder = DATA.parent / "portraits"
    if not folder.is_dir():
        return clips
    fps = 25.0
    for path in sorted(folder.iterdir()):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        factor = min(1.0, max_side / max(rgb.shape[:2]))
        w = int(rgb.shape[1] * factor) // 2 * 2
        h = int(rgb.shape[0] * factor) // 2 * 2
        rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        frames = []
        for t in range(int(seconds * fps)):
            phase = 2 * np.pi * t / fps
            m = cv2.getRotationMatrix2D((w / 2, h * 0.4), 2.0 * np.sin(phase),
                                        1.0 + 0.01 * np.sin(2 * phase))
            frames.append(cv2.warpAffine(rgb, m, (w, h), flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_REFLECT))
        clips.append(Clip(f"portrait:{path.stem} {w}x{h}", frames, fps))
    return clips


def synthetic_clips(count: int, seconds: float) -> list[Clip]:
    fps = 25.0
    return [Clip(f"synthetic{seed}", list(synthetic.talking_head_clip(seed, int(seconds * fps))),
                 fps) for seed in range(count)]


@dataclass
class Row:
    scores: list[float] = field(default_factory=list)
    found: int = 0
    payload_ok: int = 0

    def add(self, result, payload: bytes) -> None:
        self.scores.append(result.score)
        self.found += int(result.found)
        self.payload_ok += int(result.payload == payload)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


def save_gif(frames: list[np.ndarray], path: Path, fps: float) -> None:
    """GIF as core/export.py's GifSink writes it: ffmpeg, width capped at 640, two-pass
    palette, Bayer dithering."""
    h, w = frames[0].shape[:2]
    graph = ("scale='min(640,iw)':-2:flags=lanczos,split[a][b];[a]palettegen=stats_mode=diff[p];"
             "[b][p]paletteuse=dither=bayer:bayer_scale=3")
    cmd = [ffmpeg(), "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
           "-r", f"{min(fps, 25.0):.6g}", "-i", "-", "-filter_complex", graph, "-loop", "0",
           str(path)]
    subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), check=True)


def run_clips(clips: list[Clip], work: Path, payload: bytes) -> dict:
    marker = Watermarker(payload)
    marked_rows = {name: Row() for name in TRANSFORMS}
    clean_rows = {name: Row() for name in TRANSFORMS}
    still_rows = {k: Row() for k in ("PNG still", "still after CRF 23", "clean PNG still",
                                      "GIF (ffmpeg palette, as GifSink)")}
    psnrs = []
    for i, clip in enumerate(clips):
        marked = [marker.embed(f) for f in clip.frames]
        psnrs.extend(psnr(a, b) for a, b in zip(clip.frames, marked))
        for label, frames, rows in (("m", marked, marked_rows), ("c", clip.frames, clean_rows)):
            export = work / f"{i}{label}.mp4"
            encode(frames, export, clip.fps)
            for t, (name, (vf, crf)) in enumerate(TRANSFORMS.items()):
                target = export
                if crf is not None:
                    target = work / f"{i}{label}_{t}.mp4"
                    transform(export, target, vf, crf)
                rows[name].add(detect_file(target), payload)
                if label == "m" and name == "re-encode CRF 23":
                    still_rows["still after CRF 23"].add(detect_file(target, max_frames=1), payload)
        still_rows["PNG still"].add(detect_frames(marked[:1]), payload)
        still_rows["clean PNG still"].add(detect_frames(clip.frames[:1]), payload)
        gif = work / f"{i}.gif"
        save_gif(marked[: max(1, int(clip.fps))], gif, clip.fps)
        still_rows["GIF (ffmpeg palette, as GifSink)"].add(detect_file(gif), payload)
        print(f"  clip {i + 1}/{len(clips)} {clip.name}: done", file=sys.stderr)
    return {"marked": marked_rows, "clean": clean_rows, "still": still_rows, "psnr": psnrs}


def full_clip_false_positives(payload: bytes) -> Row:
    """The real clips as shipped (up to 10 s each), never watermarked."""
    row = Row()
    for path in sorted(DATA.glob("*.mp4")) if DATA.is_dir() else []:
        row.add(detect_file(path), payload)
    return row


def embed_speed(size: int = 512, frames: int = 300) -> float:
    """Median-of-5 milliseconds per embed on a size x size frame (pattern cached)."""
    rng = np.random.default_rng(0)
    frame = synthetic.scene(rng, size, size)
    marker = Watermarker()
    marker.embed(frame)  # builds the per-size pattern once, as an export does
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(frames):
            marker.embed(frame)
        runs.append((time.perf_counter() - start) / frames * 1000)
    return float(np.median(runs))


def report(results: dict, fp_full: Row, n_clips: int, speed: float, show_scores: bool) -> None:
    def rate(row: Row) -> str:
        n = len(row.scores)
        return f"{row.found}/{n} ({100.0 * row.found / max(n, 1):5.1f}%)"

    print(f"\nWatermark robustness over {n_clips} one-second clips; threshold z >= {DETECTION_THRESHOLD}")
    print(f"{'transformation':55s} {'detected (marked)':>18s} {'payload ok':>10s} {'min z':>6s}"
          f" | {'false pos (clean)':>18s} {'max z':>6s}")
    for name in TRANSFORMS:
        m, c = results["marked"][name], results["clean"][name]
        print(f"{name:55s} {rate(m):>18s} {m.payload_ok:>10d} {min(m.scores):6.1f}"
              f" | {rate(c):>18s} {max(c.scores):6.1f}")
    for name, row in results["still"].items():
        clean = name.startswith("clean")
        stat = f"{max(row.scores):6.1f}" if clean else f"{min(row.scores):6.1f}"
        print(f"{name:55s} {rate(row):>18s} {row.payload_ok:>10d} {stat} {'(max z, clean)' if clean else ''}")
    if fp_full.scores:
        print(f"{'real clips as shipped (first 10 s), unwatermarked':55s} {'':>18s} {'':>10s} {'':>6s}"
              f" | {rate(fp_full):>18s} {max(fp_full.scores):6.1f}")
    clean_all = [s for r in results["clean"].values() for s in r.scores] + fp_full.scores \
        + results["still"]["clean PNG still"].scores
    print(f"\nall unwatermarked inputs: n={len(clean_all)}, z mean {np.mean(clean_all):.2f}, "
          f"p99 {np.percentile(clean_all, 99):.2f}, max {np.max(clean_all):.2f}")
    marked_all = [s for r in results["marked"].values() for s in r.scores]
    print(f"all watermarked clips:    n={len(marked_all)}, z min {np.min(marked_all):.2f}, "
          f"median {np.median(marked_all):.2f}")
    p = np.array(results["psnr"])
    print(f"PSNR watermarked vs original frames: mean {p.mean():.2f} dB, min {p.min():.2f} dB")
    print(f"Watermarker.embed at 512x512: {speed:.3f} ms/frame (median of 5 x 300 frames, "
          f"cv2 threads=1)")
    if show_scores:
        for group in ("marked", "clean"):
            for name, row in results[group].items():
                print(group, name, " ".join(f"{s:.1f}" for s in row.scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 excerpt per real clip, 2 synthetic")
    parser.add_argument("--per-clip", type=int, default=3, help="1-s excerpts per real clip")
    parser.add_argument("--synthetic", type=int, default=6, help="procedural clips")
    parser.add_argument("--seconds", type=float, default=1.0, help="excerpt length")
    parser.add_argument("--stress", action="store_true",
                        help="also run transformations beyond the design (rotation, ...)")
    parser.add_argument("--no-portraits", action="store_true", help="skip the animated portraits")
    parser.add_argument("--scores", action="store_true", help="print every score")
    args = parser.parse_args()
    if args.quick:
        args.per_clip, args.synthetic = 1, 2
    if args.stress:
        TRANSFORMS.update(STRESS)
    cv2.setNumThreads(1)
    payload = default_payload()
    clips = real_clips(args.per_clip, args.seconds) + synthetic_clips(args.synthetic, args.seconds)
    if not args.no_portraits:
        clips += portrait_clips(args.seconds)[: 4 if args.quick else None]
    if not DATA.is_dir():
        print(f"note: {DATA} not found; synthetic clips only", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="wm-bench-") as tmp:
        results = run_clips(clips, Path(tmp), payload)
    fp_full = full_clip_false_positives(payload)
    report(results, fp_full, len(clips), embed_speed(), args.scores)


if __name__ == "__main__":
    main()
