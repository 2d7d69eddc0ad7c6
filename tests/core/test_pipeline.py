"""The streaming render, end to end, with a contract-conforming test generator.

These tests check the plumbing (frame count, fps, size, audio, atomic writes, cancel);
tests/core/test_render_quality.py checks what the shipped generator makes of faces.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from talkinghead_studio.config import ExportSettings, MotionSettings, RenderSettings
from talkinghead_studio.core.images import load_portrait
from talkinghead_studio.core.pipeline import RenderJob, render
from talkinghead_studio.core.video import iter_frames, probe_video
from talkinghead_studio.errors import NoFaceFound, OutputPathError, RenderCancelled


def job_for(portrait, driver, output, model, **export):
    return RenderJob(Path(portrait), Path(driver), Path(output),
                     motion=MotionSettings(),
                     render=RenderSettings(size=256, model_path=model),
                     export=ExportSettings(**export))


def test_mp4_has_driver_frames_fps_audio_and_portrait_size(tmp_path, astronaut_path,
                                                           moving_face_clip, identity_model):
    out = tmp_path / "out.mp4"
    result = render(job_for(astronaut_path, moving_face_clip, out, identity_model))
    info = probe_video(out)
    assert result.frames == 20 and result.missing_driver_faces == 0
    assert info.fps == pytest.approx(25.0)
    assert info.size == (512, 512)                       # the portrait's own size
    assert info.has_audio                                # the driver's tone was muxed in
    frames = list(iter_frames(out))
    assert len(frames) == 20
    assert info.duration <= 20 / 25 + 0.05              # no audio running past the video
    # The identity generator returns the crop unchanged: the output is the portrait.
    portrait = load_portrait(astronaut_path).rgb
    # H.264 + the invisible watermark (about 2 grey levels RMS) cost a few levels.
    assert np.abs(frames[0].astype(int) - portrait.astype(int)).mean() < 4.0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_short_render_with_audio_ends_with_its_video(tmp_path, astronaut_path, sample_driver,
                                                       shipped_model):
    """ffmpeg encodes the driver's audio ahead of the piped frames; for a short render it
    used to run ~0.9 s past the last frame (12 frames, 0.48 s of video, a 1.39 s file).
    The file is cut to the video, keeping its metadata and signature."""
    from talkinghead_studio.core.provenance import read_metadata
    from talkinghead_studio.core.provenance.signing import check_signature

    out = tmp_path / "short.mp4"
    result = render(RenderJob(astronaut_path, sample_driver, out,
                              motion=MotionSettings(neutral="first"),
                              render=RenderSettings(size=256, max_frames=12)))
    info = probe_video(out)
    assert result.frames == 12 and len(list(iter_frames(out))) == 12
    assert info.has_audio and info.duration <= 12 / 25 + 0.05
    assert read_metadata(out) is not None
    assert check_signature(out).state == "valid"


def test_progress_is_reported(tmp_path, astronaut_path, moving_face_clip, identity_model):
    seen = []
    render(job_for(astronaut_path, moving_face_clip, tmp_path / "o.mp4", identity_model),
           progress=seen.append)
    assert [p.done for p in seen] == list(range(1, 21))
    assert seen[-1].total == 20 and seen[-1].fps > 0


def test_cancel_leaves_no_file_and_keeps_existing_output(tmp_path, astronaut_path,
                                                         moving_face_clip, identity_model):
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"the user's earlier render")
    cancel = threading.Event()

    def cancel_after_five(progress):
        if progress.done >= 5:
            cancel.set()

    with pytest.raises(RenderCancelled):
        render(job_for(astronaut_path, moving_face_clip, out, identity_model),
               progress=cancel_after_five, cancel=cancel)
    assert out.read_bytes() == b"the user's earlier render"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.mp4"]


def test_png_sequence_with_alpha(tmp_path, astronaut_path, moving_face_clip, identity_model):
    from PIL import Image

    out = tmp_path / "frames"
    render(job_for(astronaut_path, moving_face_clip, out, identity_model, format="png"))
    files = sorted(out.glob("*.png"))
    assert len(files) == 20
    with Image.open(files[0]) as first:
        assert first.mode == "RGBA" and first.size == (512, 512)


def test_gif_export(tmp_path, astronaut_path, moving_face_clip, identity_model):
    from PIL import Image

    out = tmp_path / "loop.gif"
    render(job_for(astronaut_path, moving_face_clip, out, identity_model, format="gif"))
    with Image.open(out) as gif:
        assert gif.n_frames == 20


def test_output_equal_to_input_is_refused(tmp_path, astronaut_path, moving_face_clip,
                                          identity_model):
    with pytest.raises(OutputPathError, match="is one of the inputs"):
        render(job_for(astronaut_path, moving_face_clip, moving_face_clip, identity_model))


def test_driver_without_any_face(tmp_path, astronaut_path, blank_clip, identity_model):
    out = tmp_path / "none.mp4"
    with pytest.raises(NoFaceFound, match="No face was found in any frame"):
        render(job_for(astronaut_path, blank_clip, out, identity_model))
    assert not list(tmp_path.iterdir())


def test_motion_track_driver_renders_like_its_video(tmp_path, astronaut_path,
                                                   moving_face_clip, identity_model):
    from talkinghead_studio.core.track import extract_track

    track = extract_track(moving_face_clip).save(tmp_path / "motion.npz")
    result = render(job_for(astronaut_path, track, tmp_path / "t.mp4", identity_model))
    assert result.frames == 20
    assert not probe_video(tmp_path / "t.mp4").has_audio    # tracks carry no audio


def test_a_driver_started_early_is_used_only_for_its_own_settings(
        tmp_path, astronaut_path, moving_face_clip, identity_model):
    """The CLI starts the driver (probe + tracking of the neutral window) before the
    render is set up. A start for other settings is stopped, not used: the render
    still has the job's frame count. A start that failed raises its own error."""
    from concurrent.futures import Future

    from talkinghead_studio.core.driver import start_driver
    from talkinghead_studio.errors import UnreadableVideo

    job = job_for(astronaut_path, moving_face_clip, tmp_path / "a.mp4", identity_model)
    matching = Future()
    matching.set_result(start_driver(moving_face_clip, job.motion, None, 0))
    assert render(job, driver_starting=matching).frames == 20

    other = start_driver(moving_face_clip, job.motion, 5, 0)       # 5 frames, not 20
    stale = Future()
    stale.set_result(other)
    job = job_for(astronaut_path, moving_face_clip, tmp_path / "b.mp4", identity_model)
    assert render(job, driver_starting=stale).frames == 20
    assert other.stop.is_set()

    failed = Future()
    failed.set_exception(UnreadableVideo("the early probe failed"))
    job = job_for(astronaut_path, moving_face_clip, tmp_path / "c.mp4", identity_model)
    with pytest.raises(UnreadableVideo, match="early probe"):
        render(job, driver_starting=failed)
    assert not (tmp_path / "c.mp4").exists()
