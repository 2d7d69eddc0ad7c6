"""core/preview.py without Qt: drivers, the playback clock, the preview session."""
from __future__ import annotations

import numpy as np
import pytest

from talkinghead_studio.config import MotionSettings, RegionStrengths, RenderSettings
from talkinghead_studio.core import preview as pv
from talkinghead_studio.errors import NoCameraFound, NoFaceFound, StudioError, UnreadableVideo
from tests.qt import samples


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return samples.write_driver_clip(tmp_path_factory.mktemp("preview") / "clip.mp4", count=24)


@pytest.fixture(scope="module")
def no_face_png(tmp_path_factory):
    return samples.write_no_face_image(tmp_path_factory.mktemp("preview") / "flat.png")


@pytest.fixture(scope="module")
def session(identity_model, astronaut_path, clip):
    session = pv.PreviewSession()
    session.load_generator(RenderSettings(model_path=identity_model))
    view = session.load_portrait(astronaut_path)
    assert view.problem is None
    session.set_driver(pv.open_driver(clip))
    assert session.reference_pending
    session.driver.tracker.join(timeout=60)      # the automatic neutral needs the track
    assert session.resolve_reference() and not session.reference_pending
    yield session
    session.close()


def test_video_frames_random_access_matches_sequential(clip):
    frames = pv.VideoFrames(clip)
    try:
        in_order = [frames.read(i) for i in range(24)]
        assert all(f is not None and f.shape == (256, 256, 3) for f in in_order)
        for index in (20, 3, 4, 15, 0, 23):            # backwards seeks and short jumps
            assert np.abs(frames.read(index).astype(int) - in_order[index]).mean() < 1.0
        assert frames.read(24) is None and frames.read(-1) is None
    finally:
        frames.close()


def test_background_tracker_fills_cache_and_picks_neutral(clip):
    driver = pv.VideoDriver(clip)
    try:
        driver.tracker.join(timeout=60)
        assert driver.tracked_fraction == 1.0
        assert driver.cache.known_prefix() == 24
        neutral = driver.auto_neutral()
        assert neutral is not None and 0 <= neutral < 24
        known, points = driver.cache.get(5)
        assert known and points.shape == (478, 3)
    finally:
        driver.close()
    assert not driver.tracker.is_alive()


def test_corrupt_video_raises_studio_error(tmp_path):
    with pytest.raises(UnreadableVideo, match="damaged|not a video"):
        pv.open_driver(samples.write_corrupt_video(tmp_path / "bad.mp4"))
    with pytest.raises(UnreadableVideo, match="not found"):
        pv.open_driver(tmp_path / "absent.mp4")


def test_track_driver(tmp_path, clip):
    from talkinghead_studio.core.track import extract_track

    path = extract_track(clip).save(tmp_path / "motion.npz")
    driver = pv.open_driver(path)
    assert driver.meta.kind == "track" and driver.meta.frame_count == 24
    picture = driver.frame(3)
    assert picture.shape == (256, 256, 3) and picture.max() > 100   # dots were drawn
    assert driver.frame(24) is None
    assert driver.landmarks(3, picture, None).shape == (478, 3)
    assert driver.auto_neutral() in range(24)


def test_playback_clock_keeps_real_time():
    clock = pv.PlaybackClock(fps=25, count=100)
    clock.start(10, now=0.0)
    assert clock.due(10) == 0.0 and clock.due(35) == pytest.approx(1.0)
    assert clock.next_index(10, now=0.01) == 11                  # on time: the next frame
    assert clock.next_index(11, now=0.5) == 22                   # late: skip to catch up
    assert clock.next_index(99, now=0.6) == 0                    # loops at the end
    assert clock.due(0) == pytest.approx(0.6)
    once = pv.PlaybackClock(fps=25, count=5, loop=False, realtime=False)
    assert once.next_index(4, now=99.0) is None
    assert once.next_index(1, now=99.0) == 2                     # benchmarks: every frame


def test_session_render_and_pose_strength(session):
    frame = session.render(6)
    assert frame.index == 6 and frame.face_found
    assert frame.driver.shape == (256, 256, 3)
    assert frame.result.shape == session.view.image.shape
    assert frame.result_points.shape == (478, 2)
    session.set_motion(MotionSettings(strengths=RegionStrengths(pose=0.0)))
    still = session.render(6)
    session.set_motion(MotionSettings())
    moved = np.linalg.norm(frame.result_points - still.result_points, axis=1).mean()
    assert moved > 1.0
    assert session.render(10_000) is None


