#!/usr/bin/env python3
"""Contact sheet: the hardest frames of a driver, rendered on several portraits, in one PNG.

From the driver's landmarks it picks the frame with the mouth widest open (inner-lip gap /
mouth width), the eyes most closed (eye aspect ratio), the head turned most (yaw from
MediaPipe's 3-D landmarks, relative to the clip's usual yaw) and the most neutral frame.
Each portrait becomes one row: the portrait, then for each hard frame the driver frame and
the result, face-cropped. An extra column pair shows, per portrait, the candidate driver
whose face proportions differ most from the portrait's, at that driver's widest mouth.

  # research data (../shared/data) -> bench_out/contact_sheet_shared.png (never the repo)
  .venv/bin/python benchmarks/contact_sheet.py --preset shared
  # public-domain samples in resources/ -> docs/contact_sheet.png (for the README)
  .venv/bin/python benchmarks/contact_sheet.py --preset public
  # anything else
  .venv/bin/python benchmarks/contact_sheet.py --driver D.mp4 --portraits A.jpg B.png \
      --prop-drivers E.mp4 F.npz --out bench_out/sheet.png

Runs in the app's venv (it uses the app's landmark tracker, video reader and renderer).
Rendering goes through one of two interchangeable functions with the same contract:
render_frames_api (default, only the picked frames) or render_frames (the CLI).
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

import face_signals as fs

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run from a checkout without installing

from talkinghead_studio.core.images import load_portrait  # noqa: E402
from talkinghead_studio.core.landmarks import FaceMeshDetector  # noqa: E402
from talkinghead_studio.core.track import MotionTrack, extract_track  # noqa: E402
from talkinghead_studio.core.video import iter_frames  # noqa: E402

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
RESOURCES = REPO_ROOT / "resources"
BENCH_OUT = REPO_ROOT / "bench_out"
DEFAULT_RENDER_CMD = f"{REPO_ROOT / '.venv' / 'bin' / 'talkinghead-studio'} render --quiet"
IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
DRIVER_EXT = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".npz"}
# Shared preset: four photos and two paintings, different ages, skin tones, framing.
SHARED_PORTRAITS = ("fr_obama", "lp_s1", "lp_s2", "sadtalker_people_0", "lp_s9",
                    "sadtalker_art_12")
SHARED_DRIVER = "lp_d3"        # head turns and tilts, frown, pout, mouth opening, eye roll
FACE_MARGIN = 1.8              # crop side = this x the landmarks' bounding-box side


# ----------------------------------------------------------------------------- inputs

@dataclass(frozen=True)
class Driver:
    """A driver's motion. points: Tx478x3 float32 pixels; detected: (T,) bool."""

    path: Path
    points: np.ndarray
    detected: np.ndarray
    frame_size: tuple[int, int]     # (width, height)

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def is_track(self) -> bool:
        return self.path.suffix.lower() == ".npz"


def load_driver(path: Path) -> Driver:
    """Track a video (or read a saved .npz track) with the app's own landmark tracker,
    so the frames we pick are judged on the motion the renderer will actually see."""
    track = MotionTrack.load(path) if path.suffix.lower() == ".npz" else extract_track(path)
    return Driver(path, track.points, track.detected, tuple(track.frame_size))


def driver_frames(driver: Driver, indices: Sequence[int]) -> dict[int, np.ndarray]:
    """The driver's own frames at `indices` (HxWx3 uint8 RGB). A .npz track has no
    pixels, so its landmarks are drawn instead."""
    wanted = set(indices)
    if driver.is_track:
        return {i: draw_landmarks(driver.points[i], driver.frame_size) for i in wanted}
    found = {}
    for index, frame in enumerate(iter_frames(driver.path)):
        if index in wanted:
            found[index] = frame.copy()
        if len(found) == len(wanted):
            break
    return found


