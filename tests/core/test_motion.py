"""Motion transfer: the portrait follows the driver's motion, in its own proportions."""
from __future__ import annotations

import numpy as np
import pytest

from talkinghead_studio.config import MotionSettings, RegionStrengths
from talkinghead_studio.core import face_regions as fr
from talkinghead_studio.core.crop import face_crop_box, to_crop_units
from talkinghead_studio.core.images import load_portrait
from talkinghead_studio.core.landmarks import FaceMeshDetector
from talkinghead_studio.core.motion import (MotionRetargeter, OneEuroFilter, axis_angle_matrix,
                                            fit_similarity, pick_neutral_frame,
                                            rotation_angles_deg)
from tests.fixtures.faces import close_eyes, open_mouth


@pytest.fixture(scope="module")
def faces(astronaut_path, hopper_path):
    """(astronaut px, hopper px, astronaut crop units): two real, differently shaped faces."""
    with FaceMeshDetector(mode="image") as detector:
        astro = detector.detect(load_portrait(astronaut_path).rgb).points
        hopper = detector.detect(load_portrait(hopper_path).rgb).points
    return astro, hopper, to_crop_units(astro, face_crop_box(astro))


def test_reference_frame_reproduces_the_portrait(faces):
    """Self-reenactment: the driver's neutral frame gives back the portrait exactly."""
    astro, _, portrait = faces
    retarget = MotionRetargeter(portrait)
    retarget.set_reference(astro)
    assert np.allclose(retarget.retarget(astro), portrait, atol=1e-4)


def test_other_drivers_neutral_frame_changes_only_the_lip_gap(faces):
    """Cross-identity: at the driver's neutral frame only the inner-lip opening follows the
    driver (its lips are closed, the astronaut's slightly parted); nothing else moves."""
    _, hopper, portrait = faces
    retarget = MotionRetargeter(portrait)
    retarget.set_reference(hopper)
    target = retarget.retarget(hopper)
    lips = list(fr.LIPS)
    others = np.setdiff1d(np.arange(478), lips)
    assert np.allclose(target[others], portrait[others], atol=1e-4)
    assert fr.mouth_gap(target) <= fr.mouth_gap(portrait)


def test_mouth_opening_transfers_scaled_to_the_portrait(faces):
    _, hopper, portrait = faces
    retarget = MotionRetargeter(portrait)
    retarget.set_reference(hopper)
    target = retarget.retarget(open_mouth(hopper, 0.3))
    gap_before = fr.mouth_gap(portrait) / fr.interocular(portrait)
    gap_after = fr.mouth_gap(target) / fr.interocular(target)
    assert gap_after - gap_before > 0.15          # the mouth clearly opens
    # ... but only the mouth: the eyes and brows stay where they were.
    eyes = list(fr.RIGHT_EYE_UPPER + fr.LEFT_EYE_UPPER + fr.RIGHT_BROW)
    assert np.abs(target[eyes] - portrait[eyes]).max() < 1e-4


def test_a_full_blink_closes_the_portraits_eyes_whatever_their_size(faces):
    _, hopper, portrait = faces
    retarget = MotionRetargeter(portrait)
    retarget.set_reference(hopper)
    target = retarget.retarget(close_eyes(hopper))
    assert fr.eye_aspect_ratio(portrait) > 0.15
    assert fr.eye_aspect_ratio(target) < 0.03


def test_mouth_strength_zero_freezes_the_mouth(faces):
    _, hopper, portrait = faces
    settings = MotionSettings(strengths=RegionStrengths(mouth=0.0))
    retarget = MotionRetargeter(portrait, settings)
    retarget.set_reference(hopper)
    target = retarget.retarget(open_mouth(hopper, 0.3))
    assert abs(fr.mouth_gap(target) - fr.mouth_gap(portrait)) < 1e-4