def test_use_as_neutral_sets_reference(session):
    session.use_as_neutral(12)
    assert session.motion.neutral_frame == 12 and not session.reference_pending
    at_neutral = session.render(12)
    # At its own neutral frame the driver has no motion: the target is the portrait's
    # own landmarks (in display pixels), up to smoothing.
    own = session.view.points
    assert np.abs(at_neutral.result_points - own).mean() < 1.5
    session.set_motion(MotionSettings())


def test_size_change_reprepares(session):
    view = session.set_size(512)
    assert view.prepared.size == 512
    assert session.render(2).result is not None
    session.set_size(256)


def test_driver_close_up_frames_the_face_like_the_portrait_crop(session):
    from talkinghead_studio.core.crop import CROP_SCALE

    first, later = session.render(3), session.render(15)
    x0, y0, x1, y1 = first.driver_face_box
    assert abs((x1 - x0) - (y1 - y0)) < 1e-6                 # square, like the crop
    assert later.driver_face_box == first.driver_face_box    # held still: the head moves in it
    points = first.driver_points
    assert (points >= (x0, y0)).all() and (points <= (x1, y1)).all()
    # The face fills the same share of the close-up as the portrait's face its crop.
    extent = (points.max(axis=0) - points.min(axis=0)).max() / (x1 - x0)
    assert abs(extent - 1 / CROP_SCALE) < 0.08


def test_extra_views_reach_the_animator(session, tmp_path, no_face_png):
    mirrored = samples.write_mirrored_astronaut(tmp_path / "mirrored.png")
    views = session.add_extra_view(mirrored)
    assert [v.path for v in views] == [mirrored]
    assert views[0].thumbnail.shape == (pv.VIEW_THUMBNAIL_SIDE,) * 2 + (3,)
    frame = session.render(5)
    assert len(session.animator.references) == 1
    assert frame.view_weights.shape == (2,) and abs(frame.view_weights.sum() - 1) < 1e-6
    assert len(session.add_extra_view(mirrored)) == 1         # listed already: no change
    with pytest.raises(NoFaceFound, match="not added"):
        session.add_extra_view(no_face_png)
    assert [v.path for v in session.extra_views] == [mirrored]
    session.set_size(512)                                      # aligned again to the new crop
    session.render(5)
    assert session.animator.references[0].crop.shape == (512, 512, 3)
    session.set_size(256)
    assert session.remove_extra_view(mirrored) == ()
    assert session.render(5).view_weights is None and session.animator.references == []


def test_another_portrait_drops_the_views(identity_model, astronaut_path, hopper_path,
                                          tmp_path):
    session = pv.PreviewSession()
    try:
        session.load_generator(RenderSettings(model_path=identity_model))
        with pytest.raises(StudioError, match="portrait"):
            session.add_extra_view(astronaut_path)             # no portrait yet
        session.load_portrait(astronaut_path)
        session.add_extra_view(samples.write_mirrored_astronaut(tmp_path / "m.png"))
        session.load_portrait(astronaut_path)                  # the same one again: kept
        assert len(session.extra_views) == 1
        session.load_portrait(hopper_path)                     # another face
        assert session.extra_views == ()
    finally:
        session.close()


def test_no_face_portrait_is_shown_with_problem(identity_model, tmp_path):
    session = pv.PreviewSession()
    session.load_generator(RenderSettings(model_path=identity_model))
    view = session.load_portrait(samples.write_no_face_image(tmp_path / "flat.png"))
    assert view.prepared is None and view.points is None
    assert "No face was found" in str(view.problem)
    assert view.image.shape == (256, 256, 3)
    session.close()


def test_webcam_from_stand_in_file(clip):
    camera = pv.WebcamDriver(pv.CameraInfo(str(clip), "Stand-in"))
    try:
        assert camera.meta.is_live and camera.meta.fps == 25.0
        first = camera.latest(0, timeout=2)
        second = camera.latest(first[0], timeout=2)
        assert second[0] > first[0] and second[1].shape == (256, 256, 3)
    finally:
        camera.close()


def test_webcam_that_does_not_open(tmp_path):
    with pytest.raises(NoCameraFound, match="could not be opened"):
        pv.WebcamDriver(pv.CameraInfo(str(tmp_path / "none.mp4"), "Nothing"))


