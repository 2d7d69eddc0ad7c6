"""Shared fixtures: sample portraits, a tiny synthetic driver, a test generator."""
from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Signing keys and GUI settings go to a throw-away folder, never the user's real config.
os.environ["TALKINGHEAD_STUDIO_CONFIG_DIR"] = tempfile.mkdtemp(prefix="ths-test-config-")

ROOT = Path(__file__).resolve().parent.parent
RESOURCES = ROOT / "resources"
SHARED_DATA = ROOT.parent / "shared" / "data"
SHIPPED_MODEL = ROOT / "models" / "mesh_warp.onnx"


def pytest_collection_modifyitems(config, items):
    skip_shared = pytest.mark.skip(reason=f"{SHARED_DATA} is absent (research data; optional)")
    for item in items:
        if "shared_data" in item.keywords and not SHARED_DATA.is_dir():
            item.add_marker(skip_shared)


@pytest.fixture(scope="session")
def astronaut_path() -> Path:
    return RESOURCES / "portraits" / "astronaut.png"


@pytest.fixture(scope="session")
def hopper_path() -> Path:
    return RESOURCES / "portraits" / "grace_hopper.jpg"


@pytest.fixture(scope="session")
def sample_driver() -> Path:
    path = RESOURCES / "drivers" / "sample_driver.mp4"
    if not path.exists():
        pytest.skip("resources/drivers/sample_driver.mp4 not built yet")
    return path


@pytest.fixture(scope="session")
def identity_model(tmp_path_factory) -> Path:
    from tests.fixtures.onnx_models import build_identity_generator

    return build_identity_generator(tmp_path_factory.mktemp("models") / "identity.onnx")


@pytest.fixture(scope="session")
def shipped_model() -> Path:
    if not SHIPPED_MODEL.exists():
        pytest.skip("models/mesh_warp.onnx is not built")
    return SHIPPED_MODEL


def write_clip(path: Path, frames, fps: float = 25.0, audio: bool = False) -> Path:
    """Write RGB uint8 frames to an MP4 (optionally with a 440 Hz tone as audio)."""
    from talkinghead_studio.core.video import AtomicVideoWriter, ffmpeg_exe

    frames = list(frames)
    height, width = frames[0].shape[:2]
    silent = path.with_name(path.stem + ".silent.mp4") if audio else path
    with AtomicVideoWriter(silent, (width, height), fps) as writer:
        for frame in frames:
            writer.write(frame)
    if audio:
        subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(silent), "-f",
                        "lavfi", "-i", "sine=frequency=440", "-map", "0:v", "-map", "1:a",
                        "-c:v", "copy", "-c:a", "aac", "-shortest", str(path)], check=True)
        silent.unlink()
    return path


@pytest.fixture(scope="session")
def moving_face_clip(tmp_path_factory, astronaut_path) -> Path:
    """A 20-frame 256x256 clip of the astronaut's face drifting right, with audio."""
    from talkinghead_studio.core.images import load_portrait

    image = load_portrait(astronaut_path).rgb
    frames = []
    for i in range(20):
        x = 100 + i * 2
        crop = image[20:340, x:x + 320]
        frames.append(np.ascontiguousarray(crop[::1, ::1][:320, :320]))
    frames = [cv2.resize(f, (256, 256), interpolation=cv2.INTER_AREA) for f in frames]
    return write_clip(tmp_path_factory.mktemp("clips") / "moving.mp4", frames, audio=True)


@pytest.fixture(scope="session")
def blank_clip(tmp_path_factory) -> Path:
    """A 10-frame clip with no face in it (grey noise)."""
    rng = np.random.default_rng(0)
    frames = [np.clip(128 + rng.normal(0, 10, (128, 128, 3)), 0, 255).astype(np.uint8)
              for _ in range(10)]
    return write_clip(tmp_path_factory.mktemp("clips") / "blank.mp4", frames)


@pytest.fixture(scope="module")
def astronaut_and_driver(shipped_model, astronaut_path, hopper_path):
    """(generator, astronaut prepared at 256, Grace Hopper's landmarks as a driver face)."""
    from talkinghead_studio.core.images import load_portrait
    from talkinghead_studio.core.landmarks import FaceMeshDetector
    from talkinghead_studio.core.portrait import prepare_portrait
    from talkinghead_studio.inference.session import OnnxGenerator

    generator = OnnxGenerator(shipped_model)
    portrait = prepare_portrait(load_portrait(astronaut_path), 256)
    with FaceMeshDetector(mode="image") as detector:
        driver = detector.detect(load_portrait(hopper_path).rgb).points
    return generator, portrait, driver


def texture(size: int, seed: int = 0) -> np.ndarray:
    """HxWx3 uint8: overlapping rectangles of random colours (corners everywhere)."""
    rng = np.random.default_rng(seed)
    image = np.full((size, size, 3), 120, np.uint8)
    for _ in range(size):
        x, y = rng.integers(0, size, 2)
        w, h = rng.integers(4, size // 10, 2)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.rectangle(image, (int(x), int(y)), (int(x + w), int(y + h)), colour, -1)
    return cv2.GaussianBlur(image, (3, 3), 0)


@pytest.fixture(scope="session")
def panning_clip(tmp_path_factory, astronaut_path):
    """20 frames, 256 px: the astronaut on a textured backdrop, filmed by a camera that
    pans right 3 px (at 600 px) a frame. Returns (clip, its frame 0 as a PNG)."""
    from talkinghead_studio.core.images import load_portrait

    set_piece = texture(900, seed=4)
    set_piece[194:706, 194:706] = load_portrait(astronaut_path).rgb
    frames = [cv2.resize(set_piece[150:750, 150 + 3 * i:750 + 3 * i], (256, 256),
                         interpolation=cv2.INTER_AREA) for i in range(20)]
    folder = tmp_path_factory.mktemp("panning")
    first = folder / "frame0.png"
    cv2.imwrite(str(first), cv2.cvtColor(frames[0], cv2.COLOR_RGB2BGR))
    return write_clip(folder / "panning.mp4", frames), first


def background_shift(first: np.ndarray, last: np.ndarray) -> float:
    """Horizontal shift (px) of the 40-px bands at the frame's left and right edges."""
    shifts = []
    for band in (np.s_[:, :40], np.s_[:, -40:]):
        a = cv2.cvtColor(first[band], cv2.COLOR_RGB2GRAY).astype(np.float32)
        b = cv2.cvtColor(last[band], cv2.COLOR_RGB2GRAY).astype(np.float32)
        (dx, _), _ = cv2.phaseCorrelate(a, b)
        shifts.append(dx)
    return float(np.mean(shifts))
