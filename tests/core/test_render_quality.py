"""What the shipped generator makes of real faces (the sample portraits).

- MediaPipe finds the face in every output frame;
- landmarks re-detected in the output move as the transferred landmarks say;
- the mouth opens when the driver's does; a blink closes the eyes;
- a neutral frame keeps the portrait's identity (its face region barely changes);
- the background far from the head does not move.
"""
from __future__ import annotations


import numpy as np
import pytest

from talkinghead_studio.config import MotionSettings
from talkinghead_studio.core import face_regions as fr
from talkinghead_studio.core.animator import Animator
from talkinghead_studio.core.crop import from_crop_units
from talkinghead_studio.core.landmarks import FaceMeshDetector
from talkinghead_studio.core.motion import axis_angle_matrix
from tests.fixtures.faces import open_mouth


@pytest.fixture(scope="module")
def setup(astronaut_and_driver):
    generator, portrait, driver = astronaut_and_driver
    animator = Animator(portrait, generator, MotionSettings(smoothing=0.0))
    animator.set_driver_reference(driver)
    return animator, driver


def redetect(frame):
    with FaceMeshDetector(mode="image") as detector:
        found = detector.detect(frame)
    assert found is not None, "no face found in the output frame"
    return found.points


def test_neutral_frame_keeps_the_portrait(setup):
    animator, driver = setup
    frame = animator.animate(driver).frame
    portrait = animator.portrait.image.rgb
    x0, y0, x1, y1 = (int(v) for v in animator.portrait.box.int_bounds(portrait.shape))
    diff = np.abs(frame[y0:y1, x0:x1].astype(int) - portrait[y0:y1, x0:x1].astype(int))
    assert diff.mean() < 6.0       # closes the slightly parted lips; nothing else changes


def test_mouth_opens_in_the_output(setup):
    animator, driver = setup
    closed = redetect(animator.animate(driver).frame)
    opened = redetect(animator.animate(open_mouth(driver, 0.35)).frame)
    assert fr.mouth_aspect_ratio(opened) > fr.mouth_aspect_ratio(closed) + 0.15


def test_blink_closes_the_eyes_in_the_output(setup):
    animator, driver = setup
    shut = driver.copy()
    for upper, lower in ((fr.RIGHT_EYE_UPPER, fr.RIGHT_EYE_LOWER),
                         (fr.LEFT_EYE_UPPER, fr.LEFT_EYE_LOWER)):
        shut[list(upper), :2] = shut[list(lower), :2]
    open_ear = fr.eye_aspect_ratio(redetect(animator.animate(driver).frame))
    shut_ear = fr.eye_aspect_ratio(redetect(animator.animate(shut).frame))
    assert shut_ear < open_ear * 0.6


def test_redetected_landmarks_follow_the_transferred_ones(setup):
    animator, driver = setup
    centre = driver[list(fr.RIGID)].mean(axis=0)
    turned = (driver - centre) @ axis_angle_matrix(np.array([0, 0, 1.0]), 0.15).T + centre
    turned = turned + np.array([0.3 * fr.interocular(driver), 0, 0])
    result = animator.animate(turned.astype(np.float32))
    expected = from_crop_units(result.landmarks, animator.portrait.box)
    found = redetect(result.frame)
    error = np.linalg.norm(found[:, :2] - expected[:, :2], axis=1).mean()
    assert error / fr.interocular(expected) < 0.08


def test_background_far_from_the_head_stays_still(setup):
    animator, driver = setup
    moved = driver + np.array([0.4 * fr.interocular(driver), 0, 0], np.float32)
    frame = animator.animate(moved).frame
    portrait = animator.portrait.image.rgb
    # The astronaut's lower corners (flag, suit) are far from her head.
    for region in (np.s_[440:, :80], np.s_[440:, -80:]):
        assert np.abs(frame[region].astype(int) - portrait[region].astype(int)).mean() < 2.0