def draw_landmarks(points: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """478x3 pixel landmarks as dots on a dark frame: HxWx3 uint8 RGB."""
    width, height = frame_size
    canvas = np.full((height, width, 3), 24, np.uint8)
    radius = max(1, round(width / 400))
    for x, y in points[:, :2]:
        cv2.circle(canvas, (int(round(x)), int(round(y))), radius, (120, 220, 255), -1)
    return canvas


@dataclass(frozen=True)
class Portrait:
    """rgb: HxWx3 uint8 as the app loads it; points: 478x3 pixels or None (no face)."""

    path: Path
    rgb: np.ndarray
    points: np.ndarray | None

    @property
    def name(self) -> str:
        return self.path.stem


def load_portrait_face(path: Path) -> Portrait:
    loaded = load_portrait(path)
    with FaceMeshDetector(mode="image") as detector:
        found = detector.detect(loaded.rgb)
    return Portrait(path, loaded.rgb, None if found is None else found.points)


def neutral_frame(driver: Driver) -> int:
    valid = np.flatnonzero(driver.detected)
    return int(valid[np.argmin(fs.neutral_scores(driver.points[valid]))])


def most_different_driver(portrait: Portrait, candidates: Sequence[Driver]
                          ) -> tuple[Driver, float] | None:
    """The candidate whose neutral-frame proportions differ most from the portrait's."""
    if portrait.points is None or not candidates:
        return None
    mine = fs.proportions(portrait.points)
    scored = [(fs.proportion_distance(mine, fs.proportions(d.points[neutral_frame(d)])), d)
              for d in candidates]
    distance, driver = max(scored, key=lambda s: s[0])
    return driver, distance


# ----------------------------------------------------------------------------- rendering

class RenderFailed(RuntimeError):
    pass


def render_frames(portrait_path: Path, driver_path: Path, frame_indices: Sequence[int],
                  size: int, *, render_cmd: str = DEFAULT_RENDER_CMD) -> list[np.ndarray]:
    """Output frames (HxWx3 uint8 RGB, portrait size) at `frame_indices` of a render.

    Shells out to the CLI, which has no option to render chosen frames only, so it renders
    every frame up to the last index: slower, but the frames are exactly those of a normal
    export (same neutral reference, same smoothing). The temporary video lives in /tmp."""
    last = max(frame_indices)
    with tempfile.TemporaryDirectory(prefix="contact_sheet_") as tmp:
        out = Path(tmp) / "render.mp4"
        cmd = [*shlex.split(render_cmd), str(portrait_path), str(driver_path), "-o", str(out),
               "--size", str(size), "--max-frames", str(last + 1)]
        done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0 or not out.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RenderFailed(f"render exited {done.returncode}: {tail[0]}")
        wanted, found = set(frame_indices), {}
        for index, frame in enumerate(iter_frames(out)):
            if index in wanted:
                found[index] = frame.copy()  # iter_frames may reuse its buffer
            if index >= last:
                break
    missing = sorted(wanted - found.keys())
    if missing:
        raise RenderFailed(f"render stopped before frame(s) {missing}")
    return [found[i] for i in frame_indices]


@lru_cache(maxsize=4)
def _api_driver_track(driver_path: Path) -> MotionTrack:
    if driver_path.suffix.lower() == ".npz":
        return MotionTrack.load(driver_path)
    return extract_track(driver_path)


def render_frames_api(portrait_path: Path, driver_path: Path, frame_indices: Sequence[int],
                      size: int) -> list[np.ndarray]:
    """Same contract as render_frames, through the Python API: only the asked frames are
    generated. Differences from an export: landmark smoothing is off (isolated frames
    have no history) and there is no watermark. The neutral reference is chosen like
    core/pipeline.py does (most neutral frame of the first seconds)."""
    from talkinghead_studio.config import MotionSettings, RenderSettings
    from talkinghead_studio.core.animator import Animator
    from talkinghead_studio.core.motion import NEUTRAL_WINDOW_SECONDS, pick_neutral_frame
    from talkinghead_studio.core.pipeline import load_generator, prepare

    settings = RenderSettings(size=size)
    generator = load_generator(settings)
    portrait = prepare(Path(portrait_path), settings, generator)
    track = _api_driver_track(Path(driver_path))
    animator = Animator(portrait, generator, MotionSettings(smoothing=0.0), fps=track.fps)
    window = max(1, int(NEUTRAL_WINDOW_SECONDS * track.fps))
    head = slice(0, min(window, len(track)))
    detected = track.detected[head]
    reference = pick_neutral_frame(track.points[head], detected if detected.any() else None)
    animator.set_driver_reference(track.points[reference])
    # frame_with, as the render: the frame finished the way an export finishes it.
    return [animator.frame_with(animator.target_landmarks(track.points[i]), None)[0]
            for i in frame_indices]


RENDERERS = {"cli": render_frames, "api": render_frames_api}


# ----------------------------------------------------------------------------- cells

def face_square(points: np.ndarray | None, shape: tuple[int, ...]) -> tuple[float, float, float]:
    """(centre x, centre y, side) of a square around the face, or the image centre."""
    height, width = shape[:2]
    if points is None:
        return width / 2, height / 2, float(min(width, height))
    (x0, y0), (x1, y1) = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
    return (x0 + x1) / 2, (y0 + y1) / 2, float(max(x1 - x0, y1 - y0) * FACE_MARGIN)


def crop_cell(rgb: np.ndarray, square: tuple[float, float, float], cell: int) -> np.ndarray:
    """Resample the square (cx, cy, side) of `rgb` to cell x cell x 3 uint8; black outside."""
    cx, cy, side = square
    scale = cell / side
    matrix = np.array([[scale, 0, cell / 2 - scale * cx], [0, scale, cell / 2 - scale * cy]])
    return cv2.warpAffine(rgb, matrix, (cell, cell), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def scaled_square(square: tuple[float, float, float], src_shape, dst_shape):
    """Map a square from portrait pixels to a frame of another size (the same picture)."""
    sx = dst_shape[1] / src_shape[1]
    sy = dst_shape[0] / src_shape[0]
    cx, cy, side = square
    return cx * sx, cy * sy, side * (sx + sy) / 2


def label(cell: np.ndarray, text: str) -> np.ndarray:
    """Write `text` (lines split on newlines) on a darkened strip at the bottom of the
    cell, in place; returns the cell."""
    font, scale, thickness = cv2.FONT_HERSHEY_SIMPLEX, 0.38, 1
    lines = [line for line in text.split("\n") if line]
    if not lines:
        return cell
    line_h = cv2.getTextSize("Ag", font, scale, thickness)[0][1] + 6
    top = cell.shape[0] - line_h * len(lines) - 2
    cell[top:] = (cell[top:] * 0.35).astype(np.uint8)
    for n, line in enumerate(lines):
        y = top + line_h * (n + 1) - 3
        cv2.putText(cell, line, (3, y), font, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return cell


def blank_cell(cell: int, text: str) -> np.ndarray:
    return label(np.full((cell, cell, 3), 40, np.uint8), text)


def header_strip(titles: Sequence[str], cell: int, gutter: int) -> np.ndarray:
    width = len(titles) * cell + (len(titles) - 1) * gutter
    strip = np.full((20, width, 3), 255, np.uint8)
    for column, title in enumerate(titles):
        x = column * (cell + gutter) + 3
        cv2.putText(strip, title, (x, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return strip


def assemble(rows: Sequence[Sequence[np.ndarray]], titles: Sequence[str], cell: int,
             gutter: int = 2) -> np.ndarray:
    """Grid of equal cells under a title strip: HxWx3 uint8 RGB on white."""
    columns = max(len(r) for r in rows)
    filler = np.full((cell, cell, 3), 255, np.uint8)
    lines = [header_strip(titles, cell, gutter)]
    for row in rows:
        cells = list(row) + [filler] * (columns - len(row))
        line = cells[0]
        for c in cells[1:]:
            line = np.hstack([line, np.full((cell, gutter, 3), 255, np.uint8), c])
        lines += [np.full((gutter, line.shape[1], 3), 255, np.uint8), line]
    return np.vstack(lines)


# ----------------------------------------------------------------------------- the sheet

def describe(kind: str, driver: Driver, index: int) -> str:
    """Short label for a driver cell: frame number and the signal that made it hard."""
    points = driver.points[index]
    value = {
        "mouth open": f"MAR {float(fs.mouth_opening(points)):.2f}",
        "eyes closed": f"EAR {float(fs.eye_aspect_ratio(points)):.2f}",
        "head turned": f"yaw {float(fs.yaw_degrees(points)):+.0f} deg",
        "neutral": "",
    }.get(kind, "")
    return f"{driver.name}\nframe {index} {value}".strip()


def result_cells(portrait: Portrait, driver: Driver, indices: Sequence[int], size: int,
                 cell: int, renderer) -> list[np.ndarray]:
    """Face crops of the rendered frames (the portrait's face box, so motion shows)."""
    try:
        frames = renderer(portrait.path, driver.path, list(indices), size)
    except Exception as exc:  # one bad portrait must not sink the whole sheet
        print(f"  {portrait.name} x {driver.name}: {exc}", file=sys.stderr)
        return [blank_cell(cell, "render failed") for _ in indices]
    square = face_square(portrait.points, portrait.rgb.shape)
    return [crop_cell(f, scaled_square(square, portrait.rgb.shape, f.shape), cell)
            for f in frames]


def driver_cells(driver: Driver, picks: dict[str, int], cell: int) -> dict[str, np.ndarray]:
    """Unlabelled face crops of the driver's own frames, by hard-frame kind."""
    frames = driver_frames(driver, list(picks.values()))
    return {kind: crop_cell(frames[i], face_square(driver.points[i], frames[i].shape), cell)
            for kind, i in picks.items()}


def portrait_row(portrait: Portrait, main: Driver, picks: dict[str, int],
                 main_cells: dict[str, np.ndarray], candidates: Sequence[Driver],
                 size: int, cell: int, renderer) -> list[np.ndarray]:
    source = crop_cell(portrait.rgb, face_square(portrait.points, portrait.rgb.shape), cell)
    row = [label(source, portrait.name + ("" if portrait.points is not None else " (no face)"))]
    results = result_cells(portrait, main, list(picks.values()), size, cell, renderer)
    for kind, result in zip(picks, results):
        row += [main_cells[kind].copy(), result]
    if candidates:
        row += proportion_cells(portrait, candidates, size, cell, renderer)
    return row


def proportion_cells(portrait: Portrait, candidates: Sequence[Driver], size: int, cell: int,
                     renderer) -> list[np.ndarray]:
    """Driver cell + result for the most differently proportioned candidate driver."""
    choice = most_different_driver(portrait, candidates)
    if choice is None:
        return [blank_cell(cell, "no portrait face"), blank_cell(cell, "")]
    driver, distance = choice
    index = fs.pick_hard_frames(driver.points, driver.detected)["mouth open"]
    drv = driver_cells(driver, {"mouth open": index}, cell)["mouth open"]
    label(drv, f"{describe('mouth open', driver, index)}\nproportions d={distance:.2f}")
    return [drv, *result_cells(portrait, driver, [index], size, cell, renderer)]


def column_titles(kinds: Sequence[str], with_proportions: bool) -> list[str]:
    titles = ["portrait"]
    for kind in kinds:
        titles += [f"{kind}: driver", "result"]
    if with_proportions:
        titles += ["diff. proportions", "result"]
    return titles


def build_sheet(main_path: Path, portrait_paths: Sequence[Path], candidate_paths: Sequence[Path],
                size: int, cell: int, renderer) -> np.ndarray:
    start = time.perf_counter()
    main = load_driver(main_path)
    picks = fs.pick_hard_frames(main.points, main.detected)
    print(f"{main.name}: hard frames {picks}", file=sys.stderr)
    candidates = [load_driver(p) for p in candidate_paths]
    main_cells = {kind: label(c, describe(kind, main, picks[kind]))
                  for kind, c in driver_cells(main, picks, cell).items()}
    rows = []
    for path in portrait_paths:
        portrait = load_portrait_face(path)
        rows.append(portrait_row(portrait, main, picks, main_cells, candidates, size, cell,
                                 renderer))
        print(f"  {portrait.name} done ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return assemble(rows, column_titles(list(picks), bool(candidates)), cell)


def write_png(rgb: np.ndarray, path: Path) -> None:
    """RGB -> BGR once, at the file boundary; temporary file + rename (atomic)."""
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    temp.write_bytes(data.tobytes())
    os.replace(temp, path)


# ----------------------------------------------------------------------------- presets

@dataclass(frozen=True)
class Plan:
    """What to put on the sheet and where it goes."""

    driver: Path
    portraits: tuple[Path, ...]
    prop_drivers: tuple[Path, ...]
    out: Path


class Skip(Exception):
    """Nothing to do here (e.g. no research data in a fresh checkout): exit 0."""


class Unusable(Exception):
    """The inputs are missing or not allowed: exit 2 with the message."""


def files_in(folder: Path, extensions: set[str]) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in extensions) \
        if folder.is_dir() else []


def resolve_names(names: Sequence[str], folder: Path, extensions: set[str]) -> list[Path]:
    """Each name is a path, or a file stem inside `folder`."""
    by_stem = {p.stem: p for p in files_in(folder, extensions)}
    paths = []
    for name in names:
        path = Path(name)
        if not path.is_file():
            path = by_stem.get(name)
            if path is None:
                raise Unusable(f"{name}: no such file, and no {folder}/{name}.* either.")
        paths.append(path)
    return paths


def shared_plan(args) -> Plan:
    if not (SHARED_DATA / "driving").is_dir():
        raise Skip(f"contact sheet skipped: no research data at {SHARED_DATA}.")
    driving, portraits = SHARED_DATA / "driving", SHARED_DATA / "portraits"
    driver = resolve_names([args.driver or SHARED_DRIVER], driving, DRIVER_EXT)[0]
    chosen = resolve_names(args.portraits or SHARED_PORTRAITS, portraits, IMAGE_EXT)
    if args.prop_drivers is None:
        props = [p for p in files_in(driving, DRIVER_EXT) if p != driver]
    else:
        props = resolve_names(args.prop_drivers, driving, DRIVER_EXT)
    out = args.out or BENCH_OUT / "contact_sheet_shared.png"
    return Plan(driver, tuple(chosen), tuple(props), out)


def public_plan(args) -> Plan:
    drivers_dir, portraits_dir = RESOURCES / "drivers", RESOURCES / "portraits"
    shipped = [p for name in ("sample_driver.mp4", "sample_motion.npz")
               if (p := drivers_dir / name).is_file()]
    if args.driver:
        shipped = resolve_names([args.driver], drivers_dir, DRIVER_EXT)
    if not shipped:
        raise Unusable(f"no sample driver in {drivers_dir} (sample_driver.mp4 or "
                       f"sample_motion.npz): build it with resources/make_sample_driver.py.")
    portraits = (resolve_names(args.portraits, portraits_dir, IMAGE_EXT) if args.portraits
                 else files_in(portraits_dir, IMAGE_EXT))
    if not portraits:
        raise Unusable(f"no sample portraits in {portraits_dir}.")
    props = resolve_names(args.prop_drivers or [], drivers_dir, DRIVER_EXT)
    out = args.out or REPO_ROOT / "docs" / "contact_sheet.png"
    return Plan(shipped[0], tuple(portraits), tuple(props), out)


def custom_plan(args) -> Plan:
    if not (args.driver and args.portraits and args.out):
        raise Unusable("without --preset, give --driver, --portraits and --out.")
    return Plan(Path(args.driver), tuple(Path(p) for p in args.portraits),
                tuple(Path(p) for p in args.prop_drivers or []), args.out)


def check_destination(plan: Plan) -> None:
    """Only shipped resources may end up in a file inside the repository (bench_out/ is
    ignored by git): research clips and portraits must never be committed, not even as
    thumbnails on a contact sheet."""
    out = plan.out.resolve()
    if REPO_ROOT not in out.parents or BENCH_OUT in out.parents:
        return
    inputs = [plan.driver, *plan.portraits, *plan.prop_drivers]
    foreign = [p for p in inputs if RESOURCES not in p.resolve().parents]
    if foreign:
        raise Unusable(f"{plan.out} is inside the repository but {foreign[0]} is not a "
                       f"shipped resource. Write research sheets under bench_out/ or "
                       f"outside the repository.")


# ----------------------------------------------------------------------------- command line

def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=("shared", "public"))
    ap.add_argument("--driver", help="driver video or .npz track (path, or a stem in the "
                                     "preset's folder)")
    ap.add_argument("--portraits", nargs="+", help="portrait paths or stems")
    ap.add_argument("--prop-drivers", nargs="*",
                    help="candidate drivers for the 'different proportions' column "
                         "(shared preset default: every other clip; the option with no "
                         "value drops the column)")
    ap.add_argument("--out", type=Path, help="output PNG")
    ap.add_argument("--size", type=int, choices=(256, 512), default=256)
    ap.add_argument("--cell", type=int, default=160, help="cell side in pixels")
    ap.add_argument("--backend", choices=sorted(RENDERERS), default="api",
                    help="api: renders only the picked frames through the Python API "
                         "(fast; no smoothing, no watermark); cli: renders through "
                         "talkinghead-studio up to the last picked frame (slower; exactly "
                         "the frames of an export) (default %(default)s)")
    ap.add_argument("--render-cmd", default=DEFAULT_RENDER_CMD,
                    help="cli backend: render command prefix (default %(default)s)")
    return ap.parse_args(argv)


def make_plan(args) -> Plan:
    plan = {"shared": shared_plan, "public": public_plan}.get(args.preset, custom_plan)(args)
    check_destination(plan)
    return plan


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        plan = make_plan(args)
    except Skip as exc:
        print(exc)
        return 0
    except Unusable as exc:
        print(f"contact sheet: {exc}", file=sys.stderr)
        return 2
    renderer = RENDERERS[args.backend]
    if args.backend == "cli":
        renderer = partial(render_frames, render_cmd=args.render_cmd)
    sheet = build_sheet(plan.driver, plan.portraits, plan.prop_drivers, args.size, args.cell,
                        renderer)
    write_png(sheet, plan.out)
    print(f"wrote {plan.out} ({sheet.shape[1]}x{sheet.shape[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
