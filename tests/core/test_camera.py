"""Following the driver's camera (core/camera.py): what the tracker sees, how frames move,
and a render that follows a panning camera end to end."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from talkinghead_studio.config import MotionSettings, RenderSettings
from talkinghead_studio.core import camera as cam
from talkinghead_studio.core.animator import Animator
from talkinghead_studio.core.landmarks import FaceMeshDetector
from talkinghead_studio.core.pipeline import RenderJob, render
from talkinghead_studio.core.video import iter_frames
from tests.conftest import background_shift, texture


def similarity(scale: float, degrees: float, shift, centre) -> np.ndarray:
    matrix = cv2.getRotationMatrix2D(centre, degrees, scale)
    matrix[:, 2] += shift
    return matrix.astype(np.float32)


def corner_error(estimate: np.ndarray, truth: np.ndarray, size: int) -> float:
    corners = np.float32([[0, 0], [size, 0], [0, size], [size, size]])[None]
    return float(np.abs(cv2.transform(corners, estimate) - cv2.transform(corners, truth)).max())


def test_a_pan_zoom_and_roll_of_the_background_is_recovered():
    scene = texture(400)
    with cam.CameraTracker(segment_person=False) as tracker:
        for step in range(25):
            amount = step / 24
            truth = similarity(1 + 0.06 * amount, 2.0 * amount, (15 * amount, -8 * amount),
                               (200.0, 200.0))
            frame = cv2.warpAffine(scene, truth, (400, 400), borderMode=cv2.BORDER_REFLECT)
            estimate = tracker.update(frame, None)
        assert tracker.reliable_frames == 24
    assert corner_error(estimate, truth, 400) < 0.6


def test_a_plain_wall_says_the_camera_stood_still():
    rng = np.random.default_rng(1)
    with cam.CameraTracker(segment_person=False) as tracker:
        for _ in range(15):   # fresh sensor noise on a flat wall: nothing to follow
            wall = np.clip(150 + rng.normal(0, 2, (240, 320, 3)), 0, 255).astype(np.uint8)
            estimate = tracker.update(wall, None)
        assert tracker.reliable_frames == 0
    assert np.array_equal(estimate, cam.identity())


def test_without_person_segmentation_the_camera_is_taken_as_still(monkeypatch, caplog):
    import talkinghead_studio.core.mediapipe_solutions as solutions

    def broken(name):
        raise RuntimeError("model file damaged")

    monkeypatch.setattr(solutions, "solution", broken)
    scene = texture(320, seed=5)
    with cam.CameraTracker() as tracker:
        for step in range(6):   # a real pan: without the person kept out, no verdict
            frame = cv2.warpAffine(scene, np.float32([[1, 0, 4 * step], [0, 1, 0]]),
                                   (320, 320), borderMode=cv2.BORDER_REFLECT)
            estimate = tracker.update(frame, None)
    assert tracker.unavailable and np.array_equal(estimate, cam.identity())
    assert "camera is taken as still" in caplog.text


def test_a_moving_face_is_not_taken_for_the_camera():
    scene = texture(320, seed=2)
    head = texture(100, seed=3)
    with cam.CameraTracker(segment_person=False) as tracker:
        for step in range(20):
            frame = scene.copy()
            x, y = 110 + 3 * step, 110 + step       # the head drifts; the camera does not
            frame[y:y + 100, x:x + 100] = head
            rng = np.random.default_rng(step)
            face = np.column_stack([rng.uniform(x, x + 100, 478), rng.uniform(y, y + 100, 478),
                                    np.zeros(478)]).astype(np.float32)
            estimate = tracker.update(frame, face)
    assert corner_error(estimate, cam.identity(), 320) < 0.3


def test_what_a_move_uncovers_continues_the_edge_rather_than_mirroring_it():
    ramp = np.tile(np.linspace(40, 220, 200).astype(np.uint8)[None, :, None], (120, 1, 3))
    moved = cam.FrameMover(ramp).move(ramp, np.float32([[1, 0, 20], [0, 1, 0]]))
    assert np.array_equal(moved[:, 40:], ramp[:, 20:-20])       # the picture itself shifts
    strip = moved[:, :18].astype(int)
    # A mirror would bring the brighter inside into the strip (up to 40 + 20 steps).
    assert np.abs(strip - int(ramp[0, 0, 0])).max() <= 8


def test_points_and_matrices_round_trip():
    matrix = similarity(1.1, 5.0, (3.0, -2.0), (50.0, 50.0))
    points = np.float32([[10, 20, 4], [60, 5, -2]])
    back = cam.apply_to_points(cam.invert(matrix), cam.apply_to_points(matrix, points))
    assert np.allclose(back, points, atol=1e-3)
    assert np.allclose(cam.relative(matrix, matrix), cam.identity(), atol=1e-6)


@pytest.fixture(scope="module")
def following(astronaut_and_driver):
    generator, portrait, driver = astronaut_and_driver
    animator = Animator(portrait, generator,
                        MotionSettings(smoothing=0.0, camera="follow"))
    animator.set_driver_reference(driver, cam.identity())
    return animator, driver


def test_a_camera_pan_moves_the_frame_and_leaves_the_head_in_its_place(following):
    animator, driver = following
    pan = np.float32([[1, 0, 30], [0, 1, 0]])         # the camera, in driver pixels
    at_rest = animator.target_landmarks(driver, cam.identity())
    panned = animator.target_landmarks(cam.apply_to_points(pan, driver), pan)
    assert np.abs(panned - at_rest).max() < 1e-3      # the head did not move in the scene
    motion = animator.frame_motion(pan)
    # A pan stays a pan in the portrait, by the same 30 px turned and scaled as the
    # driver's face maps onto the portrait's.
    driver_to_portrait = animator._driver_to_portrait[:2, :2]
    assert np.allclose(motion[:, :2], np.eye(2), atol=1e-5)
    assert np.allclose(motion[:, 2], driver_to_portrait @ [30.0, 0.0], atol=1e-3)


def test_steady_takes_the_camera_out_of_the_head_but_keeps_the_frame(following):
    animator, driver = following
    steady = Animator(animator.portrait, animator.generator,
                      MotionSettings(smoothing=0.0, camera="steady"))
    steady.set_driver_reference(driver, cam.identity())
    pan = np.float32([[1, 0, 30], [0, 1, 0]])
    panned = steady.target_landmarks(cam.apply_to_points(pan, driver), pan)
    assert np.abs(panned - steady.target_landmarks(driver, cam.identity())).max() < 1e-3
    assert steady.frame_motion(pan) is None


def test_a_still_camera_does_not_resample_the_frame(following):
    animator, _ = following
    assert animator.frame_motion(np.float32([[1, 0, 0.2], [0, 1, -0.1]])) is None
    fixed = Animator(animator.portrait, animator.generator, MotionSettings(camera="fixed"))
    fixed.set_driver_reference(following[1], cam.identity())
    assert fixed.frame_motion(np.float32([[1, 0, 30], [0, 1, 0]])) is None


def face_shift(first: np.ndarray, last: np.ndarray) -> float:
    """Horizontal shift (px) of the re-detected face's centre from ``first`` to ``last``."""
    with FaceMeshDetector(mode="image") as detector:
        start, end = detector.detect(first).points, detector.detect(last).points
    return float(end[:, 0].mean() - start[:, 0].mean())


