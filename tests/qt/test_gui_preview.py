"""Preview: play/pause, stepping, scrubbing, live controls and the status bar."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.qt.conftest import WAIT_MS, wait_driver, wait_portrait


def wait_frame(qtbot, window, predicate):
    qtbot.waitUntil(lambda: window.last_frame is not None and predicate(window.last_frame),
                    timeout=WAIT_MS)
    return window.last_frame


def test_play_and_pause(qtbot, loaded_window):
    window = loaded_window
    start = window.frames_shown
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.frames_shown >= start + 12, timeout=WAIT_MS)
    assert window.commands.play.text() == "Pause"
    seen = window.last_frame.index
    wait_frame(qtbot, window, lambda f: f.index != seen)       # the driver advances
    qtbot.waitUntil(lambda: window.fps_label.text() != "– fps", timeout=WAIT_MS)
    fps = float(window.fps_label.text().split()[0])
    assert 2 < fps < 40   # real time at the clip's 25 fps, or fewer on a busy machine
    assert window.provider_label.text() in ("Provider: CPU", "Provider: CUDA")
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.commands.play.text() == "Play", timeout=WAIT_MS)
    qtbot.wait(200)
    settled = window.frames_shown
    qtbot.wait(400)
    assert window.frames_shown == settled                      # paused means paused


def test_step_and_scrub(qtbot, loaded_window):
    window = loaded_window
    qtbot.keyClick(window, Qt.Key.Key_Right)
    wait_frame(qtbot, window, lambda f: f.index == 1)
    qtbot.keyClick(window, Qt.Key.Key_Period)
    wait_frame(qtbot, window, lambda f: f.index == 2)
    qtbot.keyClick(window, Qt.Key.Key_Left)
    wait_frame(qtbot, window, lambda f: f.index == 1)
    window.transport.slider.setValue(17)                        # as a drag does
    frame = wait_frame(qtbot, window, lambda f: f.index == 17)
    assert window.transport.time_label.text().startswith("18 / 24")
    assert frame.face_found
    qtbot.keyClick(window, Qt.Key.Key_Home)
    wait_frame(qtbot, window, lambda f: f.index == 0)


def target_points_after(qtbot, window, change):
    shown = window.frames_shown
    change()
    qtbot.waitUntil(lambda: window.frames_shown > shown, timeout=WAIT_MS)
    qtbot.wait(150)   # let the throttled last value arrive too
    return window.result_canvas.overlay_points.copy()


def test_control_changes_preview_while_paused(qtbot, loaded_window):
    """Head-pose strength 100% -> 0% moves the portrait's target landmarks (what the
    generator is told to draw) on a frame where the driver's head is turned."""
    window = loaded_window
    qtbot.waitUntil(lambda: not window.preview.neutral_pending, timeout=WAIT_MS)
    window.transport.slider.setValue(6)          # the clip's largest roll is here
    wait_frame(qtbot, window, lambda f: f.index == 6)
    full = window.result_canvas.overlay_points.copy()
    pose = window.controls.strengths["pose"].slider
    none = target_points_after(qtbot, window, lambda: pose.setValue(0))
    assert window.controls.motion().strengths.pose == 0.0
    moved = np.linalg.norm(full - none, axis=1).mean()
    assert moved > 1.0, f"pose strength changed the target by only {moved:.2f} px"
    back = target_points_after(qtbot, window, lambda: pose.setValue(100))
    assert np.abs(back - full).max() < 0.5


def test_control_changes_preview_while_playing(qtbot, loaded_window):
    window = loaded_window
    window.commands.play.trigger()
    qtbot.waitUntil(lambda: window.commands.play.text() == "Pause", timeout=WAIT_MS)
    window.controls.absolute.setChecked(True)
    qtbot.waitUntil(lambda: window.preview._session.motion.mode == "absolute", timeout=WAIT_MS)
    count = window.frames_shown
    qtbot.waitUntil(lambda: window.frames_shown > count + 3, timeout=WAIT_MS)  # still playing
    window.commands.play.trigger()


def test_control_changes_the_picture(qtbot, real_model, make_window, portrait_path, driver_clip):
    """With the real generator, the rendered pixels follow the controls."""
    window = make_window(model=real_model)
    wait_portrait(qtbot, window, portrait_path)
    wait_driver(qtbot, window, driver_clip)
    qtbot.waitUntil(lambda: not window.preview.neutral_pending, timeout=WAIT_MS)
    window.transport.slider.setValue(6)
    wait_frame(qtbot, window, lambda f: f.index == 6)
    before = window.result_canvas.image_array.astype(np.int16)
    target_points_after(qtbot, window,
                        lambda: window.controls.strengths["pose"].slider.setValue(0))
    after = window.result_canvas.image_array.astype(np.int16)
    assert np.abs(before - after).mean() > 0.5


def test_use_frame_as_neutral(qtbot, loaded_window):
    window = loaded_window
    window.transport.slider.setValue(9)
    wait_frame(qtbot, window, lambda f: f.index == 9)
    qtbot.keyClick(window, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: window.controls.motion().neutral_frame == 9, timeout=WAIT_MS)
    assert "frame 10" in window.controls.neutral_label.text()
    # The export gets the same neutral frame as the preview.
    assert window.controls.motion().neutral_frame == 9
    window.commands.auto_neutral.trigger()
    assert window.controls.motion().neutral_frame is None
    assert "automatic" in window.controls.neutral_label.text()


