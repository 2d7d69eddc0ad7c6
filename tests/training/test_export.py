"""ONNX export of a fine-tuned generator: contract, parity, and a render by the app."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from talkinghead_studio.inference.contract import REQUIRED_INPUTS  # noqa: E402
from talkinghead_studio.inference.session import OnnxGenerator, SessionOptions  # noqa: E402
from talkinghead_studio.training.export import export_onnx, parity  # noqa: E402
from talkinghead_studio.training.networks import MetaGenerator, PersonGenerator  # noqa: E402

from .synthetic import template, tiny_network  # noqa: E402


@pytest.fixture(scope="module")
def person():
    torch.manual_seed(0)
    net = tiny_network()
    generator = PersonGenerator(MetaGenerator(net).generator,
                                torch.randn(1, MetaGenerator(net).generator.psi_size) * 0.3)
    y = torch.rand(2, 3, 32, 32)
    for _ in range(3):  # move the spectral-norm vectors off their initial values
        generator(y)
    return generator, net


@pytest.fixture(scope="module")
def exported(person, tmp_path_factory) -> Path:
    generator, net = person
    return export_onnx(generator, net, tmp_path_factory.mktemp("onnx") / "tiny.onnx", "Tiny")


def _landmark_sets(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [template() + np.array([*rng.uniform(-0.1, 0.1, 2), 0], np.float32)
            for _ in range(count)]


def test_export_follows_the_contract(exported):
    model = OnnxGenerator(exported, SessionOptions(provider="cpu"))  # the app's loader
    assert set(model.info.inputs) == set(REQUIRED_INPUTS)
    assert model.info.outputs == ("image",) and model.info.resolutions == (32,)
    assert model.info.kind == "neural-fewshot" and model.info.name == "Tiny"
    assert not [p for p in exported.parent.iterdir() if p.name.endswith(".tmp")]


def test_onnxruntime_matches_torch(exported, person):
    generator, net = person
    assert parity(exported, generator, net, _landmark_sets(3)) < 1e-4


def test_output_follows_driving_landmarks_and_ignores_the_source_inputs(exported):
    model = OnnxGenerator(exported, SessionOptions(provider="cpu"))
    marks = _landmark_sets(2)
    feeds = {"source_image": np.zeros((1, 3, 32, 32), np.float32),
             "source_landmarks": marks[0][None], "driving_landmarks": marks[0][None]}
    first = model.animate(feeds)["image"]
    assert first.shape == (1, 3, 32, 32) and 0 <= first.min() and first.max() <= 1
    other_source = dict(feeds, source_image=np.ones((1, 3, 32, 32), np.float32),
                        source_landmarks=marks[1][None])
    np.testing.assert_array_equal(model.animate(other_source)["image"], first)
    moved = model.animate(dict(feeds, driving_landmarks=marks[1][None]))["image"]
    assert np.abs(moved - first).mean() > 1e-3


def test_exported_model_renders_a_clip_through_the_core_engine(
        exported, tmp_path, astronaut_path, moving_face_clip):
    from talkinghead_studio.config import ExportSettings, RenderSettings
    from talkinghead_studio.core.images import load_portrait
    from talkinghead_studio.core.pipeline import RenderJob, render
    from talkinghead_studio.core.portrait import prepare_portrait
    from talkinghead_studio.core.video import iter_frames

    out = tmp_path / "clip.mp4"
    job = RenderJob(astronaut_path, moving_face_clip, out,
                    render=RenderSettings(size=32, provider="cpu", model_path=exported),
                    export=ExportSettings(watermark=False, keep_audio=False))
    result = render(job)
    frames = list(iter_frames(out))
    portrait = load_portrait(astronaut_path).rgb
    assert result.frames == len(frames) == 20 and frames[0].shape == portrait.shape
    x0, y0, x1, y1 = prepare_portrait(load_portrait(astronaut_path), 32,
                                      with_matte=False).box.int_bounds(portrait.shape)
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    face = [np.abs(f[cy - 20:cy + 20, cx - 20:cx + 20].astype(int)
                   - portrait[cy - 20:cy + 20, cx - 20:cx + 20]).mean() for f in frames]
    corner = np.abs(frames[5][:24, :24].astype(int) - portrait[:24, :24]).mean()
    assert min(face) > 10   # the untrained generator's output replaced the face
    assert corner < 4       # outside the crop the portrait is untouched


@pytest.mark.slow
def test_torch_export_exporter_is_the_fallback(person, tmp_path, monkeypatch):
    from talkinghead_studio.training import export

    def gone(*args, **kwargs):
        raise RuntimeError("TorchScript exporter removed")

    monkeypatch.setattr(export, "_export_torchscript", gone)
    generator, net = person
    path = export_onnx(generator, net, tmp_path / "dynamo.onnx", "Tiny")
    assert set(OnnxGenerator(path, SessionOptions(provider="cpu")).info.inputs) == set(
        REQUIRED_INPUTS)
    assert parity(path, generator, net, _landmark_sets(2)) < 1e-4
