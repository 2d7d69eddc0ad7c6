"""Motion tracks: gaps are filled and counted, files round-trip, bad files say why."""
from __future__ import annotations

import numpy as np
import pytest

from talkinghead_studio.core.track import GapFiller, MotionTrack, extract_track, fill_gaps
from talkinghead_studio.errors import InputFileError, NoFaceFound


def ramp_track(count=10):
    points = np.zeros((count, 478, 3), np.float32)
    points[:, :, 0] = np.arange(count, dtype=np.float32)[:, None]
    return points


def test_fill_gaps_interpolates_inside_and_holds_at_ends():
    points = ramp_track()
    detected = np.ones(10, bool)
    detected[[0, 4, 5, 9]] = False
    garbage = points.copy()
    garbage[~detected] = -999
    filled = fill_gaps(garbage, detected)
    assert np.allclose(filled[4:6, 0, 0], [4, 5])       # linear between frames 3 and 6
    assert filled[0, 0, 0] == 1 and filled[9, 0, 0] == 8  # held at the ends


def test_streaming_gap_filler_matches_batch():
    points = ramp_track(12)
    detected = np.ones(12, bool)
    detected[[0, 1, 5, 6, 7, 11]] = False
    filler = GapFiller()
    streamed = {}
    for i in range(12):
        for index, filled, _ in filler.push(i, points[i] if detected[i] else None):
            streamed[index] = filled
    for index, filled, _ in filler.finish():
        streamed[index] = filled
    batch = fill_gaps(points, detected)
    assert sorted(streamed) == list(range(12))
    assert np.allclose(np.stack([streamed[i] for i in range(12)]), batch)
    assert filler.missing == 6


def test_no_detection_at_all_is_an_error():
    with pytest.raises(NoFaceFound):
        fill_gaps(ramp_track(), np.zeros(10, bool))


def test_save_and_load_round_trip(tmp_path):
    track = MotionTrack(ramp_track(), np.ones(10, bool), 30.0, (640, 480), "clip.mp4")
    path = track.save(tmp_path / "motion.npz")
    loaded = MotionTrack.load(path)
    assert np.array_equal(loaded.points, track.points)
    assert loaded.fps == 30.0 and loaded.frame_size == (640, 480)
    assert not list(tmp_path.glob(".*partial*"))        # no temp file left behind


def test_the_camera_motion_round_trips_and_older_tracks_have_none(tmp_path):
    camera = np.tile(np.float32([[1, 0, 0], [0, 1, 0]]), (10, 1, 1))
    camera[:, 0, 2] = np.arange(10)                    # a pan, one pixel a frame
    with_camera = MotionTrack(ramp_track(), np.ones(10, bool), 30.0, (640, 480), camera=camera)
    loaded = MotionTrack.load(with_camera.save(tmp_path / "panning.npz"))
    assert np.array_equal(loaded.camera, camera)
    older = MotionTrack(ramp_track(), np.ones(10, bool), 30.0, (640, 480))
    assert MotionTrack.load(older.save(tmp_path / "older.npz")).camera is None
    wrong = MotionTrack(ramp_track(), np.ones(10, bool), 30.0, (640, 480),
                        camera=camera[:4])
    with pytest.raises(InputFileError, match="wrong layout"):
        MotionTrack.load(wrong.save(tmp_path / "wrong.npz"))


def test_loading_a_foreign_npz_says_what_it_is(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, x=np.zeros(3))
    with pytest.raises(InputFileError, match="not a Talking-Head Studio motion track"):
        MotionTrack.load(path)


def test_extract_track_from_a_real_video(moving_face_clip):
    track = extract_track(moving_face_clip)
    assert len(track) == 20 and track.detected.all()
    # The face drifts right in the image, so its x coordinate decreases... or rather the
    # window moves right over the image, so the face moves left in the clip.
    assert track.points[-1, :, 0].mean() < track.points[0, :, 0].mean() - 5


def test_extract_track_with_no_face_anywhere(blank_clip):
    with pytest.raises(NoFaceFound, match="No face was found in any frame"):
        extract_track(blank_clip)
