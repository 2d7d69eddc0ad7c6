"""Output sinks: MP4, PNG sequence and GIF. All atomic, all labelled as synthetic.

A sink receives full-resolution frames one at a time and only makes its result visible
(by renaming) when :meth:`commit` is called, so a failed or cancelled render leaves no
half file and never replaces the user's existing file with a broken one.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from talkinghead_studio.core import provenance
from talkinghead_studio.core.video import AtomicVideoWriter, ffmpeg_exe, temporary_sibling
from talkinghead_studio.errors import OutputPathError


class Mp4Sink:
    """H.264 yuv420p MP4 with the driver's audio (when it has any) and provenance tags."""

    def __init__(self, target: Path, size: tuple[int, int], fps: float,
                 record: "provenance.ProvenanceRecord", crf: int = 18,
                 audio_from: Path | None = None) -> None:
        self.target = Path(target)
        self.record = record
        self._writer = AtomicVideoWriter(target, size, fps, crf=crf, audio_from=audio_from,
                                         metadata_args=provenance.ffmpeg_metadata_args(record))

    def open(self) -> None:
        self._writer.__enter__()

    def write(self, frame: np.ndarray, alpha: np.ndarray | None = None) -> None:
        self._writer.write(frame)

    def commit(self) -> Path:
        # Sign while the file is still the hidden temporary: a failure leaves nothing.
        return self._writer.commit(
            before_rename=lambda temp: provenance.finalize_file(temp, self.record))

    def abort(self) -> None:
        self._writer.abort()


class PngSequenceSink:
    """Numbered PNGs in a folder, RGBA where the generator gives a mask.

    Frames are written into a hidden temporary folder beside the target; the folder is
    renamed into place at the end. An existing target folder is replaced only then.
    """

    def __init__(self, target: Path, record: "provenance.ProvenanceRecord") -> None:
        self.target = Path(target)
        self.record = record
        self._temp: Path | None = None
        self._count = 0

    def open(self) -> None:
        self._temp = Path(tempfile.mkdtemp(dir=self.target.parent,
                                           prefix=f".{self.target.name}.partial-"))

    def write(self, frame: np.ndarray, alpha: np.ndarray | None = None) -> None:
        from PIL import Image

        array = frame if alpha is None else np.dstack([frame, alpha])
        image = Image.fromarray(array, "RGB" if alpha is None else "RGBA")
        name = self._temp / f"frame_{self._count:06d}.png"
        image.save(name, pnginfo=provenance.png_info(self.record), compress_level=3)
        provenance.finalize_file(name, self.record)   # C2PA-sign each frame (~5 ms)
        self._count += 1

    def commit(self) -> Path:
        if self.target.exists():
            if not self.target.is_dir():
                raise OutputPathError(f"{self.target} exists and is not a folder.")
            backup = Path(tempfile.mkdtemp(dir=self.target.parent,
                                           prefix=f".{self.target.name}.old-"))
            os.replace(self.target, backup / "old")
            os.replace(self._temp, self.target)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(self._temp, self.target)
        self._temp = None
        return self.target

    def abort(self) -> None:
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None


class GifSink:
    """Animated GIF through ffmpeg's two-pass palette (good colours, streaming input)."""

    def __init__(self, target: Path, size: tuple[int, int], fps: float,
                 record: "provenance.ProvenanceRecord", max_width: int = 640) -> None:
        self.target = Path(target)
        self.size = size
        self.fps = min(fps, 25.0)
        self.record = record
        self.max_width = max_width
        self._temp: Path | None = None
        self._process: subprocess.Popen | None = None

    def open(self) -> None:
        width, height = self.size
        self._temp = temporary_sibling(self.target, ".gif")
        scale = f"scale='min({self.max_width},iw)':-2:flags=lanczos"
        graph = f"{scale},split[a][b];[a]palettegen=stats_mode=diff[p];[b][p]paletteuse=dither=bayer:bayer_scale=3"
        command = [ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo",
                   "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{self.fps:.6g}",
                   "-i", "-", "-filter_complex", graph, "-loop", "0", str(self._temp)]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE,
                                         stderr=subprocess.PIPE)

    def write(self, frame: np.ndarray, alpha: np.ndarray | None = None) -> None:
        self._process.stdin.write(np.ascontiguousarray(frame).tobytes())

    def commit(self) -> Path:
        self._process.stdin.close()
        error = self._process.stderr.read().decode(errors="replace")
        if self._process.wait() != 0:
            self.abort()
            raise OutputPathError(f"GIF encoding failed: {error.strip()[:200]}")
        provenance.finalize_file(self._temp, self.record)
        os.replace(self._temp, self.target)
        self._temp = None
        return self.target

    def abort(self) -> None:
        if self._process is not None:
            if self._process.stdin and not self._process.stdin.closed:
                try:
                    self._process.stdin.close()
                except OSError:
                    pass
            self._process.kill()
            self._process.wait()
            self._process = None
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)
            self._temp = None
