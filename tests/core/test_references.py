"""Few-shot extra views: where a view matches the target expression better than the
portrait, its real pixels are used; otherwise the portrait alone is."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from talkinghead_studio.config import MotionSettings
from talkinghead_studio.core import face_regions as fr
from talkinghead_studio.core.animator import Animator
from talkinghead_studio.core.crop import from_crop_units
from talkinghead_studio.core.images import LoadedImage
from talkinghead_studio.core.references import align_reference
from talkinghead_studio.errors import NoFaceFound
from tests.fixtures.faces import open_mouth

MARK = 70   # green added to the view's mouth interior: visible, yet still a mouth to MediaPipe


def mouth_mask(shape, points_px):
    mask = np.zeros(shape[:2], np.uint8)
    outline = points_px[list(fr.LIPS_INNER_UPPER + fr.LIPS_INNER_LOWER[::-1]), :2]
    cv2.fillPoly(mask, [outline.astype(np.int32)], 1)
    return mask.astype(bool)


def green_excess(image, points_px):
    """Mean of G - (R+B)/2 inside the inner-lip outline of ``points_px`` (grey levels)."""
    pixels = image[mouth_mask(image.shape, points_px)].astype(float)
    if len(pixels) == 0:
        return 0.0
    return float((pixels[:, 1] - (pixels[:, 0] + pixels[:, 2]) / 2).mean())


@pytest.fixture(scope="module")
def scene(astronaut_and_driver):
    """The astronaut, a driver, and an open-mouth view of her with a green mouth."""
    generator, portrait, driver = astronaut_and_driver
    maker = Animator(portrait, generator, MotionSettings(smoothing=0.0))
    maker.set_driver_reference(driver)
    opened = maker.animate(open_mouth(driver, 0.35))
    view = opened.frame.copy()
    inside = mouth_mask(view.shape, from_crop_units(opened.landmarks, portrait.box))
    marked = view[inside].astype(int)
    marked[:, 1] += MARK                      # "real teeth", marked so we can find them
    view[inside] = np.clip(marked, 0, 255).astype(np.uint8)
    return generator, portrait, driver, LoadedImage(view, None, view.shape[1::-1][:2])


def test_open_mouth_target_uses_the_open_mouth_view(scene):
    generator, portrait, driver, view_image = scene
    view = align_reference(view_image, portrait, "open.png")
    animator = Animator(portrait, generator, MotionSettings(smoothing=0.0), references=[view])
    animator.set_driver_reference(driver)
    result = animator.animate(open_mouth(driver, 0.35))
    # The mouth comes from the open-mouth view; its eyes are no better than the
    # portrait's, so the eyes stay the portrait's own.
    assert animator.last_region_weights["mouth"][1] > 0.5
    assert animator.last_region_weights["eyes"][0] == pytest.approx(1.0)
    mouth = from_crop_units(result.landmarks, portrait.box)
    alone = Animator(portrait, generator, MotionSettings(smoothing=0.0))
    alone.set_driver_reference(driver)
    without_view = alone.animate(open_mouth(driver, 0.35)).frame
    # The view's own (marked) mouth pixels show up where the portrait alone has none.
    assert green_excess(result.frame, mouth) > green_excess(without_view, mouth) + 20


def test_closed_mouth_target_keeps_the_portrait(scene):
    generator, portrait, driver, view_image = scene
    view = align_reference(view_image, portrait, "open.png")
    animator = Animator(portrait, generator, MotionSettings(smoothing=0.0), references=[view])
    animator.set_driver_reference(driver)
    result = animator.animate(driver)
    assert animator.last_view_weights[0] == pytest.approx(1.0)
    alone = Animator(portrait, generator, MotionSettings(smoothing=0.0))
    alone.set_driver_reference(driver)
    assert np.array_equal(result.frame, alone.animate(driver).frame)


def test_view_without_a_face_is_refused(scene):
    _, portrait, _, _ = scene
    blank = LoadedImage(np.full((300, 300, 3), 90, np.uint8), None, (300, 300))
    with pytest.raises(NoFaceFound, match="extra view blank.png"):
        align_reference(blank, portrait, "blank.png")


def test_cli_accepts_repeated_references(tmp_path, scene, astronaut_path, sample_driver):
    from PIL import Image

    from talkinghead_studio.cli import main

    _, _, _, view_image = scene
    view_path = tmp_path / "view.png"
    Image.fromarray(view_image.rgb).save(view_path)
    code = main(["render", str(astronaut_path), str(sample_driver), "-o",
                 str(tmp_path / "o.mp4"), "--reference", str(view_path), "--reference",
                 str(view_path), "--max-frames", "10", "--quiet"])
    assert code == 0 and (tmp_path / "o.mp4").exists()


def test_eyes_opening_wider_than_the_portrait_shows_come_from_an_open_eyed_view():
    """A view can close its eyes (the lids slide down over a real eye) but cannot show
    more eye than it has. A portrait caught mid-blink, driven to open its eyes, takes
    them from an open-eyed view; shut eyes stay the portrait's own; and an open-eyed
    portrait is not passed over for a view whose eyes are shut."""
    from talkinghead_studio.core.references import ReferenceSelector, ReferenceView
    from talkinghead_studio.warpgen import samples

    _, lm = samples.portrait("astronaut", 256)
    shut = samples.close_eyes(lm, 0.8)                 # mid-blink
    half_open = samples.close_eyes(lm, 0.35)
    open_view = ReferenceView(np.zeros((256, 256, 3), np.uint8), lm, "open.png")
    selector = ReferenceSelector(shut, [open_view])
    assert selector.weights(half_open)["eyes"][1] > 0.5
    selector.reset()
    assert selector.weights(shut)["eyes"][0] == pytest.approx(1.0)
    shut_view = ReferenceView(np.zeros((256, 256, 3), np.uint8), shut, "shut.png")
    selector = ReferenceSelector(lm, [shut_view])
    assert selector.weights(half_open)["eyes"][0] == pytest.approx(1.0)


def test_with_extra_views_every_frame_takes_the_crop_path(scene):
    """A frame that uses no view must look like its neighbours that do: with extra views
    the render never switches to finishing frames in the portrait (a sharper face that
    would pop in and out as the views' weights fade)."""
    generator, portrait, driver, view_image = scene
    view = align_reference(view_image, portrait, "open.png")
    animator = Animator(portrait, generator, MotionSettings(smoothing=0.0), references=[view])
    alone = Animator(portrait, generator, MotionSettings(smoothing=0.0))
    assert alone.composes_in_portrait and not animator.composes_in_portrait
    animator.set_driver_reference(driver)
    target = animator.target_landmarks(driver)
    weights = animator.view_weights(target)
    assert animator.last_view_weights[0] == pytest.approx(1.0)    # no view is used
    frame, _ = animator.frame_with(target, weights)
    assert np.array_equal(frame, animator.compose(*animator.generate_with(target, weights))[0])