def test_linux_camera_names(tmp_path):
    for node, name, index in (("video0", "Integrated Camera", "0"),
                              ("video1", "Integrated Camera", "1"),   # metadata node
                              ("video2", "USB Cam", "0")):
        folder = tmp_path / node
        folder.mkdir()
        (folder / "name").write_text(name + "\n")
        (folder / "index").write_text(index + "\n")
    cameras = pv._linux_cameras(tmp_path)
    assert [(c.device, c.name) for c in cameras] == [
        (0, "Integrated Camera (/dev/video0)"), (2, "USB Cam (/dev/video2)")]
    assert pv._linux_cameras(tmp_path / "missing") == []


def test_preview_and_export_pick_the_same_automatic_neutral_frame(tmp_path):
    """The preview's reference pose must be the export's: a driver whose most neutral
    frame comes after its first 3 s (the face squashed, as if nodding, for 3.2 s, then
    as photographed for longer, so that is the typical pose) gets that frame in both.
    They once searched different windows (3 s and 10 s)."""
    import cv2

    from talkinghead_studio.config import MotionSettings
    from talkinghead_studio.core.driver import iter_driver_landmarks, neutral_head
    from talkinghead_studio.core.video import AtomicVideoWriter

    path = tmp_path / "late_neutral.mp4"
    plain = next(samples.driver_frames(1, 256))
    squashed = cv2.warpAffine(plain, np.float32([[1, 0, 0], [0, 0.8, 26]]), (256, 256),
                              borderMode=cv2.BORDER_REFLECT)
    with AtomicVideoWriter(path, (256, 256), 25.0, crf=18) as writer:
        for index in range(200):
            writer.write(squashed if index < 80 else plain)
    _, (_, export_points, _, _) = neutral_head(iter_driver_landmarks(path), MotionSettings(),
                                               25.0)
    driver = pv.VideoDriver(path)
    try:
        driver.tracker.join(timeout=120)
        preview_frame = driver.auto_neutral()
        known, preview_points = driver.cache.get(preview_frame)
    finally:
        driver.close()
    assert preview_frame >= 80
    assert known and np.abs(preview_points - export_points).max() < 1e-3


def test_preview_finishes_frames_like_the_export(shipped_model, astronaut_path, clip):
    """With the shipped generator the preview finishes frames straight into the portrait
    as a render does (no crop is made), so preview and export look alike; the face
    close-up is then cut from the frame and shows what the generated crop shows."""
    session = pv.PreviewSession()
    try:
        session.load_generator(RenderSettings(model_path=shipped_model))
        view = session.load_portrait(astronaut_path)
        assert view.scale == 1.0                   # shown at its own size: comparable
        session.set_driver(pv.open_driver(clip))
        session.set_motion(MotionSettings(smoothing=0.0))   # the same target twice
        session.use_as_neutral(0)
        frame = session.render(8)
        assert frame.crop is None and frame.crop_size == view.prepared.size
        animator = session.animator
        target = animator.target_landmarks(session.driver.landmarks(8, None, session._detect()))
        exported, _ = animator.frame_with(target, None)
        assert np.abs(frame.result.astype(int) - exported.astype(int)).max() <= 2
        close_up = frame.face_close_up()
        generated, _ = animator.generate_with(target, None)
        assert close_up.shape == generated.shape
        assert np.abs(close_up.astype(int) - generated.astype(int)).mean() < 3.0
    finally:
        session.close()


def test_a_portrait_shown_smaller_than_its_size_keeps_the_crop_for_the_close_up(
        shipped_model, astronaut_path, clip, tmp_path):
    """Shown downscaled, a frame finished into the display would leave the close-up less
    detail than the generated crop has: such a portrait's preview keeps the crop path."""
    import cv2

    from talkinghead_studio.core.images import load_portrait

    large = tmp_path / "large.png"
    rgb = load_portrait(astronaut_path).rgb
    cv2.imwrite(str(large), cv2.resize(rgb, None, fx=2.2, fy=2.2,
                                       interpolation=cv2.INTER_CUBIC)[..., ::-1])
    session = pv.PreviewSession()
    try:
        session.load_generator(RenderSettings(size=512, model_path=shipped_model))
        view = session.load_portrait(large)
        assert view.scale < 1.0
        session.set_driver(pv.open_driver(clip))
        session.use_as_neutral(0)
        frame = session.render(4)
        assert session.animator.composes_in_portrait      # the export finishes it in place
        assert frame.crop is not None and frame.face_close_up() is frame.crop
    finally:
        session.close()
