#!/usr/bin/env python3
"""Quality benchmark: render driving clips onto portraits and score them with thmetrics.

Every number comes from the reference tool ``../shared/tools/thmetrics.py`` (run in its
own virtualenv, see its docstring); this script only renders, calls it, and tabulates.

Two experiments:
  cross-identity   every clip in DATA/driving x every portrait in DATA/portraits:
                   motion (AKD, pose, MAR/EAR), identity (CSIM), detection, jitter.
  self-reenactment each clip animates its own frame 0; the output is compared with the
                   real frames (L1, PSNR, SSIM).

Runner side: stdlib + numpy; every external program is called with an argument list.

Cost (CPU seconds, measured on the 2-core dev machine): thmetrics about 0.11 s per frame
(0.06 s with --csim-stride 2, the default: the dlib embedding is most of it), 0.23 s per
self-reenactment frame (SSIM), plus about 2.5 s per pair; the 256 px render about
0.05-0.08 s per frame (more for large portraits: it encodes at portrait size) plus about
2 s per start. Progress lines on stderr carry an ETA.

Default run (96 cross pairs + 8 self clips, at most 100 frames each: about 30 CPU-minutes,
so roughly 20-30 min on a quiet 2-core machine and longer when the cores are shared):
  .venv/bin/python benchmarks/quality.py
Full run (every frame, every generated frame embedded: about 2 CPU-hours, so about 1 h
with both cores):
  .venv/bin/python benchmarks/quality.py --max-frames 0 --csim-stride 1 --jobs 2
Quick look at two pairs:
  .venv/bin/python benchmarks/quality.py --clips lp_d0 --portraits lp_s1 fr_obama --max-frames 30
Re-score existing renders (e.g. after a thmetrics update):
  .venv/bin/python benchmarks/quality.py --skip-render
Score another version of the code (a git worktree at OTHER) with this venv; -P keeps
Python from putting the current folder (this checkout) ahead of PYTHONPATH:
  .venv/bin/python benchmarks/quality.py --out bench_out/other \
      --render-cmd "env PYTHONPATH=OTHER .venv/bin/python -P -m talkinghead_studio render --quiet"

Outputs (under --out, one folder per size/frame budget): renders/, eval/ (thmetrics
summary + per-frame JSON per pair), logs/, report.md (the tables printed to stdout) and
results.json (every number, including thmetrics' full summaries).
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import shlex
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"
DEFAULT_DATA = SHARED_DIR / "data"
DEFAULT_THMETRICS = SHARED_DIR / "tools" / "thmetrics.py"
DEFAULT_PYTHON = Path("/work/thm_venv/bin/python")
DEFAULT_RENDER_CMD = f"{REPO_ROOT / '.venv' / 'bin' / 'talkinghead-studio'} render --quiet"
# Self-reenactment animates frame 0 of the clip, so the driver's reference frame must be
# frame 0 too; the CLI's default ("auto": the most neutral early frame) would add the
# offset between frame 0 and that frame to every output frame. The portrait *is* a
# frame of the driver's camera, so the render follows that camera too ("--camera
# follow", core/camera.py): what the self-reenactment frames are scored against moves
# with it. Cross-identity pairs keep the default fixed camera.
DEFAULT_SELF_ARGS = "--neutral first --camera follow"
DEFAULT_OUT = REPO_ROOT / "bench_out" / "quality"

VIDEO_EXT = {".mp4", ".mov", ".mkv", ".avi", ".webm"}
IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
# thmetrics rescales generated landmarks to the driver's frame size separately in x and y.
# A generated video whose aspect ratio differs from the driver's (a portrait-shaped output
# against a square clip) therefore gets its landmarks squashed: MAR/EAR gains and pose come
# out wrong by the aspect ratio (a perfect copy padded to 512x720 scored mar_gain 0.71).
# Past this relative difference we pad the render to the driver's aspect before scoring.
ASPECT_TOLERANCE = 0.01

# Run inside the thmetrics venv (it has cv2 and imageio-ffmpeg; this runner has neither).
_THM_SIDE_SNIPPET = r"""
import sys, cv2
cmd = sys.argv[1]
if cmd == "ffmpeg":
    import imageio_ffmpeg
    print(imageio_ffmpeg.get_ffmpeg_exe())
    sys.exit(0)
