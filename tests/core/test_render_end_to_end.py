"""A real render of the shipped sample: the output plays, every frame has a face, and the
mouth and head follow the driver."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from talkinghead_studio.config import MotionSettings, RenderSettings
from talkinghead_studio.core import face_regions as fr
from talkinghead_studio.core.images import load_portrait
from talkinghead_studio.core.pipeline import RenderJob, render
from talkinghead_studio.core.track import detect_stream
from talkinghead_studio.core.video import iter_frames, probe_video

FRAMES = 60


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, shipped_model, astronaut_path, sample_driver):
    out = tmp_path_factory.mktemp("e2e") / "astronaut.mp4"
    # Neutral = the driver's frame 0, so output frame 0 is the portrait's own pose.
    result = render(RenderJob(astronaut_path, sample_driver, out,
                              motion=MotionSettings(neutral="first"),
                              render=RenderSettings(size=256, max_frames=FRAMES)))
    return result, out


def landmarks(video: Path, limit: int) -> list:
    frames = (f for i, f in zip(range(limit), iter_frames(video)))
    return [points for points, _ in detect_stream(frames)]


def test_output_plays_with_frames_fps_size_and_audio(rendered, astronaut_path):
    result, out = rendered
    info = probe_video(out)
    assert result.frames == FRAMES and len(list(iter_frames(out))) == FRAMES
    assert info.fps == pytest.approx(25.0)
    assert info.size == load_portrait(astronaut_path).rgb.shape[1::-1]
    assert info.has_audio


def test_face_found_in_every_output_frame(rendered):
    _, out = rendered
    found = landmarks(out, FRAMES)
    assert all(points is not None for points in found)


def test_mouth_and_head_follow_the_driver(rendered, sample_driver):
    _, out = rendered
    driver = landmarks(sample_driver, FRAMES)
    output = landmarks(out, FRAMES)
    driver_mar = np.array([fr.mouth_aspect_ratio(p) for p in driver])
    output_mar = np.array([fr.mouth_aspect_ratio(p) for p in output])
    assert driver_mar.std() > 0.05                      # the sample really talks
    assert np.corrcoef(driver_mar, output_mar)[0, 1] > 0.8
    # Head turns: the nose's left-right position between the cheeks moves together.
    driver_yaw = np.array([fr.yaw_pitch_proxies(p)[0] for p in driver])
    output_yaw = np.array([fr.yaw_pitch_proxies(p)[0] for p in output])
    assert np.corrcoef(driver_yaw, output_yaw)[0, 1] > 0.7


def test_identity_holds_in_a_neutral_frame(rendered, astronaut_path):
    """Frame 0 is the driver's neutral frame: the face region stays close to the portrait
    (the budget covers the 256 px working size, H.264 and the watermark)."""
    _, out = rendered
    first = next(iter_frames(out)).astype(int)
    portrait = load_portrait(astronaut_path).rgb.astype(int)
    face = np.s_[60:260, 150:330]        # the astronaut's face and hair
    assert np.abs(first[face] - portrait[face]).mean() < 6.0   # measured 4.2
