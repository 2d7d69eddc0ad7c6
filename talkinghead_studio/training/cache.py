"""Preprocessing: a folder of talking-head videos -> a compact cache of face crops and
MediaPipe landmarks, computed once. No torch: this stage runs without the extra.

Layout of a cache folder::

    cache.json               format, settings, and a fingerprint of the video list
    shards/00000.json        per shard: video names, frame ranges, skipped videos (written
                             last, so its presence marks the shard complete)
    shards/00000.jpg.bin     the shard's crops, JPEG bytes back to back
    shards/00000.offsets.npy (F+1,) int64 byte offsets into the .bin
    shards/00000.landmarks.npy  Fx478x3 float16, crop units (x, y in [0,1], z / side)
    index.npz                all kept videos: name, shard, first frame, frame count

Framing: one square box per video, from the video's median landmarks through
core.crop.face_crop_box, the app's own framing. The app also keeps one box per portrait
while the driver moves the face inside it, so training crops show the same kind of
motion inside a fixed frame.

Shards are independent units of work: they run in parallel worker processes, and a
rerun skips shards that are already complete (resumable).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from talkinghead_studio.core.crop import crop_image, face_crop_box, to_crop_units
from talkinghead_studio.errors import InputFileError, NoFaceFound, StudioError
from talkinghead_studio.training.errors import TrainingError

log = logging.getLogger(__name__)

CACHE_FORMAT = "ths-frame-cache-1"
VIDEO_SUFFIX = ".mp4"


@dataclass(frozen=True)
class PreprocessSettings:
    """How videos become cache entries."""

    resolution: int = 256        # side of the cached square crops, px
    max_frames: int = 64         # frames kept per video, evenly spaced through it
    videos_per_shard: int = 32   # unit of parallel work and of resumption
    jpeg_quality: int = 95
    min_frames: int = 2          # a video with fewer face frames is skipped


@dataclass
class ShardSummary:
    """What one shard produced (returned from worker processes)."""

    index: int
    videos: int = 0
    frames: int = 0
    frames_without_face: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (video, reason)
    reused: bool = False


def discover_videos(root: str | os.PathLike) -> list[Path]:
    """Every .mp4 under ``root`` (VoxCeleb2's id/video/utterance.mp4 or any layout), sorted."""
    root = Path(root)
    if not root.is_dir():
        raise InputFileError(f"Video folder not found: {root}. Pass a folder of .mp4 files.")
    videos = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() == VIDEO_SUFFIX)
    if not videos:
        raise InputFileError(
            f"No videos found: {root} holds no .mp4 files. Point it at a VoxCeleb2-style "
            f"folder (id/video/utterance.mp4) or any folder of .mp4 clips.")
    return videos


def video_name(path: Path, root: Path) -> str:
    """Stable name of a video: its path under the root, without suffix ('id/video/utt')."""
    return path.relative_to(root).with_suffix("").as_posix()