cap = cv2.VideoCapture(sys.argv[2])
if not cap.isOpened():
    sys.exit("cannot open " + sys.argv[2])
if cmd == "size":
    print(int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
elif cmd == "frame0":
    # Same decoder as thmetrics uses for the ground-truth frames.
    ok, bgr = cap.read()
    if not ok or not cv2.imwrite(sys.argv[3], bgr):
        sys.exit("cannot extract frame 0 of " + sys.argv[2])
"""


# ----------------------------------------------------------------------------- metrics table

@dataclass(frozen=True)
class Column:
    """One reported number: where it sits in thmetrics' summary JSON and how to print it."""

    header: str
    path: tuple[str, ...]
    fmt: str = "{:.3f}"
    percent: bool = False


CROSS_COLUMNS = (
    Column("akd.disp_iod", ("akd", "disp_iod")),
    Column("akd.expr_iod", ("akd", "expr_iod")),
    Column("pose err deg", ("pose", "rel_rotation_err_deg"), "{:.2f}"),
    Column("mar_corr", ("expression", "mar_corr"), "{:.2f}"),
    Column("mar_gain", ("expression", "mar_gain"), "{:.2f}"),
    Column("ear_corr", ("expression", "ear_corr"), "{:.2f}"),
    Column("CSIM mean", ("identity", "csim_mean")),
    Column("detect", ("detection", "generated_rate"), "{:.1f}%", percent=True),
    Column("jitter ratio", ("jitter", "ratio"), "{:.2f}"),
)
SELF_COLUMNS = (
    Column("L1", ("self_reenactment", "l1"), "{:.4f}"),
    Column("PSNR dB", ("self_reenactment", "psnr"), "{:.2f}"),
    Column("SSIM", ("self_reenactment", "ssim")),
    Column("akd.abs_iod", ("akd", "abs_iod")),
    Column("CSIM mean", ("identity", "csim_mean")),
    Column("detect", ("detection", "generated_rate"), "{:.1f}%", percent=True),
    Column("jitter ratio", ("jitter", "ratio"), "{:.2f}"),
)


@dataclass(frozen=True)
class Target:
    """A pass/fail goal on one metric.

    aggregate: "mean" compares the mean over pairs; "min" requires every pair to meet it.
    none_as: value used for a pair whose metric thmetrics left empty (None); None means
             such pairs are left out of the mean (and counted as failing pairs).
    """

    label: str
    experiment: str              # "cross" | "self"
    path: tuple[str, ...]
    low: float | None = None
    high: float | None = None
    aggregate: str = "mean"
    none_as: float | None = None

    def holds(self, value: float | None) -> bool:
        if value is None or not np.isfinite(value):
            return False
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


TARGETS = (
    Target("self L1 <= 0.04", "self", ("self_reenactment", "l1"), high=0.04),
    Target("self SSIM >= 0.75", "self", ("self_reenactment", "ssim"), low=0.75),
    Target("akd.disp_iod <= 0.10", "cross", ("akd", "disp_iod"), high=0.10),
    # thmetrics reports no correlation when the generated mouth/eyes barely move (gain
    # < 0.05); that is a motion failure, so it counts as zero correlation, not as absent.
    Target("mar_corr >= 0.9", "cross", ("expression", "mar_corr"), low=0.9, none_as=0.0),
    Target("mar_gain in [0.7, 1.3]", "cross", ("expression", "mar_gain"), low=0.7, high=1.3),
    Target("ear_corr >= 0.8", "cross", ("expression", "ear_corr"), low=0.8, none_as=0.0),
    Target("CSIM mean >= 0.94", "cross", ("identity", "csim_mean"), low=0.94),
    Target("detection 100%", "cross", ("detection", "generated_rate"), low=1.0, aggregate="min"),
    Target("jitter ratio <= 1.2", "cross", ("jitter", "ratio"), high=1.2),
)


def lookup(summary: dict | None, path: Sequence[str]) -> float | None:
    """Follow `path` into a thmetrics summary; None when any key is missing or null."""
    node = summary
    for key in path:
        if not isinstance(node, dict) or node.get(key) is None:
            return None
        node = node[key]
    return float(node) if isinstance(node, (int, float)) else None


# ----------------------------------------------------------------------------- work items

@dataclass
class PairResult:
    """One render + evaluation. `summary` is thmetrics' summary JSON, untouched."""

    experiment: str          # "cross" | "self"
    clip: str
    portrait: str            # portrait stem, or "frame0" for self-reenactment
    status: str = "pending"  # ok | render failed | eval failed | missing render
    error: str = ""
    render_path: str = ""
    eval_path: str = ""
    per_frame_path: str = ""
    render_s: float | None = None
    eval_s: float | None = None
    frames: int | None = None
    preprocessing: str = ""
    summary: dict | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class Job:
    """Inputs of one pair. For self-reenactment `portrait` is the extracted frame 0."""

    experiment: str
    clip: Path
    portrait: Path
    portrait_name: str


@dataclass(frozen=True)
class Settings:
    """Everything a run needs, resolved from the command line."""

    data: Path
    run_dir: Path
    render_cmd: tuple[str, ...]
    self_args: tuple[str, ...]   # appended to the render command for self-reenactment only
    python: Path
    thmetrics: Path
    size: int
    max_frames: int          # 0 = every frame
    csim_stride: int
    skip_render: bool
    reuse_eval: bool
    timeout_s: float
    aspect_fix: bool


# ----------------------------------------------------------------------------- subprocess helpers

def run_logged(cmd: Sequence[str], log_path: Path, timeout_s: float) -> tuple[int, str]:
    """Run `cmd` (a list, never a shell string); stdout+stderr go to `log_path`.

    Returns (exit code, last lines of the log) so failures can be reported in one line."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        log.write("$ " + shlex.join(str(c) for c in cmd) + "\n")
        log.flush()
        try:
            code = subprocess.run(list(map(str, cmd)), stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, timeout=timeout_s).returncode
        except subprocess.TimeoutExpired:
            code = 124
            log.write(f"\n[quality.py] timed out after {timeout_s:.0f} s\n")
        except OSError as exc:  # e.g. the render command does not exist yet
            code = 127
            log.write(f"\n[quality.py] could not start: {exc}\n")
    tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
    return code, " | ".join(tail)


def thm_side(settings: Settings, *args: str) -> str:
    """Run the small cv2 helper in the thmetrics venv; returns its stdout."""
    done = subprocess.run([str(settings.python), "-c", _THM_SIDE_SNIPPET, *args],
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip() or f"helper {args[0]} failed")
    return done.stdout.strip()


_SIZE_CACHE: dict[Path, tuple[int, int]] = {}
_SIZE_LOCK = threading.Lock()


def video_size(settings: Settings, path: Path) -> tuple[int, int]:
    """(width, height) of a video; cached because drivers are asked about repeatedly."""
    with _SIZE_LOCK:
        if path in _SIZE_CACHE:
            return _SIZE_CACHE[path]
    w, h = (int(v) for v in thm_side(settings, "size", str(path)).split())
    with _SIZE_LOCK:
        _SIZE_CACHE[path] = (w, h)
    return w, h


def padded_size(gen: tuple[int, int], drv: tuple[int, int]) -> tuple[int, int] | None:
    """Smallest even frame size containing `gen` with the driver's aspect ratio.

    None when the aspect ratios already agree within ASPECT_TOLERANCE."""
    (gw, gh), (dw, dh) = gen, drv
    aspect = dw / dh
    if abs((gw / gh) / aspect - 1.0) <= ASPECT_TOLERANCE:
        return None
    if gw / gh < aspect:
        w, h = int(np.ceil(gh * aspect)), gh
    else:
        w, h = gw, int(np.ceil(gw / aspect))
    return w + w % 2, h + h % 2


def pad_video(settings: Settings, src: Path, dst: Path, size: tuple[int, int], log: Path) -> None:
    """Centre `src` on black bars of `size` (lossless H.264, so pixels are unchanged)."""
    ffmpeg = thm_side(settings, "ffmpeg")
    w, h = size
    cmd = [ffmpeg, "-v", "error", "-y", "-i", str(src),
           "-vf", f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:black",
           "-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(dst)]
    code, tail = run_logged(cmd, log, settings.timeout_s)
    if code != 0:
        raise RuntimeError(f"padding failed: {tail}")


# ----------------------------------------------------------------------------- one pair

def pair_stem(job: Job) -> str:
    return f"{job.clip.stem}__{job.portrait_name}"


def render_pair(settings: Settings, job: Job, result: PairResult) -> Path | None:
    """Render (or, with --skip-render, find) the output video of one pair."""
    out = settings.run_dir / "renders" / job.experiment / f"{pair_stem(job)}.mp4"
    result.render_path = str(out)
    if settings.skip_render:
        if out.is_file():
            return out
        result.status, result.error = "missing render", f"--skip-render and no {out.name}"
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [*settings.render_cmd, job.portrait, job.clip, "-o", out, "--size", settings.size]
    if settings.max_frames:
        cmd += ["--max-frames", settings.max_frames]
    if job.experiment == "self":
        cmd += settings.self_args
    log = settings.run_dir / "logs" / job.experiment / f"{pair_stem(job)}.render.log"
    start = time.perf_counter()
    code, tail = run_logged(cmd, log, settings.timeout_s)
    result.render_s = time.perf_counter() - start
    if code != 0 or not out.is_file():
        out.unlink(missing_ok=True)  # never score a half-written file next time
        result.status, result.error = "render failed", f"exit {code}: {tail}"
        return None
    return out


def scoring_video(settings: Settings, job: Job, render: Path, result: PairResult) -> Path:
    """The video thmetrics should score: the render, padded if its aspect differs.

    Self-reenactment is never padded: its pixel metrics compare whole frames."""
    if not settings.aspect_fix or job.experiment != "cross":
        return render
    gen, drv = video_size(settings, render), video_size(settings, job.clip)
    target = padded_size(gen, drv)
    if target is None:
        return render
    padded = render.with_name(render.stem + ".padded.mp4")
    if not (padded.is_file() and padded.stat().st_mtime >= render.stat().st_mtime):
        log = settings.run_dir / "logs" / job.experiment / f"{pair_stem(job)}.pad.log"
        pad_video(settings, render, padded, target, log)
    result.preprocessing = (f"padded {gen[0]}x{gen[1]} -> {target[0]}x{target[1]} "
                            f"(driver {drv[0]}x{drv[1]})")
    return padded


def eval_pair(settings: Settings, job: Job, video: Path, result: PairResult) -> None:
    """Run thmetrics eval on one pair and keep its summary JSON."""
    eval_dir = settings.run_dir / "eval" / job.experiment
    eval_dir.mkdir(parents=True, exist_ok=True)
    summary_path = eval_dir / f"{pair_stem(job)}.json"
    per_frame = eval_dir / f"{pair_stem(job)}.frames.json"
    result.eval_path, result.per_frame_path = str(summary_path), str(per_frame)
    fresh = summary_path.is_file() and summary_path.stat().st_mtime >= video.stat().st_mtime
    if not (settings.reuse_eval and fresh):
        cmd = [settings.python, settings.thmetrics, "eval", "--driving", job.clip,
               "--generated", video, "--source", job.portrait, "--per-frame", per_frame,
               "--out", summary_path, "--csim-stride", settings.csim_stride]
        if job.experiment == "self":
            cmd.append("--self")
        summary_path.unlink(missing_ok=True)
        log = settings.run_dir / "logs" / job.experiment / f"{pair_stem(job)}.eval.log"
        start = time.perf_counter()
        code, tail = run_logged(cmd, log, settings.timeout_s)
        result.eval_s = time.perf_counter() - start
        if code != 0 or not summary_path.is_file():
            result.status, result.error = "eval failed", f"exit {code}: {tail}"
            return
    result.summary = json.loads(summary_path.read_text())
    result.frames = int(result.summary["frames"]["evaluated"])
    result.status = "ok"


def run_pair(settings: Settings, job: Job) -> PairResult:
    result = PairResult(job.experiment, job.clip.stem, job.portrait_name)
    render = render_pair(settings, job, result)
    if render is None:
        return result
    try:
        video = scoring_video(settings, job, render, result)
    except RuntimeError as exc:
        result.status, result.error = "eval failed", str(exc)
        return result
    eval_pair(settings, job, video, result)
    return result


# ----------------------------------------------------------------------------- job list

def name_matches(stem: str, filters: Sequence[str] | None) -> bool:
    """A filter matches an exact stem or an fnmatch pattern (lp_d*); no filter = all."""
    if not filters:
        return True
    return any(stem == f or fnmatch.fnmatchcase(stem, f) for f in filters)


def list_media(folder: Path, extensions: set[str], filters: Sequence[str] | None) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() in extensions and name_matches(p.stem, filters))


def extract_frame0(settings: Settings, clip: Path) -> Path:
    """Frame 0 of `clip` as a PNG under the run folder (never inside tracked files)."""
    dst = settings.run_dir / "frame0" / f"{clip.stem}.png"
    if not dst.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        thm_side(settings, "frame0", str(clip), str(dst))
    return dst


def build_jobs(settings: Settings, clips: list[Path], portraits: list[Path],
               cross: bool, self_reenact: bool) -> list[Job]:
    jobs = []
    if self_reenact:
        jobs += [Job("self", c, extract_frame0(settings, c), "frame0") for c in clips]
    if cross:
        jobs += [Job("cross", c, p, p.stem) for c in clips for p in portraits]
    return jobs


def run_jobs(settings: Settings, jobs: list[Job], workers: int) -> list[PairResult]:
    """Run every pair (in `workers` threads, each driving subprocesses) with progress + ETA."""
    lock = threading.Lock()
    done: list[PairResult] = []
    start = time.perf_counter()

    def one(job: Job) -> PairResult:
        result = run_pair(settings, job)
        with lock:
            done.append(result)
            elapsed = time.perf_counter() - start
            eta = elapsed / len(done) * (len(jobs) - len(done))
            timing = f"render {fmt_s(result.render_s)}, eval {fmt_s(result.eval_s)}"
            status = "" if result.ok else f"  ** {result.status}: {result.error}"
            print(f"[{len(done)}/{len(jobs)}] {job.experiment} {job.clip.stem} x "
                  f"{job.portrait_name}: {timing}, ETA {eta / 60:.1f} min{status}",
                  file=sys.stderr, flush=True)
        return result

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(one, jobs))  # keeps job order for the tables


def fmt_s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f} s"


# ----------------------------------------------------------------------------- aggregation

# Same rule as the targets, so that table means and target values agree.
NONE_AS = {t.path: t.none_as for t in TARGETS if t.none_as is not None}


def pair_value(result: PairResult, path: tuple[str, ...]) -> float | None:
    """A metric of one successful pair, with thmetrics' None mapped per NONE_AS."""
    if not result.ok:
        return None
    value = lookup(result.summary, path)
    return NONE_AS.get(path) if value is None else value


def aggregate(results: Sequence[PairResult], path: tuple[str, ...], how: str = "mean"
              ) -> tuple[float | None, int]:
    """(mean or min over pairs that have a value, how many had one)."""
    values = [v for r in results if (v := pair_value(r, path)) is not None and np.isfinite(v)]
    if not values:
        return None, 0
    return float(np.min(values) if how == "min" else np.mean(values)), len(values)


def group_by(results: Sequence[PairResult], key: Callable[[PairResult], str]
             ) -> dict[str, list[PairResult]]:
    groups: dict[str, list[PairResult]] = {}
    for r in results:
        groups.setdefault(key(r), []).append(r)
    return groups


@dataclass(frozen=True)
class TargetOutcome:
    label: str
    value: float | None
    passed: bool
    pairs_passing: int
    pairs_total: int
    note: str = ""


def check_target(target: Target, results: Sequence[PairResult]) -> TargetOutcome:
    """Pass only if the aggregate meets the target and no pair of that experiment failed
    to run (a missing pair could be the worst one)."""
    mine = [r for r in results if r.experiment == target.experiment]
    value, count = aggregate(mine, target.path, target.aggregate)
    passing = sum(target.holds(pair_value(r, target.path)) for r in mine)
    not_run = sum(not r.ok for r in mine)
    notes = []
    if not_run:
        notes.append(f"{not_run} pair(s) did not run")
    ok_pairs = len(mine) - not_run
    if count < ok_pairs:
        notes.append(f"{ok_pairs - count} pair(s) without a value")
    passed = bool(mine) and not_run == 0 and target.holds(value)
    return TargetOutcome(target.label, value, passed, passing, len(mine), "; ".join(notes))


# ----------------------------------------------------------------------------- markdown

def format_cell(value: float | None, column: Column, count: int | None = None,
                expected: int | None = None) -> str:
    if value is None:
        return "n/a"
    text = column.fmt.format(value * 100 if column.percent else value)
    if count is not None and expected is not None and count < expected:
        text += f" ({count}/{expected})"
    return text


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    # A '|' inside a cell (error messages) would split it into two columns.
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def pair_row(result: PairResult, columns: Sequence[Column], labels: Sequence[str]) -> list[str]:
    if not result.ok:
        return [*labels, *(["-"] * len(columns)), f"{result.status}: {result.error[:120]}"]
    cells = [format_cell(pair_value(result, c.path), c) for c in columns]
    return [*labels, *cells, result.preprocessing]


def mean_row(results: Sequence[PairResult], columns: Sequence[Column], labels: Sequence[str]
             ) -> list[str]:
    ok = sum(r.ok for r in results)
    cells = []
    for c in columns:
        value, count = aggregate(results, c.path)
        cells.append(format_cell(value, c, count, ok))
    note = f"{ok}/{len(results)} pairs ran" if ok < len(results) else ""
    return [*labels, *cells, note]


def cross_sections(results: Sequence[PairResult]) -> list[str]:
    headers = [c.header for c in CROSS_COLUMNS]
    pairs = md_table(["clip", "portrait", *headers, "notes"],
                     [pair_row(r, CROSS_COLUMNS, [r.clip, r.portrait]) for r in results])
    per_clip = md_table(["clip", *headers, "notes"],
                        [mean_row(g, CROSS_COLUMNS, [k])
                         for k, g in group_by(results, lambda r: r.clip).items()])
    per_portrait = md_table(["portrait", *headers, "notes"],
                            [mean_row(g, CROSS_COLUMNS, [k])
                             for k, g in group_by(results, lambda r: r.portrait).items()])
    overall = md_table(["", *headers, "notes"], [mean_row(results, CROSS_COLUMNS, ["all pairs"])])
    return ["## Cross-identity: per pair", pairs,
            "## Cross-identity: mean per driving clip", per_clip,
            "## Cross-identity: mean per portrait", per_portrait,
            "## Cross-identity: overall mean", overall]


def self_sections(results: Sequence[PairResult]) -> list[str]:
    headers = [c.header for c in SELF_COLUMNS]
    rows = [pair_row(r, SELF_COLUMNS, [r.clip]) for r in results]
    rows.append(mean_row(results, SELF_COLUMNS, ["**mean**"]))
    return ["## Self-reenactment (source = the clip's frame 0)",
            md_table(["clip", *headers, "notes"], rows)]


def targets_section(outcomes: Sequence[TargetOutcome]) -> list[str]:
    rows = []
    for o in outcomes:
        value = "n/a" if o.value is None else f"{o.value:.3f}"
        verdict = "PASS" if o.passed else "FAIL"
        rows.append([o.label, value, verdict, f"{o.pairs_passing}/{o.pairs_total}", o.note])
    return ["## Targets", md_table(["target", "value", "verdict", "pairs meeting it", "notes"], rows),
            summary_line(outcomes)]


def summary_line(outcomes: Sequence[TargetOutcome]) -> str:
    met = sum(o.passed for o in outcomes)
    parts = [f"{o.label}: {'n/a' if o.value is None else f'{o.value:.3f}'} "
             f"{'PASS' if o.passed else 'FAIL'}" + (f" ({o.note})" if o.note else "")
             for o in outcomes]
    return f"**Targets met: {met}/{len(outcomes)}** -- " + "; ".join(parts)


def report_markdown(settings: Settings, results: Sequence[PairResult],
                    outcomes: Sequence[TargetOutcome], wall_s: float) -> str:
    cross = [r for r in results if r.experiment == "cross"]
    selfs = [r for r in results if r.experiment == "self"]
    frames = "all" if not settings.max_frames else str(settings.max_frames)
    head = [f"# Quality benchmark ({settings.size}px, max frames {frames}, "
            f"CSIM every {settings.csim_stride} frame(s))",
            f"Metrics: {settings.thmetrics} (venv {settings.python}). "
            f"Render: `{shlex.join(settings.render_cmd)}` (self-reenactment adds "
            f"`{shlex.join(settings.self_args)}`). Wall time {wall_s / 60:.1f} min.",
            "Means are over pairs that have a value; mar_corr/ear_corr count as 0 where "
            "thmetrics reports none because the generated mouth/eyes barely move "
            "(gain < 0.05). 'padded' = render padded to the driver's aspect before scoring."]
    body = (self_sections(selfs) if selfs else []) + (cross_sections(cross) if cross else [])
    return "\n\n".join(head + body + targets_section(outcomes) + [timing_line(results)]) + "\n"


def timing_line(results: Sequence[PairResult]) -> str:
    frames = sum(r.frames or 0 for r in results)
    render = sum(r.render_s or 0 for r in results)
    evals = sum(r.eval_s or 0 for r in results)
    per = f" ({render / frames * 1000:.0f} / {evals / frames * 1000:.0f} ms per frame)" if frames else ""
    return f"Timing: render {render / 60:.1f} min, eval {evals / 60:.1f} min over {frames} frames{per}."


def results_json(settings: Settings, results: Sequence[PairResult],
                 outcomes: Sequence[TargetOutcome], wall_s: float) -> dict:
    cross = [r for r in results if r.experiment == "cross"]
    selfs = [r for r in results if r.experiment == "self"]

    def means(group: Sequence[PairResult], columns: Sequence[Column]) -> dict:
        return {c.header: aggregate(group, c.path)[0] for c in columns}

    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()}
    config["render_cmd"] = list(settings.render_cmd)
    config["self_args"] = list(settings.self_args)
    return {
        "settings": config,
        "wall_s": wall_s,
        "targets": [asdict(o) for o in outcomes],
        "means": {
            "self": means(selfs, SELF_COLUMNS),
            "cross_overall": means(cross, CROSS_COLUMNS),
            "cross_per_clip": {k: means(g, CROSS_COLUMNS)
                               for k, g in group_by(cross, lambda r: r.clip).items()},
            "cross_per_portrait": {k: means(g, CROSS_COLUMNS)
                                   for k, g in group_by(cross, lambda r: r.portrait).items()},
        },
        "pairs": [asdict(r) for r in results],
    }


