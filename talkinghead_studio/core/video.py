"""Streaming video I/O through the ffmpeg binary that imageio-ffmpeg ships.

Nothing here holds a whole video in memory: frames are read and written one at a
time through pipes. Writes are atomic: frames go to a hidden temporary file beside the
target, which is renamed over the target only when the video is complete.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from talkinghead_studio.errors import OutputPathError, UnreadableVideo

VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".gif", ".mpg", ".mpeg"}


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class VideoInfo:
    """What ffmpeg says about a video before decoding it.

    size: (width, height) as displayed (rotation applied). frame_count is an
    estimate (duration x fps) and may be off by a frame or two.
    """

    path: Path
    fps: float
    size: tuple[int, int]
    duration: float
    frame_count: int
    has_audio: bool


def _ffmpeg_banner(path: Path) -> str:
    """stderr of `ffmpeg -i path`, which describes the streams (ffmpeg exits 1 here)."""
    result = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(path)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        timeout=60,
    )
    return result.stderr.decode("utf-8", errors="replace")


def _looks_like_a_video_container(path: Path) -> bool:
    """True when the file starts like an MP4/MOV, MKV/WebM, AVI or GIF."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
    except OSError:
        return False
    return (head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free")
            or head[:4] == b"\x1a\x45\xdf\xa3" or head[:4] == b"RIFF"
            or head[:4] == b"GIF8")


def _header_from_banner(banner: str) -> dict | None:
    """fps, size, rotation and duration from ``ffmpeg -i``'s description, parsed the way
    imageio-ffmpeg parses the same text when it starts a decoder; None if that parser is
    not there (it is internal to imageio-ffmpeg) or finds no usable video stream.

    Starting a decoder just to read this header cost ~0.06 s before every render's first
    frame; a file that then fails to decode says so when its frames are read."""
    try:
        from imageio_ffmpeg._parsing import parse_ffmpeg_header

        meta = parse_ffmpeg_header(banner)
        width, height = meta["size"]
    except Exception:   # a changed private parser, or a stream it cannot describe
        return None
    if not (width > 0 and height > 0 and float(meta.get("fps") or 0) > 0):
        return None
    return meta


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read a video's stream info. Raises UnreadableVideo with a useful message."""
    import imageio_ffmpeg

    path = Path(path)
    if not path.exists():
        raise UnreadableVideo(f"Driver video not found: {path}. Check the path and try again.")
    if path.is_dir():
        raise UnreadableVideo(f"{path} is a folder; give the path of a video file.")
    banner = _ffmpeg_banner(path)
    if "Video:" not in banner and _looks_like_a_video_container(path):
        raise UnreadableVideo(
            f"{path.name} looks like a video but could not be read: it is damaged or "
            f"truncated (for example an unfinished download or recording). Re-export or "
            f"download it again.")
    if "Video:" not in banner:
        raise UnreadableVideo(
            f"{path.name} is not a video this app can read (no video stream found). "
            f"Use an MP4, MOV, MKV, AVI or WebM file."
        )
    meta = _header_from_banner(banner)
    if meta is None:
        reader = imageio_ffmpeg.read_frames(str(path))
        try:
            meta = next(reader)
        except (RuntimeError, OSError, StopIteration) as exc:
            raise UnreadableVideo(
                f"{path.name} could not be decoded ({str(exc).splitlines()[0][:160]}). "
                f"The file may be damaged; re-export it and try again."
            ) from None
        finally:
            reader.close()
    fps = float(meta.get("fps") or 0) or 25.0
    duration = float(meta.get("duration") or 0)
    width, height = meta["size"]
    if meta.get("rotate") in (90, 270):
        width, height = height, width
    has_audio = re.search(r"Stream #\d+:\d+.*Audio:", banner) is not None
    return VideoInfo(path, fps, (int(width), int(height)), duration,
                     max(1, int(round(duration * fps))), has_audio)


def iter_frames(path: str | os.PathLike, info: VideoInfo | None = None) -> Iterator[np.ndarray]:
    """Yield frames as HxWx3 uint8 RGB, one at a time.

    A file that ends early (truncated download) yields the frames it has; a file that
    yields none raises UnreadableVideo. ``info``: the file's probe_video() result, when
    the caller has it; otherwise it is probed first, for probe_video's clear errors.
    """
    import imageio_ffmpeg

    info = info or probe_video(path)
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    produced = 0
    try:
        meta = next(reader)
        width, height = meta["size"]
        for raw in reader:
            frame = np.frombuffer(raw, dtype=np.uint8)
            if frame.size != width * height * 3:
                break  # a partial last frame from a truncated file
            yield frame.reshape(height, width, 3)
            produced += 1
    except (RuntimeError, OSError) as exc:
        if produced == 0:
            raise UnreadableVideo(
                f"{Path(path).name} could not be decoded ({str(exc).splitlines()[0][:160]}). "
                f"The file may be damaged; re-export it and try again."
            ) from None
        # Frames decoded before the damage are still good: stop here, like a player.
    finally:
        reader.close()
    if produced == 0:
        raise UnreadableVideo(
            f"{Path(path).name} contains no decodable frames. The file may be damaged or empty."
        )


