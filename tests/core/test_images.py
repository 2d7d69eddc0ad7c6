"""Portrait loading: every common image kind becomes HxWx3 uint8 RGB, bad files say why."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from talkinghead_studio.core.images import load_portrait
from talkinghead_studio.errors import UnreadableImage


@pytest.fixture
def rgb_image():
    rng = np.random.default_rng(1)
    base = np.zeros((80, 120, 3), np.uint8)
    base[:, :60] = (200, 40, 40)          # left half red: lets us see rotations
    base[:, 60:] = (30, 30, 200)
    return np.clip(base + rng.integers(0, 5, base.shape), 0, 255).astype(np.uint8)


def test_greyscale_becomes_three_equal_channels(tmp_path, rgb_image):
    path = tmp_path / "grey.png"
    Image.fromarray(rgb_image).convert("L").save(path)
    loaded = load_portrait(path)
    assert loaded.rgb.shape == (80, 120, 3) and loaded.rgb.dtype == np.uint8
    assert np.array_equal(loaded.rgb[..., 0], loaded.rgb[..., 2])


def test_rgba_is_composited_and_alpha_kept(tmp_path, rgb_image):
    alpha = np.full(rgb_image.shape[:2], 255, np.uint8)
    alpha[:, :30] = 0
    path = tmp_path / "render.png"
    Image.fromarray(np.dstack([rgb_image, alpha]), "RGBA").save(path)
    loaded = load_portrait(path)
    assert loaded.rgb.shape == (80, 120, 3)
    assert loaded.alpha is not None and loaded.alpha[0, 0] == 0
    assert np.all(loaded.rgb[:, :30] == 128)        # transparent -> neutral grey backdrop
    assert np.array_equal(loaded.rgb[:, 70:], rgb_image[:, 70:])


def test_sixteen_bit_keeps_full_range(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 100).astype(np.uint16), (64, 1))
    path = tmp_path / "deep.png"
    Image.fromarray(ramp).save(path)   # numpy uint16 -> PIL 'I;16' 16-bit PNG
    loaded = load_portrait(path)
    assert loaded.rgb.dtype == np.uint8
    assert loaded.rgb[0, 0, 0] == 0 and loaded.rgb[0, -1, 0] == 255


def test_exif_rotation_is_applied(tmp_path, rgb_image):
    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6   # "rotate 90 CW to display"
    Image.fromarray(rgb_image).save(path, exif=exif.tobytes(), quality=95)
    loaded = load_portrait(path)
    assert loaded.rgb.shape == (120, 80, 3)          # width and height swapped
    # The red (left) half is at the top after a clockwise turn.
    assert loaded.rgb[5, 40, 0] > 150 and loaded.rgb[-5, 40, 2] > 150


def test_large_images_are_capped_with_a_note(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("RGB", (3000, 1500), (90, 90, 90)).save(path)
    loaded = load_portrait(path, max_side=2048)
    assert loaded.rgb.shape == (1024, 2048, 3)
    assert loaded.original_size == (3000, 1500)
    assert any("downscaled" in note for note in loaded.notes)


def test_missing_file(tmp_path):
    with pytest.raises(UnreadableImage, match="not found"):
        load_portrait(tmp_path / "nope.png")


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is text, not pixels")
    with pytest.raises(UnreadableImage, match="not an image"):
        load_portrait(path)


def test_truncated_image(tmp_path, rgb_image):
    path = tmp_path / "cut.png"
    Image.fromarray(rgb_image).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableImage):
        load_portrait(path)
