"""Meta-learning: losses fall on tiny data; checkpoints resume to the identical step."""
from __future__ import annotations


import pytest

torch = pytest.importorskip("torch")

from talkinghead_studio.training import runtime  # noqa: E402
from talkinghead_studio.training.config import LossConfig, MetaConfig  # noqa: E402
from talkinghead_studio.training.episodes import EpisodeBatches, select_videos  # noqa: E402
from talkinghead_studio.training.errors import TrainingError  # noqa: E402
from talkinghead_studio.training.meta import (  # noqa: E402
    MetaRun, MetaTrainer, load_meta_checkpoint, run_meta)

from .synthetic import build_cache, tiny_network  # noqa: E402

CPU = runtime.DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # shared CPUs; also makes float sums reproducible
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return build_cache(tmp_path_factory.mktemp("cache"), videos=3, frames=6)


def _trainer(cache, **meta) -> tuple[MetaTrainer, EpisodeBatches]:
    settings = MetaConfig(**{"k": 2, "batch_size": 3, "workers": 0, **meta})
    videos = select_videos(cache)
    trainer = MetaTrainer(tiny_network(), LossConfig(), settings,
                          [cache.names[i] for i in videos], CPU)
    return trainer, EpisodeBatches(cache, videos, settings.k, settings.batch_size, 32,
                                   settings.seed)


def test_episodes_are_k_plus_one_frames_and_depend_only_on_the_step(cache):
    _, episodes = _trainer(cache)
    batch = episodes[7]
    assert batch["frames"].shape == (3, 3, 3, 32, 32) and batch["frames"].dtype == torch.uint8
    assert batch["landmarks"].shape == (3, 3, 478, 3)
    assert sorted(batch["video"].tolist()) == [0, 1, 2]  # distinct videos when possible
    again = episodes[7]
    assert all(torch.equal(batch[k], again[k]) for k in batch)
    assert not torch.equal(episodes[8]["frames"], batch["frames"])


def test_a_few_steps_on_tiny_data_lower_the_losses(cache):
    trainer, episodes = _trainer(cache, lr_g=2e-3, lr_d=2e-3)
    history = [trainer.train_step(episodes[step]) for step in range(30)]
    content = [float(h["g_content"]) for h in history]
    match = [float(h["g_mch"]) for h in history]
    assert sum(content[-5:]) / 5 < 0.8 * sum(content[:3]) / 3
    assert sum(match[-5:]) / 5 < 0.5 * sum(match[:3]) / 3
    assert trainer.step == 30


def _parameters(trainer: MetaTrainer) -> dict[str, torch.Tensor]:
    modules = {"e": trainer.embedder, "g": trainer.generator, "d": trainer.discriminator}
    return {f"{k}.{n}": t.detach().clone() for k, m in modules.items()
            for n, t in m.state_dict().items()}


def test_saved_and_resumed_checkpoint_gives_an_identical_next_step(cache, tmp_path):
    first, episodes = _trainer(cache)
    for step in range(2):
        first.train_step(episodes[step])
    runtime.atomic_save(first.state_dict(), tmp_path / "ckpt.pt")
    logs_a = first.train_step(episodes[2])
    second, _ = _trainer(cache, seed=99)  # different initial weights, then overwritten
    second.load_state_dict(load_meta_checkpoint(tmp_path / "ckpt.pt"))
    assert second.step == 2
    logs_b = second.train_step(episodes[2])
    a, b = _parameters(first), _parameters(second)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert all(torch.equal(logs_a[k], logs_b[k]) for k in logs_a)


def test_run_meta_resume_matches_an_uninterrupted_run(cache, tmp_path):
    net, loss = tiny_network(), LossConfig()
    meta = MetaConfig(k=2, batch_size=2, steps=3, workers=0, save_every=1, log_every=1)
    whole = run_meta(MetaRun(cache.cache_dir, tmp_path / "whole", device="cpu"), net, loss, meta)
    halves = MetaRun(cache.cache_dir, tmp_path / "halves", device="cpu")
    run_meta(halves, net, loss, MetaConfig(**{**meta.__dict__, "steps": 2}))
    with pytest.raises(TrainingError, match="--resume"):
        run_meta(halves, net, loss, meta)
    resumed = run_meta(MetaRun(cache.cache_dir, tmp_path / "halves", resume=True,
                               device="cpu"), net, loss, meta)
    a, b = load_meta_checkpoint(whole), load_meta_checkpoint(resumed)
    assert a["step"] == b["step"] == 3
    for part in ("embedder", "generator", "discriminator"):
        for key, value in a[part].items():
            assert torch.equal(value, b[part][key]), f"{part}.{key}"
    rows = (tmp_path / "halves/log.csv").read_text().splitlines()
    assert rows[0].startswith("step,") and [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]


def test_held_out_videos_get_no_row_in_the_discriminator(cache, tmp_path):
    run = MetaRun(cache.cache_dir, tmp_path / "run", exclude=("person1",), device="cpu")
    meta = MetaConfig(k=2, batch_size=2, steps=1, workers=0)
    state = load_meta_checkpoint(run_meta(run, tiny_network(), LossConfig(), meta))
    assert state["video_names"] == ["person0/clip/00001", "person2/clip/00001"]
    assert state["discriminator"]["W"].shape[0] == 2
    assert select_videos(cache, exclude=("person0/clip/00001", "person2/")) == [1]
    assert select_videos(cache, exclude=("person", "00001")) == [0, 1, 2]  # whole parts only
    with pytest.raises(TrainingError, match="No videos left"):
        select_videos(cache, exclude=tuple(cache.names))


def test_resuming_with_other_videos_is_refused(cache, tmp_path):
    meta = MetaConfig(k=2, batch_size=2, steps=1, workers=0)
    run_meta(MetaRun(cache.cache_dir, tmp_path / "run", device="cpu"), tiny_network(),
             LossConfig(), meta)
    with pytest.raises(TrainingError, match="other videos"):
        run_meta(MetaRun(cache.cache_dir, tmp_path / "run", exclude=("person2",), resume=True,
                         device="cpu"), tiny_network(), LossConfig(),
                 MetaConfig(**{**meta.__dict__, "steps": 2}))