def is_video_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


# --------------------------------------------------------------------------- output


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when two paths name the same file (also through links / case folding)."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_output_path(output: str | os.PathLike, inputs: list[str | os.PathLike],
                      allow_folder: bool = False) -> Path:
    """Validate an output path before any work starts. Returns it as a Path.

    Raises OutputPathError when it equals an input, its folder is missing or
    read-only, or it names a folder.
    """
    output = Path(output)
    for source in inputs:
        if source is not None and same_file(output, source):
            raise OutputPathError(
                f"The output {output} is one of the inputs; choose another output name "
                f"so that your input is not overwritten."
            )
    if output.is_dir() and not allow_folder:
        raise OutputPathError(f"The output {output} is a folder; give a file name.")
    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir():
        raise OutputPathError(
            f"The output folder {folder} does not exist; create it or choose another."
        )
    try:
        probe = tempfile.NamedTemporaryFile(dir=folder, prefix=".ths-write-test-", delete=True)
        probe.close()
    except OSError as exc:
        raise OutputPathError(
            f"Cannot write to {folder} ({exc.strerror or exc}); choose a folder you can "
            f"write to."
        ) from None
    return output


def temporary_sibling(target: Path, suffix: str | None = None) -> Path:
    """A unique hidden path beside ``target`` with the same extension (ffmpeg needs it)."""
    suffix = suffix if suffix is not None else target.suffix
    handle, name = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.stem}.",
                                    suffix=f".partial{suffix}")
    os.close(handle)
    # mkstemp makes the file private (0600); the finished output should get the usual
    # permissions, as if the user's program had created it directly.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)
    return Path(name)


#: How the frames were converted, written into the stream so that players need not guess:
#: BT.601 matrix, limited range (what :meth:`AtomicVideoWriter.write` converts with), on
#: sRGB content (BT.709 primaries, sRGB transfer). Untagged, many players pick the matrix
#: by frame size and decode anything of 720 lines or more as BT.709, which shifts skin
#: tones and reds (most portraits are that large). (Primaries and transfer go through
#: x264's own options: ffmpeg's -color_primaries / -color_trc do not reach the stream
#: for frames piped in raw.)
COLOUR_TAGS = ("-colorspace", "smpte170m", "-color_range", "tv", "-x264-params",
               "colorprim=bt709:transfer=iec61966-2-1:colormatrix=smpte170m")


#: BT.601 limited-range chroma rows (U, V) with their offset, for cv2.transform: the
#: coefficients of OpenCV's RGB -> I420 conversion.
_CHROMA = np.array([[-0.148223, -0.290993, 0.439216, 128.0],
                    [0.439216, -0.367788, -0.071427, 128.0]], np.float32)


