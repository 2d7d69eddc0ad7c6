"""Preprocessing and the frame cache (no torch needed)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from talkinghead_studio.errors import InputFileError, NoFaceFound
from talkinghead_studio.training.cache import (
    FrameCache, PreprocessSettings, discover_videos, init_cache, preprocess, select_frames,
    video_name)
from talkinghead_studio.training.errors import TrainingError

from .synthetic import build_cache, synthetic_video


def test_no_videos_found_says_what_layout_is_expected(tmp_path):
    (tmp_path / "notes.txt").write_text("not a video")
    with pytest.raises(InputFileError, match="No videos found.*id/video/utterance.mp4"):
        discover_videos(tmp_path)
    with pytest.raises(InputFileError, match="not found"):
        discover_videos(tmp_path / "missing")


def test_voxceleb_layout_and_plain_folders_are_both_found(tmp_path):
    for rel in ("id001/vidA/00001.mp4", "id001/vidA/00002.MP4", "id002/x/00001.mp4", "loose.mp4"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    (tmp_path / "id002/x/readme.md").write_text("")
    names = [video_name(p, tmp_path) for p in discover_videos(tmp_path)]
    assert names == ["id001/vidA/00001", "id001/vidA/00002", "id002/x/00001", "loose"]


def test_frames_are_spread_over_the_whole_video():
    assert select_frames(100, 10) == list(range(0, 100, 10))
    assert select_frames(5, 10) == [0, 1, 2, 3, 4]
    picked = select_frames(1000, 64)
    assert len(picked) <= 64 and picked[-1] > 900


def test_cache_returns_the_frames_and_landmarks_it_was_given(tmp_path):
    cache = build_cache(tmp_path / "cache", videos=2, frames=5, resolution=32)
    images, marks = synthetic_video(1, 5, 32)
    assert cache.num_videos == 2 and cache.frame_count(1) == 5 and cache.resolution == 32
    frame = cache.frame(1, 3)
    assert frame.shape == (32, 32, 3) and frame.dtype == np.uint8
    assert np.abs(frame.astype(int) - images[3].astype(int)).mean() < 4  # JPEG
    np.testing.assert_allclose(cache.landmarks(1, 3), marks[3], atol=1e-3)  # float16
    with pytest.raises(IndexError):
        cache.frame(1, 5)


def test_a_cache_never_mixes_two_video_lists(tmp_path):
    settings = PreprocessSettings(resolution=32)
    init_cache(tmp_path, tmp_path, ["a", "b"], settings)
    init_cache(tmp_path, tmp_path, ["a", "b"], settings)  # same videos: resume is fine
    with pytest.raises(TrainingError, match="other videos or settings"):
        init_cache(tmp_path, tmp_path, ["a", "c"], settings)


def test_an_interrupted_cache_tells_the_user_to_rerun(tmp_path):
    init_cache(tmp_path, tmp_path, ["a"], PreprocessSettings())
    with pytest.raises(TrainingError, match="run the same `train preprocess`|resumes"):
        FrameCache(tmp_path)
    with pytest.raises(TrainingError, match="not a frame cache"):
        FrameCache(tmp_path / "elsewhere")


def test_preprocess_keeps_faces_skips_faceless_videos_and_resumes(
        tmp_path, moving_face_clip, blank_clip):
    videos = tmp_path / "videos"
    (videos / "id1/v").mkdir(parents=True)
    shutil.copy(moving_face_clip, videos / "id1/v/00001.mp4")
    shutil.copy(blank_clip, videos / "id1/v/00002.mp4")
    settings = PreprocessSettings(resolution=64, max_frames=4, videos_per_shard=1)
    first = preprocess(videos, tmp_path / "cache", settings)
    assert [s.videos for s in first] == [1, 0]
    assert first[1].skipped[0][0] == "id1/v/00002" and "no face" in first[1].skipped[0][1]
    cache = FrameCache(tmp_path / "cache")
    assert cache.names == ["id1/v/00001"] and cache.frame_count(0) == 4
    marks = cache.landmarks(0, 0)
    assert marks.shape == (478, 3) and 0.1 < marks[:, :2].min() and marks[:, :2].max() < 0.9
    again = preprocess(videos, tmp_path / "cache", settings)
    assert all(s.reused for s in again)
    assert json.loads((tmp_path / "cache/cache.json").read_text())["videos"] == 2


def test_preprocess_of_only_faceless_videos_raises_no_face(tmp_path, blank_clip):
    (tmp_path / "videos").mkdir()
    shutil.copy(blank_clip, tmp_path / "videos/blank.mp4")
    with pytest.raises(NoFaceFound, match="No face was found in any of the 1 videos"):
        preprocess(tmp_path / "videos", tmp_path / "cache", PreprocessSettings(max_frames=3))