def test_size_change_reprepares_portrait(qtbot, loaded_window):
    window = loaded_window
    combo = window.controls.size_combo
    index = combo.findData(512)
    if index < 0:
        return   # a generator without 512 support offers only its own sizes
    combo.setCurrentIndex(index)
    qtbot.waitUntil(lambda: window.portrait_view.prepared.size == 512, timeout=WAIT_MS)
    assert window.settings.size == 512


def face_share(points: np.ndarray, side: float) -> float:
    """How much of a close-up's side the face's landmarks span."""
    return float((points.max(axis=0) - points.min(axis=0)).max() / side)


def test_zoom_to_face(qtbot, loaded_window):
    window = loaded_window
    size = window.portrait_view.prepared.size
    driver = window.driver_canvas
    assert driver.view_box is None
    whole = driver.image_rect().width() / driver.image_array.shape[1]
    qtbot.keyClick(window, Qt.Key.Key_Z)
    assert window.commands.zoom_face.isChecked() and window.settings.zoom_face
    assert window.result_canvas.image_array.shape == (size, size, 3)
    points = window.result_canvas.overlay_points
    assert points.min() > 0 and points.max() < size      # the face fills the close-up
    window.commands.step_forward.trigger()
    frame = wait_frame(qtbot, window, lambda f: f.index == 1)
    assert window.result_canvas.image_array.shape == (size, size, 3)
    # The driver panel shows its face close up too, at the same scale as the result.
    x0, y0, x1, y1 = driver.view_box
    assert driver.view_box == frame.driver_face_box and abs((x1 - x0) - (y1 - y0)) < 1e-6
    assert (x1 - x0) < 0.9 * driver.image_array.shape[1]
    shares = (face_share(frame.driver_points, x1 - x0),
              face_share(window.result_canvas.overlay_points, size))
    assert abs(shares[0] - shares[1]) < 0.1, shares
    magnified = driver.image_rect().width() / (x1 - x0)     # screen px per image px
    assert magnified > 1.3 * whole
    qtbot.keyClick(window, Qt.Key.Key_Z)
    assert window.result_canvas.image_array.shape == window.portrait_view.image.shape
    assert driver.view_box is None


def test_long_sessions_do_not_leak_true(qtbot, loaded_window):
    """PySide6 6.12.0's Signal.emit() drops a reference to True on every call; a preview
    emits one signal per frame, so without qt/signals.py's correction a long session
    ends in 'Fatal Python error: bool_dealloc' (Python 3.11)."""
    import sys

    window = loaded_window
    before = sys.getrefcount(True)
    start = window.frames_shown
    window.commands.play.trigger()
    qtbot.waitUntil(lambda: window.frames_shown >= start + 40, timeout=WAIT_MS)
    window.commands.play.trigger()
    qtbot.waitUntil(lambda: window.commands.play.text() == "Play", timeout=WAIT_MS)
    assert sys.getrefcount(True) >= before - 10


def test_glasses_switch_reprepares_portrait(qtbot, window, hopper_path):
    """Grace Hopper wears glasses: found by default; the Output group's switch turns the
    rigid frames off (and on again), remembered in the settings."""
    view = wait_portrait(qtbot, window, hopper_path)
    assert view.prepared.glasses is not None
    check = window.controls.glasses_check
    assert check.isChecked()
    check.setChecked(False)
    qtbot.waitUntil(lambda: window.portrait_view.prepared.glasses is None, timeout=WAIT_MS)
    assert window.settings.rigid_glasses is False
    assert window.render_settings().rigid_glasses is False      # the export follows
    check.setChecked(True)
    qtbot.waitUntil(lambda: window.portrait_view.prepared.glasses is not None,
                    timeout=WAIT_MS)
    assert window.settings.rigid_glasses is True


def test_follow_the_driver_camera_in_preview_and_export(qtbot, real_model, make_window,
                                                       panning_clip, tmp_path):
    """"Follow the driver's camera" moves the preview's whole picture with a panning
    driver camera, and the export is made with the same setting."""
    from talkinghead_studio.core.video import iter_frames
    from tests.conftest import background_shift
    from tests.qt.test_gui_export import export_via_dialog, wait_done

    clip, first = panning_clip
    window = make_window(model=real_model)
    wait_portrait(qtbot, window, first)
    wait_driver(qtbot, window, clip)
    qtbot.waitUntil(lambda: window.tracked_fraction >= 1.0, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.controls.camera_note.isVisible(), timeout=WAIT_MS)
    window.transport.slider.setValue(0)
    wait_frame(qtbot, window, lambda f: f.index == 0)
    start = window.result_canvas.image_array.copy()
    window.transport.slider.setValue(19)
    wait_frame(qtbot, window, lambda f: f.index == 19)
    fixed = window.result_canvas.image_array.copy()
    target_points_after(qtbot, window, lambda: window.controls.set_camera_mode("follow"))
    followed = window.result_canvas.image_array.copy()
    assert not window.controls.camera_note.isVisible()     # the hint is for Fixed only
    assert abs(background_shift(start, fixed)) < 0.5             # the backdrop stays
    assert background_shift(start, followed) > 5                 # it moves with the camera
    result = wait_done(qtbot, window, export_via_dialog(qtbot, window,
                                                        tmp_path / "followed.mp4", "mp4"))
    exported, driver = list(iter_frames(result.output)), list(iter_frames(clip))
    assert len(exported) == 20
    assert background_shift(exported[0], exported[-1]) == pytest.approx(
        background_shift(driver[0], driver[-1]), abs=1.0)
    window.controls.reset()
    assert window.controls.motion().camera == "fixed"