def rgb_to_i420(frame: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB (H, W even) -> (H*3/2)xW uint8 planar yuv420p, BT.601 limited range.

    Luma is OpenCV's. Chroma is each 2x2 block's mean colour: OpenCV's own I420
    conversion takes only the block's top-left pixel, which leaves colour fringes a
    pixel off along sharp colour edges (red and white flag stripes). ~0.35 ms at 512 px."""
    import cv2

    height, width = frame.shape[:2]
    planes = cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420)
    half = cv2.resize(frame, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
    chroma = cv2.transform(half, _CHROMA)                    # H/2 x W/2 x 2
    flat = planes.reshape(-1)        # Y (H*W), then U and V (H/2 * W/2 each)
    luma, size = height * width, (height // 2) * (width // 2)
    flat[luma:luma + size] = chroma[..., 0].reshape(-1)
    flat[luma + size:] = chroma[..., 1].reshape(-1)
    return planes


class AtomicVideoWriter:
    """Writes an H.264 MP4 (yuv420p) frame by frame; appears at ``target`` only on success.

    Use as a context manager: leaving the block with an exception (or calling
    :meth:`abort`) deletes the temporary file and leaves any existing target untouched.
    """

    def __init__(
        self,
        target: str | os.PathLike,
        size: tuple[int, int],
        fps: float,
        crf: int = 18,
        audio_from: str | os.PathLike | None = None,
        metadata_args: list[str] | None = None,
    ) -> None:
        self.target = Path(target)
        width, height = size
        # yuv420p needs even sizes; pad by one replicated pixel rather than rescale.
        self.size = (width + width % 2, height + height % 2)
        self._pad = (self.size[0] - width, self.size[1] - height)
        self.fps = fps
        self.crf = crf
        self.audio_from = audio_from
        self.metadata_args = list(metadata_args or [])
        self._temp: Path | None = None
        self._writer = None
        self.frames_written = 0

    def __enter__(self) -> "AtomicVideoWriter":
        import imageio_ffmpeg

        self._temp = temporary_sibling(self.target, ".mp4")
        output_params = ["-crf", str(self.crf), "-preset", "veryfast",
                         *COLOUR_TAGS,
                         "-movflags", "+faststart+use_metadata_tags", *self.metadata_args]
        if self.audio_from is not None:
            # The video decides the length: pad the audio with silence, then stop at the
            # shorter stream. Plain -shortest drops the last video frames whenever the
            # audio ends a few milliseconds early (AAC frame boundaries).
            output_params += ["-af", "apad", "-shortest"]
        self._writer = imageio_ffmpeg.write_frames(
            str(self._temp), self.size, fps=self.fps, codec="libx264", quality=None,
            pix_fmt_in="yuv420p", pix_fmt_out="yuv420p", macro_block_size=1,
            audio_path=str(self.audio_from) if self.audio_from else None,
            audio_codec="aac" if self.audio_from else None,
            output_params=output_params, ffmpeg_log_level="error",
        )
        self._writer.send(None)  # start ffmpeg
        return self

    def write(self, frame: np.ndarray) -> None:
        """Append one HxWx3 uint8 RGB frame of the size given at construction."""
        if self._pad != (0, 0):
            frame = np.pad(frame, ((0, self._pad[1]), (0, self._pad[0]), (0, 0)), mode="edge")
        # The frame goes to ffmpeg as yuv420p, converted here: cheaper than ffmpeg's own
        # conversion, and half the bytes cross the pipe (measured, 221 frames at 512 px:
        # 0.75 -> 0.53 s of ffmpeg CPU for ~0.08 s more here; the same file size).
        self._writer.send(rgb_to_i420(np.ascontiguousarray(frame)))
        self.frames_written += 1

    def abort(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:  # ffmpeg may already have died; the temp file goes anyway
                pass
            self._writer = None
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)
            self._temp = None

    def commit(self, before_rename=None) -> Path:
        """Finish the file and move it into place. ``before_rename(temp_path)`` may
        post-process the finished file (e.g. sign it) while it is still hidden."""
        self._writer.close()  # waits for ffmpeg to finish the file
        self._writer = None
        if self.audio_from is not None and self.frames_written:
            self._cut_audio_overhang()
        if before_rename is not None:
            before_rename(self._temp)
        os.replace(self._temp, self.target)
        self._temp = None
        return self.target

    def _cut_audio_overhang(self) -> None:
        """Trim audio that runs past the last frame.

        With ``apad`` + ``-shortest``, ffmpeg encodes the audio (read from a file) ahead
        of the frames arriving through the pipe, and a short video could end up to ~0.9 s
        before its file does (measured: 12 frames, 0.48 s, in a 1.39 s file; a 221-frame
        render ended exactly). A stream copy cut at the video's length fixes that; if
        the copy fails, the longer file is kept rather than losing the render."""
        video_s = self.frames_written / self.fps
        found = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", _ffmpeg_banner(self._temp))
        if found is None:
            return
        hours, minutes, seconds = found.groups()
        if int(hours) * 3600 + int(minutes) * 60 + float(seconds) <= video_s + 1.5 / self.fps:
            return
        cut = temporary_sibling(self.target, ".mp4")
        try:
            subprocess.run(
                [ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(self._temp), "-map", "0",
                 "-c", "copy", "-t", f"{video_s:.6f}", "-map_metadata", "0",
                 "-movflags", "+faststart+use_metadata_tags", str(cut)],
                stdin=subprocess.DEVNULL, capture_output=True, check=True, timeout=600)
        except (OSError, subprocess.SubprocessError):
            cut.unlink(missing_ok=True)
            return
        os.replace(cut, self._temp)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and self._writer is not None and self.frames_written:
            try:
                self.commit()
            except Exception:
                self.abort()
                raise
        else:
            self.abort()
