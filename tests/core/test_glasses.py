"""Glasses frames stay rigid with the head (core/glasses.py), on the sample portraits:
Grace Hopper wears glasses, the astronaut does not."""
from __future__ import annotations

import numpy as np
import pytest

from talkinghead_studio.core.glasses import find_glasses
from talkinghead_studio.inference.session import OnnxGenerator, SessionOptions
from talkinghead_studio.warpgen import samples

SIZE = 512


@pytest.fixture(scope="module")
def generator(shipped_model) -> OnnxGenerator:
    return OnnxGenerator(shipped_model, SessionOptions(provider="cpu", intra_op_threads=1))


@pytest.fixture(scope="module")
def hopper():
    crop, lm = samples.portrait("hopper", SIZE)
    return crop, lm, find_glasses(crop, lm)


def test_glasses_are_found_on_hopper_and_not_on_the_astronaut(hopper):
    crop, lm, layer = hopper
    assert layer is not None
    rims = layer.mask > 0.5
    assert rims.sum() > 2000                       # frames, not a speck
    # around the eyes, never on the eyeballs themselves
    eye_y = int(lm[[33, 263], 1].mean() * SIZE)
    assert rims[eye_y - 60:eye_y + 60].sum() > 0.8 * rims.sum()
    for iris in (468, 473):
        x, y = (lm[iris, :2] * SIZE).astype(int)
        assert not rims[y - 3:y + 4, x - 3:x + 4].any()
    astronaut, astronaut_lm = samples.portrait("astronaut", SIZE)
    assert find_glasses(astronaut, astronaut_lm) is None


def _frame(generator, layer, crop, lm, drv):
    source = crop if layer is None else layer.inpainted
    image, _ = generator.render(samples.feeds(source, lm, drv), source, None)
    return image if layer is None else layer.overlay(image, lm, drv)


def test_a_still_frame_is_the_portrait(generator, hopper):
    crop, lm, layer = hopper
    image = _frame(generator, layer, crop, lm, lm)
    diff = np.abs(image[2:-2, 2:-2].astype(int) - crop[2:-2, 2:-2].astype(int))
    assert diff.max() <= 3 and diff.mean() < 0.1


def test_frames_do_not_bend_when_the_eyes_close(generator, hopper):
    """In a blink the lids move behind the lenses; the frame pixels stay where they were
    (the head is still). Without the rigid layer they sag with the lids."""
    crop, lm, layer = hopper
    blink = samples.close_eyes(lm)
    rims = layer.mask > 0.99
    eye_y = int(lm[[33, 263], 1].mean() * SIZE)
    above = np.zeros_like(rims)
    above[:eye_y] = True                           # the upper rims: those the lids drag
    region = rims & above
    assert region.sum() > 500

    def rim_change(image):
        return np.abs(image[region].astype(int) - crop[region].astype(int)).mean()

    rigid = rim_change(_frame(generator, layer, crop, lm, blink))
    warped = rim_change(_frame(generator, None, crop, lm, blink))
    assert rigid < 1.0
    assert warped > 4.0 * max(rigid, 0.5)


def test_frames_follow_the_head(generator, hopper):
    crop, lm, layer = hopper
    dx = 0.02
    image = _frame(generator, layer, crop, lm, samples.move_head(lm, dx, 0.0, 0.0))
    rims = layer.mask > 0.99
    ys, xs = np.nonzero(rims)
    shift = int(round(dx * SIZE))
    inside = xs + shift < SIZE
    moved = image[ys[inside], xs[inside] + shift].astype(int)
    assert np.abs(moved - crop[ys[inside], xs[inside]].astype(int)).mean() < 6.0


def _eye_openings(lm, size):
    import cv2

    from talkinghead_studio.core import face_regions as fr

    holes = np.zeros((size, size), np.uint8)
    for chain in (fr.RIGHT_EYE_UPPER + fr.RIGHT_EYE_CORNERS + fr.RIGHT_EYE_LOWER,
                  fr.LEFT_EYE_UPPER + fr.LEFT_EYE_CORNERS + fr.LEFT_EYE_LOWER):
        hull = cv2.convexHull((lm[list(chain), :2] * size).astype(np.int32))
        cv2.fillConvexPoly(holes, hull, 1)
    return holes > 0


def test_the_frame_layer_leaves_the_eye_openings_to_the_lids(hopper):
    crop, lm, layer = hopper
    assert layer.mask[_eye_openings(lm, SIZE)].max() == 0.0


@pytest.mark.shared_data
def test_a_blink_shows_through_rimless_glasses():
    """Steve Jobs' lower rims sit 2-3 px under his lashes at 256 px; the frame layer once
    grew over the lower half of both eyes and held the open eye over every blink."""
    from tests.conftest import SHARED_DATA
    from talkinghead_studio.core.images import load_portrait
    from talkinghead_studio.core.portrait import prepare_portrait
    from talkinghead_studio.paths import model_path

    prepared = prepare_portrait(load_portrait(SHARED_DATA / "portraits" / "ava_jobs.jpg"), 256)
    layer, lm = prepared.glasses, prepared.crop_points
    assert layer is not None
    openings = _eye_openings(lm, 256)
    assert layer.mask[openings].max() == 0.0
    generator = OnnxGenerator(model_path("mesh_warp.onnx"),
                              SessionOptions(provider="cpu", intra_op_threads=1))
    still = _frame(generator, layer, prepared.crop, lm, lm)
    closed = _frame(generator, layer, prepared.crop, lm, samples.close_eyes(lm))
    change = np.abs(closed.astype(int) - still.astype(int)).max(-1)
    assert np.mean(change[openings] > 20) > 0.3     # the lids really cover the eyes


@pytest.mark.shared_data
def test_only_the_portraits_with_glasses_are_taken_for_glasses():
    from tests.conftest import SHARED_DATA
    from talkinghead_studio.core.images import load_portrait
    from talkinghead_studio.core.portrait import prepare_portrait

    found = {}
    for path in sorted((SHARED_DATA / "portraits").iterdir()):
        prepared = prepare_portrait(load_portrait(path), 256, with_matte=False)
        found[path.stem] = prepared.glasses is not None
    assert found.pop("ava_jobs") is True           # Steve Jobs' rimless-style glasses
    assert not any(found.values()), found


def test_a_render_of_a_portrait_with_glasses_says_so_and_plays(tmp_path, shipped_model,
                                                                hopper_path, sample_driver):
    from talkinghead_studio.config import MotionSettings, RenderSettings
    from talkinghead_studio.core.pipeline import RenderJob, render
    from talkinghead_studio.core.video import iter_frames

    out = tmp_path / "hopper.mp4"
    result = render(RenderJob(hopper_path, sample_driver, out,
                              motion=MotionSettings(neutral="first"),
                              render=RenderSettings(size=256, max_frames=12)))
    assert any("Glasses" in note for note in result.notes)
    assert result.frames == 12 and sum(1 for _ in iter_frames(out)) == 12
    off = render(RenderJob(hopper_path, sample_driver, tmp_path / "off.mp4",
                           motion=MotionSettings(neutral="first"),
                           render=RenderSettings(size=256, max_frames=2, rigid_glasses=False)))
    assert not any("Glasses" in note for note in off.notes)