def select_frames(frame_count: int, max_frames: int) -> list[int]:
    """Evenly spaced frame numbers: at most ``max_frames`` of ``frame_count``."""
    stride = max(1, -(-frame_count // max_frames))  # ceiling division
    return list(range(0, frame_count, stride))[:max_frames]


def _detect(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    """Pass 1: frame number -> 478x3 float32 pixel landmarks, for frames with a face."""
    from talkinghead_studio.core.landmarks import FaceMeshDetector
    from talkinghead_studio.core.video import iter_frames

    found: dict[int, np.ndarray] = {}
    last = max(wanted)
    # Video mode: frames arrive in order, so MediaPipe tracks instead of re-detecting.
    with FaceMeshDetector(mode="video") as detector:
        for number, frame in enumerate(iter_frames(path)):
            if number in wanted:
                hit = detector.detect(frame)
                if hit is not None:
                    found[number] = hit.points
            if number >= last:
                break
    return found


def _crop(path: Path, points: dict[int, np.ndarray], size: int, quality: int):
    """Pass 2: crops of the frames in ``points`` in one box per video.

    Returns (frame numbers, JPEG byte strings, Fx478x3 float16 crop-unit landmarks)."""
    from talkinghead_studio.core.video import iter_frames

    box = face_crop_box(np.median(np.stack(list(points.values())), axis=0))
    numbers, jpegs, marks = [], [], []
    last = max(points)
    for number, frame in enumerate(iter_frames(path)):
        if number in points:
            numbers.append(number)
            jpegs.append(encode_crop(crop_image(frame, box, size), quality))
            marks.append(to_crop_units(points[number], box))
        if number >= last:
            break
    return numbers, jpegs, np.stack(marks).astype(np.float16)


def process_video(path: Path, settings: PreprocessSettings):
    """One video -> (frame numbers, JPEGs, landmarks, frames without a face).

    Raises NoFaceFound when fewer than ``settings.min_frames`` frames show a face."""
    from talkinghead_studio.core.video import probe_video

    info = probe_video(path)
    wanted = set(select_frames(info.frame_count, settings.max_frames))
    points = _detect(path, wanted)
    if len(points) < settings.min_frames:
        raise NoFaceFound(f"no face in {len(wanted) - len(points)} of {len(wanted)} frames")
    numbers, jpegs, marks = _crop(path, points, settings.resolution, settings.jpeg_quality)
    return numbers, jpegs, marks, len(wanted) - len(points)


def _shard_paths(cache_dir: Path, index: int) -> dict[str, Path]:
    stem = cache_dir / "shards" / f"{index:05d}"
    return {"json": stem.with_suffix(".json"), "bin": Path(f"{stem}.jpg.bin"),
            "offsets": Path(f"{stem}.offsets.npy"), "landmarks": Path(f"{stem}.landmarks.npy")}


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def _save_npy(path: Path, array: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a handle, or np.save would append '.npy'
            np.save(handle, array)
    _atomic_write(path, write)


@dataclass
class VideoEntry:
    """One video's cached frames. jpegs: JPEG bytes of RxRx3 crops (RGB content, encoded
    by OpenCV); landmarks: Fx478x3 crop units (stored as float16)."""

    name: str
    frame_numbers: list[int]
    jpegs: list[bytes]
    landmarks: np.ndarray


def encode_crop(crop: np.ndarray, quality: int = 95) -> bytes:
    """RxRx3 uint8 RGB -> JPEG bytes (the cache's frame format)."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise TrainingError("JPEG encoding of a face crop failed.")
    return data.tobytes()


def process_shard(cache_dir: str, index: int, videos: list[tuple[str, str]],
                  settings: PreprocessSettings) -> ShardSummary:
    """Worker entry point: process ``videos`` [(path, name)] and write shard ``index``.

    A complete shard (its .json exists) is left as it is: this is what makes a rerun
    resume rather than restart."""
    json_path = _shard_paths(Path(cache_dir), index)["json"]
    if json_path.exists():
        return ShardSummary(index=index, **_summary_counts(json_path), reused=True)
    summary = ShardSummary(index=index)
    entries = []
    for path, name in videos:
        try:
            numbers, crops, points, missed = process_video(Path(path), settings)
        except StudioError as error:  # no face, undecodable: skip the video, say why
            log.info("skipping %s: %s", name, error)
            summary.skipped.append((name, str(error)))
            continue
        entries.append(VideoEntry(name, numbers, crops, points))
        summary.videos += 1
        summary.frames += len(crops)
        summary.frames_without_face += missed
    write_shard(Path(cache_dir), index, entries, summary.skipped, summary.frames_without_face)
    return summary


def write_shard(cache_dir: Path, index: int, entries: list[VideoEntry],
                skipped: list[tuple[str, str]] = (), frames_without_face: int = 0) -> None:
    """Write shard ``index`` of a cache atomically, its .json last."""
    paths = _shard_paths(cache_dir, index)
    record = {"videos": [], "starts": [], "counts": [], "frame_numbers": [],
              "skipped": list(skipped), "frames_without_face": frames_without_face}
    jpegs: list[bytes] = []
    for entry in entries:
        record["videos"].append(entry.name)
        record["starts"].append(len(jpegs))
        record["counts"].append(len(entry.jpegs))
        record["frame_numbers"].append(list(entry.frame_numbers))
        jpegs += entry.jpegs
    offsets = np.zeros(len(jpegs) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(j) for j in jpegs])
    marks = [np.asarray(e.landmarks, np.float16) for e in entries]
    landmarks = np.concatenate(marks) if marks else np.zeros((0, 478, 3), np.float16)

    def write_bin(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            for data in jpegs:
                handle.write(data)
    _atomic_write(paths["bin"], write_bin)
    _save_npy(paths["offsets"], offsets)
    _save_npy(paths["landmarks"], landmarks)
    _atomic_write(paths["json"], lambda tmp: tmp.write_text(json.dumps(record)))


def _summary_counts(json_path: Path) -> dict:
    record = json.loads(json_path.read_text())
    return {"videos": len(record["videos"]), "frames": int(sum(record["counts"])),
            "frames_without_face": int(record.get("frames_without_face", 0)),
            "skipped": [tuple(s) for s in record["skipped"]]}


def _fingerprint(names: list[str]) -> str:
    return hashlib.sha1("\n".join(names).encode("utf-8")).hexdigest()


def init_cache(cache_dir: Path, root: Path, names: list[str],
                         settings: PreprocessSettings) -> None:
    """Create the cache folder and cache.json, or check that an existing one was made
    from the same videos and settings: two preprocessings never mix in one folder."""
    meta = {"format": CACHE_FORMAT, "settings": asdict(settings), "root": str(root),
            "videos": len(names), "fingerprint": _fingerprint(names)}
    meta_path = cache_dir / "cache.json"
    if meta_path.exists():
        old = json.loads(meta_path.read_text())
        keys = ("format", "settings", "videos", "fingerprint")
        if any(old.get(k) != meta[k] for k in keys):
            raise TrainingError(
                f"The cache {cache_dir} was made from other videos or settings. Use a new "
                f"--cache folder, or delete this one to rebuild it.")
        return
    (cache_dir / "shards").mkdir(parents=True, exist_ok=True)
    _atomic_write(meta_path, lambda tmp: tmp.write_text(json.dumps(meta, indent=1)))


def preprocess(root: str | os.PathLike, cache_dir: str | os.PathLike,
               settings: PreprocessSettings = PreprocessSettings(), workers: int = 1,
               on_shard: Callable[[ShardSummary, int], None] | None = None) -> list[ShardSummary]:
    """Build (or finish building) the cache of every video under ``root``.

    ``on_shard(summary, shard_count)`` is called as each shard finishes (progress bars).
    Raises InputFileError when there are no videos, NoFaceFound when no video kept a face.
    """
    if settings.min_frames < 1:
        raise ValueError("min_frames must be at least 1")
    root, cache_dir = Path(root), Path(cache_dir)
    paths = discover_videos(root)
    names = [video_name(p, root) for p in paths]
    init_cache(cache_dir, root, names, settings)
    step = settings.videos_per_shard
    jobs = [(i // step, list(zip(map(str, paths[i:i + step]), names[i:i + step])))
            for i in range(0, len(paths), step)]
    summaries = _run_jobs(cache_dir, jobs, settings, workers, on_shard)
    if not any(s.videos for s in summaries):
        raise NoFaceFound(
            f"No face was found in any of the {len(paths)} videos under {root}. The cache "
            f"needs clips that show one face clearly (talking-head footage).")
    write_index(cache_dir, len(jobs))
    return summaries


def _run_jobs(cache_dir: Path, jobs: list, settings: PreprocessSettings, workers: int,
              on_shard) -> list[ShardSummary]:
    summaries = []

    def done(summary: ShardSummary) -> None:
        summaries.append(summary)
        if on_shard is not None:
            on_shard(summary, len(jobs))

    if workers <= 1 or len(jobs) == 1:
        for index, videos in jobs:
            done(process_shard(str(cache_dir), index, videos, settings))
        return summaries
    # spawn, not fork: MediaPipe and ffmpeg pipes do not survive a fork reliably
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(process_shard, str(cache_dir), i, v, settings) for i, v in jobs]
        for future in as_completed(futures):
            done(future.result())
    return sorted(summaries, key=lambda s: s.index)


def write_index(cache_dir: Path, shard_count: int) -> None:
    """Gather every shard's video list into index.npz (what the loader reads)."""
    names, shards, starts, counts = [], [], [], []
    for index in range(shard_count):
        record = json.loads(_shard_paths(cache_dir, index)["json"].read_text())
        names += record["videos"]
        shards += [index] * len(record["videos"])
        starts += record["starts"]
        counts += record["counts"]

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, names=np.array(names, dtype=np.str_),
                     shards=np.array(shards, np.int32), starts=np.array(starts, np.int64),
                     counts=np.array(counts, np.int32))
    _atomic_write(cache_dir / "index.npz", write)


class FrameCache:
    """Read access to a finished cache: frames and landmarks by (video, frame).

    Files are opened lazily and memory-mapped, so a copy per DataLoader worker is cheap
    and nothing is loaded up front beyond the index.
    """

    _OPEN_SHARDS = 64  # memory maps kept open per process (each holds a descriptor)

    def __init__(self, cache_dir: str | os.PathLike) -> None:
        self.cache_dir = Path(cache_dir)
        meta_path, index_path = self.cache_dir / "cache.json", self.cache_dir / "index.npz"
        if not meta_path.exists():
            raise TrainingError(
                f"{self.cache_dir} is not a frame cache. Build one with "
                f"`talkinghead-studio train preprocess VIDEOS --cache {self.cache_dir}`.")
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != CACHE_FORMAT:
            raise TrainingError(f"{self.cache_dir}: cache format {meta.get('format')} is not "
                                f"{CACHE_FORMAT}; rebuild it with this version.")
        if not index_path.exists():
            raise TrainingError(
                f"The cache {self.cache_dir} is incomplete (preprocessing was interrupted). "
                f"Run the same `train preprocess` command again: it resumes.")
        self.resolution = int(meta["settings"]["resolution"])
        with np.load(index_path) as index:
            self.names = [str(n) for n in index["names"]]
            self._shards, self._starts = index["shards"], index["starts"]
            self._counts = index["counts"]
        self._open: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_open"] = {}  # memory maps do not travel to worker processes
        return state

    @property
    def num_videos(self) -> int:
        return len(self.names)

    def frame_count(self, video: int) -> int:
        return int(self._counts[video])

    def _maps(self, shard: int) -> tuple[np.ndarray, np.ndarray]:
        if shard not in self._open:
            if len(self._open) >= self._OPEN_SHARDS:
                self._open.pop(next(iter(self._open)))
            paths = _shard_paths(self.cache_dir, shard)
            self._open[shard] = (np.load(paths["offsets"], mmap_mode="r"),
                                 np.load(paths["landmarks"], mmap_mode="r"))
        return self._open[shard]

    def _locate(self, video: int, frame: int) -> tuple[int, int]:
        if not 0 <= frame < self._counts[video]:
            raise IndexError(f"video {video} has {self._counts[video]} frames, not {frame + 1}")
        return int(self._shards[video]), int(self._starts[video]) + frame

    def landmarks(self, video: int, frame: int) -> np.ndarray:
        """478x3 float32, crop units."""
        shard, row = self._locate(video, frame)
        return np.asarray(self._maps(shard)[1][row], dtype=np.float32)

    def frame(self, video: int, frame: int) -> np.ndarray:
        """RxRx3 uint8 RGB at the cache resolution."""
        shard, row = self._locate(video, frame)
        offsets = self._maps(shard)[0]
        start, end = int(offsets[row]), int(offsets[row + 1])
        with open(_shard_paths(self.cache_dir, shard)["bin"], "rb") as handle:
            handle.seek(start)
            data = np.frombuffer(handle.read(end - start), dtype=np.uint8)
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if bgr is None:
            raise TrainingError(f"Damaged frame in cache shard {shard}; rebuild the cache.")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
