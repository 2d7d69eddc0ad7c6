"""Public-domain sample content for GUI tests, benchmarks and screenshots.

Portraits: resources/portraits/ (NASA's astronaut and the US Navy's Grace Hopper, both
public domain). The test driver clip is made here from the astronaut picture with a
small head motion (roll and sway), so that no third-party footage is needed, MediaPipe
finds a face in every frame, and the head-pose strength visibly matters.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

ASTRONAUT_FACE = (225.0, 120.0)   # roughly the face centre in skimage's 512x512 astronaut


def astronaut_path() -> Path:
    from talkinghead_studio.paths import resource_path

    return resource_path("portraits/astronaut.png")


def grace_hopper_path() -> Path:
    from talkinghead_studio.paths import resource_path

    return resource_path("portraits/grace_hopper.jpg")


def sample_driver_path() -> Path | None:
    """The shipped sample driver, once it is built (resources/make_sample_driver.py)."""
    from talkinghead_studio.paths import resource_path

    path = resource_path("drivers/sample_driver.mp4")
    return path if path.is_file() else None


def astronaut_rgb() -> np.ndarray:
    from talkinghead_studio.core.images import load_portrait

    return load_portrait(astronaut_path()).rgb   # 512x512x3 uint8 RGB


def write_png(rgb: np.ndarray, path: Path) -> Path:
    from PIL import Image

    Image.fromarray(rgb).save(path)
    return path


def driver_frames(count: int, size: int = 256, fps: float = 25.0):
    """HxWx3 uint8 RGB frames: the astronaut's head turning and nodding a little."""
    import cv2

    source = astronaut_rgb()
    cx, cy = ASTRONAUT_FACE
    side = 300.0
    for index in range(count):
        phase = 2 * math.pi * index / max(count, 1)
        angle = 7.0 * math.sin(phase)                 # degrees of roll
        dx, dy = 10.0 * math.sin(phase), 6.0 * math.sin(2 * phase)
        scale = size / side
        matrix = cv2.getRotationMatrix2D((cx, cy), angle, scale)
        matrix[0, 2] += size / 2 - cx + dx
        matrix[1, 2] += size / 2 - cy + dy
        yield cv2.warpAffine(source, matrix, (size, size), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT)


def write_driver_clip(path: Path, count: int = 24, size: int = 256, fps: float = 25.0,
                      with_audio: bool = False) -> Path:
    """An H.264 MP4 driver clip (through the app's own atomic writer)."""
    from talkinghead_studio.core.video import AtomicVideoWriter

    audio = write_tone(path.with_suffix(".wav"), count / fps) if with_audio else None
    with AtomicVideoWriter(path, (size, size), fps, crf=20, audio_from=audio) as writer:
        for frame in driver_frames(count, size, fps):
            writer.write(frame)
    if audio is not None:
        os.remove(audio)
    return path


def write_tone(path: Path, seconds: float, rate: int = 16000) -> Path:
    """A quiet 440 Hz tone as a WAV file, to check that exports keep the driver's audio."""
    import wave

    t = np.arange(int(seconds * rate)) / rate
    samples = (np.sin(2 * np.pi * 440 * t) * 3000).astype(np.int16)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.tobytes())
    return path


def write_mirrored_astronaut(path: Path) -> Path:
    """The astronaut picture flipped left to right: a second picture of the same face,
    for extra-view (few-shot reference) tests."""
    return write_png(np.ascontiguousarray(astronaut_rgb()[:, ::-1]), path)


def write_no_face_image(path: Path) -> Path:
    """A 256x256 smooth colour gradient: a valid picture with no face in it."""
    y, x = np.mgrid[0:256, 0:256]
    rgb = np.dstack([x, y, (x + y) // 2]).astype(np.uint8)
    return write_png(rgb, path)


def write_corrupt_video(path: Path) -> Path:
    """Bytes that claim to be an MP4 and are not (a broken download)."""
    rng = np.random.default_rng(7)
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + rng.integers(0, 256, 4096, np.uint8).tobytes())
    return path

