"""The mesh warp's sampling companion (models/mesh_warp.sampling.onnx): the app's CPU
path must draw what the contract file draws, and a damaged companion must only cost
speed, never a frame."""
from __future__ import annotations

import logging
import shutil

import cv2
import numpy as np
import pytest

from talkinghead_studio.core.portrait import background_plate, person_matte
from talkinghead_studio.inference import sampling
from talkinghead_studio.inference.session import OnnxGenerator, SessionOptions
from talkinghead_studio.warpgen import samples

CPU = SessionOptions(provider="cpu", intra_op_threads=1)
IN_GRAPH = SessionOptions(provider="cpu", intra_op_threads=1, use_companion=False)


@pytest.fixture(scope="module")
def fast(shipped_model) -> OnnxGenerator:
    return OnnxGenerator(shipped_model, CPU)


@pytest.fixture(scope="module")
def in_graph(shipped_model) -> OnnxGenerator:
    return OnnxGenerator(shipped_model, IN_GRAPH)


def test_cpu_rendering_uses_the_companion_and_opens_the_main_file_only_on_demand(fast):
    assert fast.uses_companion
    assert fast._session is None           # the contract file's session is not needed
    assert fast.info.kind == "mesh-warp" and fast.active_provider == "CPU"


@pytest.mark.parametrize("size,name", [(256, "astronaut"), (512, "hopper")])
@pytest.mark.parametrize("case", ["neutral", "jaw", "blink", "head", "gaze", "all"])
def test_companion_frames_equal_the_contract_files_frames(fast, in_graph, size, name, case):
    """Same picture, real matte and inpainted plate included (so the uncovered-background
    path is exercised when the head moves): OpenCV samples with 1/32-pixel weights, so a
    few levels of difference are allowed, nothing more."""
    crop, lm = samples.portrait(name, size)
    matte = person_matte(crop)
    plate = background_plate(crop, matte)
    feeds = samples.feeds(crop, lm, samples.reference_cases(lm)[case], matte=matte,
                          background=plate)
    image, mask = fast.render(feeds, crop, plate)
    want, want_mask = in_graph.render(feeds, crop, plate)
    diff = np.abs(image.astype(int) - want.astype(int))
    assert diff.mean() < 0.3 and diff.max() <= 4, (diff.mean(), diff.max())
    assert np.abs(mask - want_mask).max() < 1e-4
    if case == "neutral":
        assert np.abs(image[2:-2, 2:-2].astype(int) - crop[2:-2, 2:-2]).max() <= 2


def test_the_shipped_companion_and_its_portrait_stage_are_the_recorded_ones(shipped_model):
    import hashlib

    recorded = dict(reversed(line.split()) for line in
                    (shipped_model.parent / "mesh_warp.onnx.sha256").read_text().splitlines())
    for name in ("mesh_warp.sampling.onnx", "mesh_warp.portrait.onnx"):
        companion = shipped_model.with_name(name)
        assert hashlib.sha256(companion.read_bytes()).hexdigest() == recorded[name]


def test_the_portrait_stage_runs_once_per_portrait_not_once_per_frame(shipped_model):
    """Frames of one portrait reuse its stage outputs; another portrait (an extra view)
    gets its own, and the frames equal a runner that starts afresh each time."""
    generator = OnnxGenerator(shipped_model, CPU)
    runner = generator._companion
    assert runner.stage is not None and len(runner.stage_outputs) > 10
    calls = []
    real_run = runner.stage.run

    class CountingStage:
        def run(self, *args):
            calls.append(1)
            return real_run(*args)

    runner.stage = CountingStage()
    crop, lm = samples.portrait("astronaut", 256)
    other, other_lm = samples.portrait("hopper", 256)
    cases = samples.reference_cases(lm)
    first = samples.feeds(crop, lm, cases["jaw"])
    view = samples.feeds(other, other_lm, cases["jaw"])
    frames = []
    for name in ("jaw", "blink", "head"):
        feeds = dict(first, driving_landmarks=cases[name][None].astype(np.float32))
        frames.append(generator.render(feeds, crop, None)[0])
        generator.render(dict(view, driving_landmarks=cases[name][None].astype(np.float32)),
                         other, None)
    assert len(calls) == 2
    fresh = OnnxGenerator(shipped_model, CPU)
    for name, frame in zip(("jaw", "blink", "head"), frames):
        feeds = {k: v.copy() for k, v in first.items()}
        feeds["driving_landmarks"] = cases[name][None].astype(np.float32)
        assert np.array_equal(fresh.render(feeds, crop, None)[0], frame)