# ----------------------------------------------------------------------------- command line

def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default %(default)s)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help="folder with driving/ and portraits/ (default %(default)s)")
    ap.add_argument("--clips", nargs="+", help="driving clip stems or patterns (lp_d0 'lp_*')")
    ap.add_argument("--portraits", nargs="+", help="portrait stems or patterns")
    ap.add_argument("--max-frames", type=int, default=100,
                    help="frames per render, 0 = all (default %(default)s)")
    ap.add_argument("--size", type=int, choices=(256, 512), default=256)
    ap.add_argument("--jobs", type=int, default=1, help="pairs processed at once (default 1)")
    ap.add_argument("--csim-stride", type=int, default=2,
                    help="embed every k-th generated frame for CSIM; dlib is most of the "
                         "eval time (default %(default)s; 1 for the full run)")
    ap.add_argument("--skip-render", action="store_true",
                    help="score existing renders only; pairs without one are reported missing")
    ap.add_argument("--reuse-eval", action="store_true",
                    help="keep thmetrics results that are newer than their render")
    ap.add_argument("--no-cross", action="store_true", help="skip the cross-identity matrix")
    ap.add_argument("--no-self", action="store_true", help="skip self-reenactment")
    ap.add_argument("--no-aspect-fix", action="store_true",
                    help="score renders as they are even if their aspect differs from the driver's")
    ap.add_argument("--render-cmd", default=DEFAULT_RENDER_CMD,
                    help="render command prefix; PORTRAIT DRIVER -o OUT --size N "
                         "[--max-frames N] are appended (default: %(default)s)")
    ap.add_argument("--self-args", default=DEFAULT_SELF_ARGS,
                    help="extra render arguments for self-reenactment (default: %(default)s)")
    ap.add_argument("--python", type=Path, default=DEFAULT_PYTHON,
                    help="python of the thmetrics venv (default %(default)s)")
    ap.add_argument("--thmetrics", type=Path, default=DEFAULT_THMETRICS)
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per render or eval")
    return ap.parse_args(argv)


