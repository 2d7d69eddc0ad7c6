"""Few-shot fine-tuning: the person-specific start, the fine-tuning, the saved model."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from talkinghead_studio.errors import NoFaceFound  # noqa: E402
from talkinghead_studio.training import finetune as ft  # noqa: E402
from talkinghead_studio.training import runtime  # noqa: E402
from talkinghead_studio.training.config import FinetuneConfig, LossConfig, MetaConfig  # noqa: E402
from talkinghead_studio.training.meta import MetaTrainer  # noqa: E402
from talkinghead_studio.training.networks import (  # noqa: E402
    Embedder, MetaDiscriminator, MetaGenerator, to_net)
from talkinghead_studio.training.rasterize import LandmarkRasterizer  # noqa: E402

from .synthetic import synthetic_video, tiny_network  # noqa: E402

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _meta_state() -> dict:
    info = runtime.DistInfo(0, 1, 0, CPU)
    return MetaTrainer(tiny_network(), LossConfig(), MetaConfig(), ["a", "b"], info).state_dict()


def _images(count: int = 2) -> ft.PersonImages:
    frames, marks = synthetic_video(3, count, 32)
    return ft.person_images_from_arrays(frames, marks, tuple(f"f{i}" for i in range(count)))


def test_the_start_is_psi_equal_p_e_hat_and_w_equal_w0_plus_e_hat():
    state, images = _meta_state(), _images(3)
    models = ft.init_from_meta(state, images, CPU)
    net = tiny_network()
    embedder, generator, d = Embedder(net).eval(), MetaGenerator(net), MetaDiscriminator(net, 2)
    embedder.load_state_dict(state["embedder"])
    generator.load_state_dict(state["generator"])
    d.load_state_dict(state["discriminator"])
    with torch.no_grad():
        y = to_net(LandmarkRasterizer(32, net.line_sigma_px)(images.landmarks))
        per_image = embedder.embed_frames(to_net(images.crops), y)
        e_hat = per_image.mean(0, keepdim=True)
        torch.testing.assert_close(models.e_hat, e_hat)
        torch.testing.assert_close(models.generator.psi, generator.projection(e_hat))
        torch.testing.assert_close(models.discriminator.w, d.w0 + e_hat[0])
        torch.testing.assert_close(models.discriminator.b, d.b)


def test_fine_tuning_fits_the_given_images():
    images = _images(2)
    models = ft.init_from_meta(_meta_state(), images, CPU)
    before = ft.render(models.generator, images.landmarks, models.net)
    cfg = FinetuneConfig(steps=25, lr_g=2e-3, lr_d=2e-3, amp="off")
    tuner = ft.FewShotTuner(models, images, LossConfig(), cfg, CPU)
    seen = []
    tuner.run(lambda step, logs: seen.append(step))
    after = ft.render(models.generator, images.landmarks, models.net)
    error_before = (before - images.crops).abs().mean()
    error_after = (after - images.crops).abs().mean()
    assert seen == list(range(1, 26))
    assert error_after < 0.7 * error_before


def test_random_start_builds_the_same_kind_of_pair():
    models = ft.init_random(tiny_network(), _images(1), seed=3, device=CPU)
    again = ft.init_random(tiny_network(), _images(1), seed=3, device=CPU)
    torch.testing.assert_close(models.generator.psi, again.generator.psi)
    assert models.discriminator.w.shape == (tiny_network().embed_dim,)


def test_saved_person_model_renders_the_same(tmp_path):
    images = _images(2)
    models = ft.init_from_meta(_meta_state(), images, CPU)
    path = ft.save_person(tmp_path / "alice.pt", models, "Alice", images, steps=0)
    generator, net, state = ft.load_person_generator(path)
    assert state["name"] == "Alice" and state["sources"] == ["f0", "f1"] and net == models.net
    np.testing.assert_allclose(state["landmarks"].numpy(), images.landmarks.numpy())
    torch.testing.assert_close(ft.render(generator, images.landmarks, net),
                               ft.render(models.generator, images.landmarks, net))


def test_person_images_are_cropped_as_the_app_crops_portraits(astronaut_path, tmp_path):
    from talkinghead_studio.core.images import load_portrait
    from talkinghead_studio.core.portrait import prepare_portrait

    images = ft.load_person_images([astronaut_path], 64)
    app = prepare_portrait(load_portrait(astronaut_path), 64, with_matte=False)
    assert images.crops.shape == (1, 3, 64, 64) and images.sources == ("astronaut.png",)
    np.testing.assert_allclose(images.landmarks[0].numpy(), app.crop_points, atol=1e-6)
    np.testing.assert_allclose(images.crops[0].permute(1, 2, 0).numpy() * 255, app.crop,
                               atol=0.01)
    blank = tmp_path / "wall.png"
    import cv2
    cv2.imwrite(str(blank), np.full((128, 128, 3), 200, np.uint8))
    with pytest.raises(NoFaceFound, match="wall.png"):
        ft.load_person_images([astronaut_path, blank], 64)
