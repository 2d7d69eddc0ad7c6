"""The command line: every bad input gives one line on stderr and a non-zero exit."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args, timeout=180):
    result = subprocess.run([sys.executable, "-m", "talkinghead_studio", *map(str, args)],
                            capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    return result.returncode, result.stdout, result.stderr


def assert_one_line_error(code, stderr, fragment):
    assert code != 0
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert "Traceback" not in stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]


@pytest.fixture
def render_args(identity_model):
    return ["--model", identity_model, "--quiet", "--size", "256"]


def test_missing_portrait(tmp_path, moving_face_clip, render_args):
    code, _, err = run_cli("render", tmp_path / "nope.png", moving_face_clip, "-o",
                           tmp_path / "o.mp4", *render_args)
    assert_one_line_error(code, err, "Portrait not found")


def test_portrait_that_is_not_an_image(tmp_path, moving_face_clip, render_args):
    fake = tmp_path / "fake.jpg"
    fake.write_text("hello")
    code, _, err = run_cli("render", fake, moving_face_clip, "-o", tmp_path / "o.mp4",
                           *render_args)
    assert_one_line_error(code, err, "not an image")


def test_driver_that_is_not_a_video(tmp_path, astronaut_path, render_args):
    fake = tmp_path / "clip.mp4"
    fake.write_bytes(b"\x00" * 5000)
    code, _, err = run_cli("render", astronaut_path, fake, "-o", tmp_path / "o.mp4",
                           *render_args)
    assert_one_line_error(code, err, "not a video")


def test_truncated_driver_renders_what_it_has(tmp_path, astronaut_path, moving_face_clip,
                                              render_args):
    cut = tmp_path / "cut.mp4"
    data = moving_face_clip.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    code, out, err = run_cli("render", astronaut_path, cut, "-o", tmp_path / "o.mp4",
                             *render_args)
    # Either it renders the decodable part, or it says the file is damaged: never a trace.
    assert "Traceback" not in err
    if code == 0:
        assert (tmp_path / "o.mp4").exists()
    else:
        assert_one_line_error(code, err, "damaged")


def test_portrait_without_face(tmp_path, moving_face_clip, render_args):
    flat = tmp_path / "wall.png"
    Image.new("RGB", (300, 300), (180, 170, 160)).save(flat)
    code, _, err = run_cli("render", flat, moving_face_clip, "-o", tmp_path / "o.mp4",
                           *render_args)
    assert_one_line_error(code, err, "No face was found in the portrait")


def test_driver_without_face(tmp_path, astronaut_path, blank_clip, render_args):
    code, _, err = run_cli("render", astronaut_path, blank_clip, "-o", tmp_path / "o.mp4",
                           *render_args)
    assert_one_line_error(code, err, "No face was found in any frame")
    assert not (tmp_path / "o.mp4").exists()


def test_unwritable_output_folder(tmp_path, astronaut_path, moving_face_clip, render_args):
    code, _, err = run_cli("render", astronaut_path, moving_face_clip, "-o",
                           tmp_path / "missing" / "o.mp4", *render_args)
    assert_one_line_error(code, err, "does not exist")
    code, _, err = run_cli("render", astronaut_path, moving_face_clip, "-o",
                           "/proc/o.mp4", *render_args)
    assert_one_line_error(code, err, "Cannot write")


def test_output_equal_to_input(astronaut_path, moving_face_clip, render_args):
    code, _, err = run_cli("render", astronaut_path, moving_face_clip, "-o", astronaut_path,
                           *render_args)
    assert_one_line_error(code, err, "is one of the inputs")


def test_several_faces_take_the_largest_and_say_so(tmp_path, astronaut_path, hopper_path,
                                                   moving_face_clip, render_args):
    big = np.asarray(Image.open(astronaut_path).convert("RGB"))
    small = np.asarray(Image.open(hopper_path).convert("RGB").resize((256, 300)))
    canvas = np.full((512, 800, 3), 200, np.uint8)
    canvas[:, :512] = big
    canvas[100:400, 530:786] = small
    group = tmp_path / "group.png"
    Image.fromarray(canvas).save(group)
    code, out, err = run_cli("render", group, moving_face_clip, "-o", tmp_path / "o.mp4",
                             *render_args)
    assert code == 0, err
    assert "2 faces found" in err and "largest" in err


def test_track_then_render_from_track(tmp_path, astronaut_path, moving_face_clip,
                                      render_args):
    code, out, err = run_cli("track", moving_face_clip, "-o", tmp_path / "m.npz", "--quiet")
    assert code == 0, err
    assert "20 frames" in out
    code, out, err = run_cli("render", astronaut_path, tmp_path / "m.npz", "-o",
                             tmp_path / "o.mp4", *render_args)
    assert code == 0, err
    assert (tmp_path / "o.mp4").exists()


def test_a_recorded_track_keeps_the_camera_for_camera_follow(tmp_path, panning_clip,
                                                             render_args):
    from talkinghead_studio.core.video import iter_frames
    from tests.conftest import background_shift

    clip, first = panning_clip
    code, _, err = run_cli("track", clip, "-o", tmp_path / "pan.npz", "--quiet")
    assert code == 0, err
    shifts = {}
    for mode in ("fixed", "follow"):
        out = tmp_path / f"{mode}.mp4"
        code, _, err = run_cli("render", first, tmp_path / "pan.npz", "-o", out,
                               "--neutral", "first", "--camera", mode, *render_args)
        assert code == 0, err
        frames = list(iter_frames(out))
        shifts[mode] = background_shift(frames[0], frames[-1])
    driver = list(iter_frames(clip))
    assert abs(shifts["fixed"]) < 0.5
    assert shifts["follow"] == pytest.approx(background_shift(driver[0], driver[-1]), abs=1.0)


def test_our_warnings_reach_the_terminal(tmp_path, astronaut_path, render_args):
    """A track recorded before tracks kept the camera cannot be followed: the render
    goes on with a fixed camera and says so (our warnings once went to /dev/null with
    the libraries' native chatter)."""
    from talkinghead_studio.core.track import MotionTrack

    points = np.zeros((5, 478, 3), np.float32)
    points[..., :2] = np.random.default_rng(0).uniform(100, 300, (478, 2))
    MotionTrack(points, np.ones(5, bool), 25.0, (512, 512)).save(tmp_path / "old.npz")
    code, _, err = run_cli("render", astronaut_path, tmp_path / "old.npz", "-o",
                           tmp_path / "o.mp4", "--camera", "steady", *render_args)
    assert code == 0, err
    assert "recorded without its camera motion" in err and "Traceback" not in err


def test_app_without_a_display_says_so_instead_of_crashing():
    import os

    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([sys.executable, "-m", "talkinghead_studio"], capture_output=True,
                            text=True, cwd=ROOT, timeout=60, env=env)
    assert_one_line_error(result.returncode, result.stderr, "No display found")


def test_a_broken_model_is_one_line_and_input_errors_still_come_first(
        tmp_path, astronaut_path, moving_face_clip):
    """The CLI opens the generator on a thread while it imports the rest; its errors
    must still reach the user as one line, and only after the inputs were checked."""
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x01not a model" * 20)
    code, _, err = run_cli("render", astronaut_path, moving_face_clip, "-o",
                           tmp_path / "o.mp4", "--model", broken, "--quiet")
    assert_one_line_error(code, err, "broken.onnx")
    assert not (tmp_path / "o.mp4").exists()
    code, _, err = run_cli("render", tmp_path / "nope.png", moving_face_clip, "-o",
                           tmp_path / "o.mp4", "--model", broken, "--quiet")
    assert_one_line_error(code, err, "Portrait not found")


def test_the_render_uses_the_driver_the_cli_started(tmp_path, astronaut_path,
                                                    moving_face_clip, render_args,
                                                    monkeypatch):
    """The CLI starts the driver (probe + tracking of its first seconds) before its own
    imports; if the render did not recognise that start as its own, it would quietly
    track the driver a second time."""
    from talkinghead_studio import cli
    from talkinghead_studio.core import driver

    started, abandoned = [], []
    real_start = driver.start_driver

    def start(*args):
        started.append(args)
        return real_start(*args)

    monkeypatch.setattr(driver, "start_driver", start)
    monkeypatch.setattr(driver.DriverStart, "abandon", lambda self: abandoned.append(self))
    for extra in ([], ["--max-frames", "7", "--neutral", "first"]):
        out = tmp_path / f"o{len(extra)}.mp4"
        assert cli.main(["render", str(astronaut_path), str(moving_face_clip), "-o",
                         str(out), *map(str, render_args), *extra]) == 0
        assert out.exists()
    assert len(started) == 2 and not abandoned