def split_filters(values: Sequence[str] | None) -> list[str] | None:
    """Accept both `--clips a b` and `--clips a,b`."""
    if not values:
        return None
    return [part for v in values for part in v.split(",") if part]


def make_settings(args: argparse.Namespace) -> Settings:
    frames = "all" if args.max_frames <= 0 else str(args.max_frames)
    return Settings(
        data=args.data, run_dir=args.out / f"size{args.size}_frames{frames}",
        render_cmd=tuple(shlex.split(args.render_cmd)),
        self_args=tuple(shlex.split(args.self_args)), python=args.python,
        thmetrics=args.thmetrics, size=args.size, max_frames=max(0, args.max_frames),
        csim_stride=max(1, args.csim_stride), skip_render=args.skip_render,
        reuse_eval=args.reuse_eval, timeout_s=args.timeout, aspect_fix=not args.no_aspect_fix)


def check_tools(settings: Settings) -> str | None:
    """A message saying what to set up, or None when thmetrics can run."""
    if not settings.thmetrics.is_file():
        return f"thmetrics not found at {settings.thmetrics} (use --thmetrics)."
    if not settings.python.is_file():
        return (f"thmetrics venv python not found at {settings.python}. Build it as the "
                f"docstring of {settings.thmetrics.name} says, or pass --python.")
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = make_settings(args)
    if not (settings.data / "driving").is_dir() or not (settings.data / "portraits").is_dir():
        print(f"quality benchmark skipped: no test data at {settings.data} "
              f"(needs driving/ and portraits/; a fresh checkout has none).")
        return 0
    problem = check_tools(settings)
    if problem:
        print(f"quality benchmark cannot run: {problem}", file=sys.stderr)
        return 2
    clips = list_media(settings.data / "driving", VIDEO_EXT, split_filters(args.clips))
    portraits = list_media(settings.data / "portraits", IMAGE_EXT, split_filters(args.portraits))
    if not clips or (not portraits and not args.no_cross):
        print("quality benchmark: no clips or portraits match the filters.", file=sys.stderr)
        return 2
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        jobs = build_jobs(settings, clips, portraits, not args.no_cross, not args.no_self)
    except RuntimeError as exc:  # frame 0 of a clip could not be extracted
        print(f"quality benchmark cannot run: {exc}", file=sys.stderr)
        return 2
    print(f"{len(jobs)} pair(s) -> {settings.run_dir}", file=sys.stderr)
    results = run_jobs(settings, jobs, args.jobs)
    wall_s = time.perf_counter() - start
    outcomes = [check_target(t, results) for t in TARGETS
                if any(r.experiment == t.experiment for r in results)]
    report = report_markdown(settings, results, outcomes, wall_s)
    print(report)
    (settings.run_dir / "report.md").write_text(report)
    data = results_json(settings, results, outcomes, wall_s)
    (settings.run_dir / "results.json").write_text(json.dumps(data, indent=1))
    print(f"saved {settings.run_dir / 'report.md'} and results.json", file=sys.stderr)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