def test_head_translation_moves_the_face_rigidly_in_portrait_units(faces):
    _, hopper, portrait = faces
    retarget = MotionRetargeter(portrait)
    retarget.set_reference(hopper)
    shift = 0.5 * fr.interocular(hopper)
    moved = hopper + np.array([shift, 0, 0], np.float32)
    target = retarget.retarget(moved)
    displacement = target - retarget.retarget(hopper)
    expected = 0.5 * fr.interocular(portrait)
    assert np.allclose(displacement[:, 0], expected, rtol=0.02)
    assert np.abs(displacement[:, 1]).max() < 1e-3 * expected + 1e-6


def test_head_turn_rotates_in_depth(faces):
    _, hopper, portrait = faces
    retarget = MotionRetargeter(portrait)
    retarget.set_reference(hopper)
    centre = hopper[list(fr.RIGID)].mean(axis=0)
    rotation = axis_angle_matrix(np.array([0, 1.0, 0]), np.radians(20))
    turned = ((hopper - centre) @ rotation.T + centre).astype(np.float32)
    target = retarget.retarget(turned)
    fit = fit_similarity(portrait[list(fr.RIGID)].astype(np.float64),
                         target[list(fr.RIGID)].astype(np.float64))
    pitch, yaw, roll = rotation_angles_deg(fit.rotation)
    assert abs(abs(yaw) - 20) < 1.0 and abs(pitch) < 1.0 and abs(roll) < 1.0
    # A yaw foreshortens the face horizontally: a 2-D slide would not.
    width_before = np.ptp(portrait[list(fr.FACE_OVAL), 0])
    width_after = np.ptp(target[list(fr.FACE_OVAL), 0])
    assert width_after < width_before * 0.98


def test_absolute_mode_takes_the_drivers_shape(faces):
    astro, hopper, portrait = faces
    relative = MotionRetargeter(portrait)
    relative.set_reference(hopper)
    absolute = MotionRetargeter(portrait, MotionSettings(mode="absolute"))
    absolute.set_reference(hopper)
    # At the driver's reference frame relative mode keeps the portrait's face shape,
    # while absolute mode already has the driver's proportions.
    relative_change = np.abs(relative.retarget(hopper) - portrait).mean()
    absolute_change = np.abs(absolute.retarget(hopper) - portrait).mean()
    assert relative_change < 0.001 and absolute_change > 0.003


def test_one_euro_removes_jitter_but_follows_fast_motion():
    rng = np.random.default_rng(0)
    filt = OneEuroFilter(freq=30, min_cutoff=1.0, beta=0.05)
    still = [filt(np.array([100.0]) + rng.normal(0, 1.0, 1)) for _ in range(60)]
    assert np.std(np.array(still[30:])) < 0.5          # jitter (std 1 px) is reduced
    for _ in range(5):
        value = filt(np.array([160.0]))                 # a sudden 60 px jump
    assert value[0] > 150                               # caught up within 5 frames


def test_neutral_frame_prefers_closed_mouth_and_frontal(faces):
    _, hopper, _ = faces
    centre = hopper[list(fr.RIGID)].mean(axis=0)
    turned = (hopper - centre) @ axis_angle_matrix(np.array([0, 1.0, 0]), 0.5).T + centre
    frames = np.stack([open_mouth(hopper, 0.4), turned, hopper, open_mouth(hopper, 0.1)])
    assert pick_neutral_frame(frames.astype(np.float32)) == 2


def test_open_portrait_mouth_closes_when_the_driver_keeps_lips_together(faces):
    """A toothy-smile portrait + a closed-mouth driver -> the portrait's lips meet."""
    astro, hopper, _ = faces
    smiling = open_mouth(astro, 0.25)                      # a portrait with an open mouth
    portrait = to_crop_units(smiling, face_crop_box(smiling))
    retarget = MotionRetargeter(portrait)
    retarget.set_reference(hopper)                         # the driver's lips are closed
    target = retarget.retarget(hopper)
    assert fr.mouth_gap(portrait) / fr.interocular(portrait) > 0.15
    assert fr.mouth_gap(target) / fr.interocular(target) < 0.03
    # Lip thickness (outer-to-inner distance of the lower lip) is kept.
    def lower_lip_thickness(points):
        return np.linalg.norm(points[17, :2] - points[14, :2])
    assert lower_lip_thickness(target) == pytest.approx(lower_lip_thickness(portrait), rel=0.05)
