"""Shapes and gradients of E, G and D (and their person-specific forms)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch.nn.utils import parametrize  # noqa: E402

from talkinghead_studio.training.networks import (  # noqa: E402
    Embedder, MetaDiscriminator, MetaGenerator, PersonDiscriminator, PersonGenerator,
    SelfAttention)

from .synthetic import tiny_network  # noqa: E402


def _open_attention(module: torch.nn.Module) -> None:
    """Attention starts as the identity (gamma 0), which hides its convs' gradients."""
    for layer in module.modules():
        if isinstance(layer, SelfAttention):
            torch.nn.init.constant_(layer.gamma, 0.5)


def _assert_all_have_gradients(module: torch.nn.Module) -> None:
    for name, parameter in module.named_parameters():
        assert parameter.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(parameter.grad).all(), f"{name} has a non-finite gradient"
        assert parameter.grad.abs().sum() > 0, f"{name} got a zero gradient"


def test_embedder_averages_k_frames_into_one_embedding():
    net = tiny_network()
    embedder = Embedder(net).eval()  # eval: no power-iteration step between the calls
    x, y = torch.rand(2, 3, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 3, 32, 32) * 2 - 1
    e = embedder(x, y)
    assert e.shape == (2, net.embed_dim) and (e >= 0).all()  # sum pooling, then ReLU
    per_frame = embedder.embed_frames(x.flatten(0, 1), y.flatten(0, 1)).view(2, 3, -1)
    torch.testing.assert_close(e, per_frame.mean(1))


def test_generator_and_embedder_shapes_and_gradients():
    net = tiny_network()
    embedder, generator = Embedder(net), MetaGenerator(net)
    for module in (embedder, generator):
        _open_attention(module)
    x, y = torch.rand(2, 2, 3, 32, 32) * 2 - 1, torch.rand(2, 2, 3, 32, 32) * 2 - 1
    fake = generator(y[:, 0], embedder(x, y))
    assert fake.shape == (2, 3, 32, 32) and fake.abs().max() <= 1
    assert generator.projection.weight.shape == (generator.generator.psi_size, net.embed_dim)
    (fake * torch.randn_like(fake)).sum().backward()
    _assert_all_have_gradients(embedder)
    _assert_all_have_gradients(generator)


def test_discriminator_scores_use_the_video_rows_and_give_gradients():
    net = tiny_network()
    d = MetaDiscriminator(net, num_videos=3)
    _open_attention(d)
    x, y = torch.rand(4, 3, 32, 32) * 2 - 1, torch.rand(4, 3, 32, 32) * 2 - 1
    video = torch.tensor([0, 2, 2, 1])
    d.eval()  # fixed spectral norms, so two calls see the same weights
    scores, features, rows = d(x, y, video)
    assert scores.shape == (4,) and len(features) >= 3
    torch.testing.assert_close(rows, d.W[video])
    v, _ = d.body(x, y)
    torch.testing.assert_close(scores, (v * (d.W[video] + d.w0)).sum(1) + d.b)
    d.train()
    scores, features, _ = d(x, y, video)
    (scores.sum() + sum(f.mean() for f in features)).backward()
    _assert_all_have_gradients(d)


def test_person_networks_train_their_own_psi_and_w():
    net = tiny_network()
    meta_g, meta_d = MetaGenerator(net), MetaDiscriminator(net, 1)
    psi = torch.randn(1, meta_g.generator.psi_size) * 0.1
    person_g = PersonGenerator(meta_g.generator, psi)
    person_d = PersonDiscriminator(meta_d.body, torch.randn(net.embed_dim), meta_d.b)
    y = torch.rand(3, 3, 32, 32) * 2 - 1
    fake = person_g(y)
    scores, _ = person_d(fake, y)
    assert fake.shape == (3, 3, 32, 32) and scores.shape == (3,)
    scores.sum().backward()
    assert person_g.psi.grad is not None and person_g.psi.grad.abs().sum() > 0
    assert person_d.w.grad is not None and person_d.w.grad.abs().sum() > 0


def test_spectral_normalisation_on_every_conv_and_bounded_gain():
    net = tiny_network()
    d = MetaDiscriminator(net, 1)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(parametrize.is_parametrized(m, "weight") for m in convs)
    x = torch.rand(1, 6, 32, 32)
    for _ in range(20):  # power iterations converge in training mode
        d.body(x[:, :3], x[:, 3:])
    d.eval()
    weight = convs[1].weight.detach().flatten(1)
    assert float(torch.linalg.matrix_norm(weight, ord=2)) == pytest.approx(1.0, abs=0.05)
    assert not any(parametrize.is_parametrized(m, "weight")
                   for m in MetaGenerator(tiny_network(spectral_norm=False)).modules())