@pytest.mark.parametrize("mode", ["fixed", "steady", "follow"])
def test_camera_modes_on_a_panning_driver(tmp_path, shipped_model, panning_clip, mode):
    """The driver's camera pans; the astronaut does not move on her backdrop. fixed: the
    pan moves the head over a still frame. steady: nothing moves. follow: head and
    backdrop move together, as in the driver."""
    clip, portrait = panning_clip
    out = tmp_path / f"{mode}.mp4"
    render(RenderJob(portrait, clip, out,
                     motion=MotionSettings(neutral="first", camera=mode),
                     render=RenderSettings(size=256)))
    frames, driver = list(iter_frames(out)), list(iter_frames(clip))
    backdrop = background_shift(frames[0], frames[-1])
    face = face_shift(frames[0], frames[-1])
    driver_backdrop = background_shift(driver[0], driver[-1])
    driver_face = face_shift(driver[0], driver[-1])
    assert driver_face < -15 and driver_backdrop > 10   # (phase correlation's sign)
    if mode == "fixed":
        assert abs(backdrop) < 0.5 and face == pytest.approx(driver_face, abs=3)
    elif mode == "steady":
        assert abs(backdrop) < 0.5 and abs(face) < 3
    else:
        assert backdrop == pytest.approx(driver_backdrop, abs=1.0)
        assert face == pytest.approx(driver_face, abs=3)
