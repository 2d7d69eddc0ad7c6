"""Drivers: a video file, a saved motion track, a webcam; and a corrupt video."""
from __future__ import annotations

import pytest

from talkinghead_studio.core.preview import CameraInfo
from tests.qt.conftest import WAIT_MS, error_dialog, wait_driver, wait_portrait
from tests.qt.test_gui_portrait import drop_files


def test_video_driver_opens_at_first_frame(qtbot, window, driver_clip):
    meta = wait_driver(qtbot, window, driver_clip)
    assert (meta.frame_count, meta.fps, meta.frame_size, meta.has_audio) == (24, 25.0, (256, 256), True)
    assert window.last_frame.index == 0 and window.last_frame.face_found
    assert window.driver_canvas.has_image
    assert window.driver_canvas.overlay_points.shape == (478, 2)
    assert window.transport.slider.maximum() == 23 and window.transport.slider.isEnabled()
    assert window.transport.time_label.text().startswith("1 / 24")


def test_driver_by_drag_and_drop(qtbot, window, driver_clip):
    drop_files(window, [driver_clip])
    qtbot.waitUntil(lambda: window.driver_meta is not None, timeout=WAIT_MS)
    assert window.driver_meta.path == driver_clip


def test_corrupt_video_error(qtbot, window, corrupt_video):
    window.open_driver(corrupt_video)
    dialog = error_dialog(qtbot, window)
    assert "Cannot read this video" in dialog.text()
    assert "broken.mp4" in dialog.informativeText()
    assert not dialog.detailedText()
    assert window.driver_meta is None and not window.driver_canvas.has_image
    assert "Drop a driver video" in window.driver_canvas.placeholder


def test_motion_track_driver(qtbot, window, portrait_path, driver_clip, tmp_path):
    from talkinghead_studio.core.track import extract_track

    track = tmp_path / "motion.npz"
    extract_track(driver_clip).save(track)
    wait_portrait(qtbot, window, portrait_path)
    meta = wait_driver(qtbot, window, track)
    assert meta.kind == "track" and meta.frame_count == 24
    frame = window.last_frame
    assert frame.face_found and frame.result is not None and frame.result_points is not None
    # A track has no pictures: the driver canvas shows its landmarks drawn on dark grey.
    assert frame.driver.mean() < 60


@pytest.fixture
def fake_cameras(monkeypatch, driver_clip):
    """Cameras as the app would list them; the 'camera' is a clip played in a loop."""
    found: list[CameraInfo] = []
    monkeypatch.setattr("talkinghead_studio.qt.main_window.list_cameras", lambda: list(found))
    return found, CameraInfo(str(driver_clip), "Test Camera")


def webcam_entries(window):
    return [a for a in window.webcam_menu.actions() if a.text() and not a.isSeparator()]


def test_no_camera_is_said_plainly(qtbot, fake_cameras, make_window):
    window = make_window()
    qtbot.waitUntil(lambda: any(a.text() == "No camera found" for a in webcam_entries(window)),
                    timeout=WAIT_MS)
    entry = next(a for a in webcam_entries(window) if a.text() == "No camera found")
    assert not entry.isEnabled()
    assert "No camera found" in window.webcam_button.toolTip()


def test_webcam_drives_the_portrait_live(qtbot, fake_cameras, make_window, portrait_path):
    found, camera = fake_cameras
    found.append(camera)
    window = make_window()
    qtbot.waitUntil(lambda: any(a.text() == "Test Camera" for a in webcam_entries(window)),
                    timeout=WAIT_MS)
    wait_portrait(qtbot, window, portrait_path)
    next(a for a in webcam_entries(window) if a.text() == "Test Camera").trigger()
    qtbot.waitUntil(lambda: window.live and window.frames_shown >= 10, timeout=WAIT_MS)
    frame = window.last_frame
    assert frame.index is None and frame.result is not None
    assert window.transport.time_label.text() == "Live"
    assert not window.commands.export.isEnabled()          # nothing to export from a camera
    qtbot.waitUntil(lambda: window.fps_label.text() != "– fps", timeout=WAIT_MS)
    assert float(window.fps_label.text().split()[0]) > 3
    # "Use frame as neutral" works live too.
    window.commands.use_as_neutral.trigger()
    qtbot.waitUntil(lambda: "camera frame" in window.controls.neutral_label.text(),
                    timeout=WAIT_MS)
    window.commands.stop_camera.trigger()
    qtbot.waitUntil(lambda: window.driver_meta is None, timeout=WAIT_MS)
    assert not window.live


def test_camera_that_does_not_open(qtbot, window, tmp_path):
    window.open_camera(CameraInfo(str(tmp_path / "missing.mp4"), "Ghost Camera"))
    dialog = error_dialog(qtbot, window)
    assert "No camera" in dialog.text() and "Ghost Camera" in dialog.informativeText()
    assert not window.live


def test_driver_is_tracked_in_the_background(qtbot, window, driver_clip):
    wait_driver(qtbot, window, driver_clip)
    qtbot.waitUntil(lambda: window.tracked_fraction >= 1.0, timeout=WAIT_MS)
    assert window.tracking_label.text() == ""
    qtbot.wait(300)                                      # the camera verdict follows
    # The clip turns the whole picture, but over a plain backdrop: nothing to go on.
    assert not window.controls.camera_note.isVisible()
    assert not window.preview.neutral_pending      # the automatic neutral frame is set
