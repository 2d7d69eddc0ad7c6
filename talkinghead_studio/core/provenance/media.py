"""Read frames of any file `verify` may be given: PNG / GIF / JPEG / WebP stills and
animations through Pillow, everything else as video through ffmpeg.

Video is streamed (one frame at a time, luma only, which is all the detector needs) and
capped to the first ``max_seconds``, so a two-hour file costs no more than a short one.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np

from ...errors import InputFileError, UnreadableImage, UnreadableVideo

#: Magic bytes -> kind. Anything else is handed to ffmpeg as a video.
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"\xff\xd8\xff", "jpeg"),
)


def check_readable(path: str | os.PathLike) -> Path:
    """Return ``path`` as a Path or raise InputFileError saying what is wrong with it."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: no such file. Check the path and try again.")
    if path.is_dir():
        raise InputFileError(f"{path} is a folder; give the path of a video or image file.")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise InputFileError(f"{path} cannot be read ({exc.strerror or exc}).") from None
    if path.stat().st_size == 0:
        raise InputFileError(f"{path} is empty.")
    return path


def sniff_kind(path: Path) -> str:
    """'png', 'gif', 'jpeg', 'webp' or 'video' (anything ffmpeg may decode)."""
    with path.open("rb") as handle:
        head = handle.read(16)
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return "video"


def iter_luma(path: str | os.PathLike, max_seconds: float = 10.0,
              max_frames: int = 300) -> Iterator[np.ndarray]:
    """Yield frames of an image or video file as HxW uint8 luma (BT.601), at most
    ``max_frames`` of them from the first ``max_seconds``.

    Raises InputFileError (or UnreadableImage / UnreadableVideo) when the file cannot be
    read or holds no frame.
    """
    path = check_readable(path)
    kind = sniff_kind(path)
    frames = _iter_image_luma(path) if kind != "video" else _iter_video_luma(path, max_seconds)
    produced = 0
    for frame in frames:
        yield frame
        produced += 1
        if produced >= max_frames:
            break
    if produced == 0:
        error = UnreadableVideo if kind == "video" else UnreadableImage
        raise error(f"{path.name} holds no decodable frame; the file may be damaged.")


def _iter_image_luma(path: Path) -> Iterator[np.ndarray]:
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        image = Image.open(path)
    except (UnidentifiedImageError, OSError) as exc:
        raise UnreadableImage(f"{path.name} is not an image this app can read ({exc}).") from None
    with image:
        try:
            for frame in ImageSequence.Iterator(image):
                # Through RGB, so palette and alpha images get the same luma weights.
                yield np.asarray(frame.convert("RGB").convert("L"), dtype=np.uint8)
        except (OSError, ValueError, EOFError) as exc:
            raise UnreadableImage(f"{path.name} could not be decoded ({exc}).") from None


def _iter_video_luma(path: Path, max_seconds: float) -> Iterator[np.ndarray]:
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(
        str(path), pix_fmt="gray", bits_per_pixel=8, input_params=["-t", f"{max_seconds:.3f}"]
    )
    produced = 0
    try:
        meta = next(reader)
        width, height = meta["size"]
        for raw in reader:
            frame = np.frombuffer(raw, dtype=np.uint8)
            if frame.size != width * height:
                break  # a truncated last frame
            yield frame.reshape(height, width)
            produced += 1
    except (RuntimeError, OSError, StopIteration, KeyError) as exc:
        if produced == 0:
            first_line = (str(exc).strip().splitlines() or ["no video stream"])[0][:160]
            raise UnreadableVideo(
                f"{path.name} is not a video or image this app can read ({first_line})."
            ) from None
        # Frames decoded before damage are still good evidence; stop like a player would.
    finally:
        reader.close()