def _copy_model(shipped_model, folder):
    target = folder / shipped_model.name
    shutil.copy(shipped_model, target)
    return target


@pytest.mark.parametrize("damage", ["missing", "garbage", "other_model", "stage_missing",
                                    "stage_garbage", "stage_swapped"])
def test_a_missing_or_broken_companion_falls_back_to_the_contract_file(
        shipped_model, tmp_path, caplog, damage):
    model = _copy_model(shipped_model, tmp_path)
    companion = tmp_path / "mesh_warp.sampling.onnx"
    stage = tmp_path / "mesh_warp.portrait.onnx"
    if damage.startswith("stage"):
        shutil.copy(shipped_model.with_name(companion.name), companion)
        if damage == "stage_garbage":
            stage.write_bytes(b"\x08\x01garbage" * 50)
        elif damage == "stage_swapped":
            shutil.copy(shipped_model.with_name(companion.name), stage)   # not a stage
    elif damage == "garbage":
        companion.write_bytes(b"\x08\x01garbage" * 50)
    elif damage == "other_model":
        shutil.copy(shipped_model, companion)        # a model, but not a companion
    with caplog.at_level(logging.WARNING):
        generator = OnnxGenerator(model, CPU)
    assert not generator.uses_companion
    if damage != "missing":
        assert "sampling companion" in caplog.text
    crop, lm = samples.portrait("astronaut", 256)
    image, mask = generator.render(samples.feeds(crop, lm, lm), crop, None)
    assert np.abs(image[2:-2, 2:-2].astype(int) - crop[2:-2, 2:-2]).max() <= 2


def test_uncovering_blends_only_the_uncovered_box_yet_every_pixel_agrees():
    """The plate is blended in a box around the uncovered cells; the frame must equal a
    full-frame blend, whatever the shape and place of the uncovered area (edges too)."""
    rng = np.random.default_rng(0)
    portrait = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    plate = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    boxes = [(0, 5, 0, 64), (60, 64, 60, 64), (10, 30, 20, 22), (0, 64, 0, 64), (31, 32, 5, 6)]
    for top, bottom, left, right in boxes:
        uncovered = np.zeros((64, 64), np.float32)
        patch = rng.random((bottom - top, right - left)).astype(np.float32)
        uncovered[top:bottom, left:right] = patch * (patch > 0.3)
        weight = cv2.resize(uncovered, (256, 256), interpolation=cv2.INTER_LINEAR)
        expected = cv2.blendLinear(plate, portrait, weight, 1.0 - weight)
        assert np.array_equal(sampling._uncover(portrait, plate, uncovered, 4), expected)
    still = np.zeros((64, 64), np.float32)
    assert sampling._uncover(portrait, plate, still, 4) is portrait


def test_negligible_uncovered_shares_are_skipped_within_one_level():
    """Shares under UNCOVERED_MIN (the matte's soft edge moving a little) are not blended:
    the frame stays within one grey level of the full blend, and a frame with nothing
    else uncovered is the portrait itself."""
    rng = np.random.default_rng(1)
    portrait = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    plate = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    faint = (rng.random((64, 64)) * sampling.UNCOVERED_MIN * 0.99).astype(np.float32)
    assert sampling._uncover(portrait, plate, faint, 4) is portrait
    uncovered = faint.copy()
    uncovered[20:30, 40:50] = 0.8
    weight = cv2.resize(uncovered, (256, 256), interpolation=cv2.INTER_LINEAR)
    full = cv2.blendLinear(plate, portrait, weight, 1.0 - weight)
    assert np.abs(sampling._uncover(portrait, plate, uncovered, 4).astype(int) - full).max() <= 1


def test_the_eye_and_mouth_layer_comes_in_three_tight_windows(fast):
    """One window per opening: the single box around both eyes and the mouth also held
    the nose and cheeks, a quarter of a 512 px frame's generator time."""
    crop, lm = samples.portrait("astronaut", 512)
    feeds = samples.feeds(crop, lm, samples.reference_cases(lm)["all"])
    outputs = fast._companion.run(feeds)
    boxes = outputs["inner_window"]
    assert boxes.shape == (3, 4)
    assert len(outputs["inner_layer"]) == int((boxes[:, 2] * boxes[:, 3]).sum())
    top, left = boxes[:, 0].min(), boxes[:, 1].min()
    bottom, right = (boxes[:, 0] + boxes[:, 2]).max(), (boxes[:, 1] + boxes[:, 3]).max()
    assert (boxes[:, 2] * boxes[:, 3]).sum() < 0.6 * (bottom - top) * (right - left)
