"""Meta-learning (paper section 3.2): E, G and D trained on episodes of K+1 frames.

Per step and per video i: e_i = mean_k E(x_i(s_k), y_i(s_k)); x_hat = G(y_i(t), P e_i).
E and G minimise L_CNT + L_ADV + L_MCH; D then takes ``d_steps`` hinge-loss updates.
L_MCH = |W_i - e_i|_1 pulls e_i towards the fixed W_i in G's step and W_i towards the
fixed e_i in D's step, so each optimiser only moves its own parameters.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from talkinghead_studio.training.cache import FrameCache
from talkinghead_studio.training.config import (
    LossConfig, MetaConfig, NetworkConfig, from_dict, to_dict)
from talkinghead_studio.training.episodes import EpisodeBatches, select_videos
from talkinghead_studio.training.errors import TrainingError
from talkinghead_studio.training.losses import ContentLoss, embedding_match
from talkinghead_studio.training.networks import (
    Embedder, MetaDiscriminator, MetaGenerator, to_net)
from talkinghead_studio.training.objectives import (
    apply_update, discriminator_terms, frozen, generator_terms)
from talkinghead_studio.training.rasterize import LandmarkRasterizer
from talkinghead_studio.training import runtime
from talkinghead_studio.training.samples import save_sample_grid

log = logging.getLogger(__name__)

META_FORMAT = "ths-fewshot-meta-1"
LATEST = "latest.pt"


def _wrap(module: torch.nn.Module, info: runtime.DistInfo) -> torch.nn.Module:
    if info.world_size == 1:
        return module
    ids = [info.device.index] if info.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)


class MetaTrainer:
    """E, G, D, their optimisers and one training step. Plain modules are kept in
    ``embedder``/``generator``/``discriminator``; DDP wrappers (if any) in ``_e``/``_g``/``_d``."""

    def __init__(self, net: NetworkConfig, loss: LossConfig, meta: MetaConfig,
                 video_names: list[str], info: runtime.DistInfo) -> None:
        self.net, self.loss_cfg, self.meta = net, loss, meta
        self.video_names = list(video_names)
        self.info = info
        self.device = info.device
        torch.manual_seed(meta.seed)  # same initial weights on every rank
        self.embedder = Embedder(net).to(self.device)
        self.generator = MetaGenerator(net).to(self.device)
        self.discriminator = MetaDiscriminator(net, len(video_names)).to(self.device)
        self.rasterizer = LandmarkRasterizer(net.resolution, net.line_sigma_px).to(self.device)
        self.content = ContentLoss(loss).to(self.device)
        betas = (meta.beta1, meta.beta2)
        self.opt_g = torch.optim.Adam(
            list(self.embedder.parameters()) + list(self.generator.parameters()),
            lr=meta.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=meta.lr_d, betas=betas)
        self.amp = runtime.amp_dtype(meta.amp, self.device)
        fp16 = self.amp == torch.float16
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self._e = _wrap(self.embedder, info)
        self._g = _wrap(self.generator, info)
        self._d = _wrap(self.discriminator, info)
        self.step = 0
        self.last_fake: torch.Tensor | None = None  # Bx3xRxR of the last step, for samples

    def landmark_images(self, landmarks: torch.Tensor) -> torch.Tensor:
        """...x478x3 crop units -> ...x3xRxR in [-1, 1]."""
        lead = landmarks.shape[:-2]
        with torch.no_grad():
            image = self.rasterizer(landmarks.reshape(-1, *landmarks.shape[-2:]))
        return to_net(image).view(*lead, *image.shape[1:])

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One meta-learning step on an EpisodeBatches item. Returns detached scalars."""
        frames = batch["frames"].to(self.device, non_blocking=True).float() / 255.0
        y = self.landmark_images(batch["landmarks"].to(self.device, non_blocking=True))
        video = batch["video"].to(self.device, non_blocking=True)
        x = to_net(frames)
        fake, e, logs = self._generator_step(x[:, :-1], y[:, :-1], x[:, -1], y[:, -1], video)
        logs.update(self._discriminator_steps(fake, x[:, -1], y[:, -1], e, video))
        self.step += 1
        self.last_fake = fake
        return logs

    def _generator_step(self, src_x, src_y, real, y, video):
        """Update E and G (and P). src_*: BxKx3xRxR; real, y: Bx3xRxR."""
        rows = self.discriminator.W.detach().index_select(0, video)
        with frozen(self.discriminator) as d, runtime.autocast(self.device, self.amp):
            e = self._e(src_x, src_y)
            fake = self._g(y, e)
            video2 = torch.cat([video, video])
            loss, logs = generator_terms(
                fake, real, y, lambda a, b: d(a, b, video2)[:2], self.content, self.loss_cfg)
            mch = embedding_match(e.float(), rows)
            loss = loss + self.loss_cfg.lambda_mch * mch
        apply_update(loss, self.opt_g, self.scaler_g)
        logs.update({"g_mch": mch.detach(), "g_total": loss.detach()})
        return fake.detach(), e.detach(), logs

    def _discriminator_steps(self, fake, real, y, e, video) -> dict[str, torch.Tensor]:
        """``d_steps`` updates of D (with W, w0, b) on the same real/fake pair."""
        video2 = torch.cat([video, video])
        logs: dict[str, torch.Tensor] = {}
        for _ in range(self.meta.d_steps):
            captured = {}

            def call(a, b):
                scores, features, rows = self._d(a, b, video2)
                captured["rows"] = rows
                return scores, features

            with runtime.autocast(self.device, self.amp):
                loss, logs = discriminator_terms(fake, real, y, call)
                mch = embedding_match(e.float(), captured["rows"][: e.shape[0]].float())
                loss = loss + self.loss_cfg.lambda_mch * mch
            apply_update(loss, self.opt_d, self.scaler_d)
        logs["d_mch"] = mch.detach()
        return logs

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        return {
            "format": META_FORMAT, "step": self.step,
            "network": to_dict(self.net), "loss": to_dict(self.loss_cfg),
            "meta": to_dict(self.meta), "video_names": self.video_names,
            "embedder": self.embedder.state_dict(),
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(), "scaler_d": self.scaler_d.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from a checkpoint made with the same networks and videos."""
        if state["video_names"] != self.video_names:
            raise TrainingError(
                "The checkpoint was trained on other videos (its discriminator has one row "
                "per training video). Resume with the same cache and --exclude list.")
        self.embedder.load_state_dict(state["embedder"])
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.scaler_g.load_state_dict(state["scaler_g"])
        self.scaler_d.load_state_dict(state["scaler_d"])
        self.step = int(state["step"])


def load_meta_checkpoint(path: str | Path) -> dict:
    """A meta-learning checkpoint as a dict (see MetaTrainer.state_dict)."""
    return runtime.load_state(path, META_FORMAT, "meta-learning checkpoint")


@dataclass(frozen=True)
class MetaRun:
    """Where a meta-learning run reads and writes."""

    cache_dir: Path
    run_dir: Path
    exclude: tuple[str, ...] = ()   # held-out videos or folders (see select_videos)
    resume: bool = False
    device: str = "auto"
    tensorboard: bool = False


def _trainer_for(run: MetaRun, cache: FrameCache, net: NetworkConfig, loss: LossConfig,
                 meta: MetaConfig, info: runtime.DistInfo) -> MetaTrainer:
    """A fresh trainer, or the one stored in run_dir when resuming."""
    names = [cache.names[i] for i in select_videos(cache, run.exclude)]
    latest = run.run_dir / LATEST
    if latest.exists() and not run.resume:
        raise TrainingError(f"{run.run_dir} already holds a checkpoint. Pass --resume to "
                            f"continue it, or choose a new --run-dir folder.")
    if run.resume and not latest.exists():
        raise TrainingError(f"Nothing to resume: {latest} does not exist.")
    if not run.resume:
        return MetaTrainer(net, loss, meta, names, info)
    state = load_meta_checkpoint(latest)
    # The networks must be the stored ones; schedule and loss settings may change.
    trainer = MetaTrainer(from_dict(NetworkConfig, state["network"]), loss, meta, names, info)
    trainer.load_state_dict(state)
    return trainer


def _loader(trainer: MetaTrainer, cache: FrameCache, run: MetaRun) -> DataLoader:
    meta, info = trainer.meta, trainer.info
    dataset = EpisodeBatches(cache, select_videos(cache, run.exclude), meta.k, meta.batch_size,
                             trainer.net.resolution, meta.seed, info.rank, info.world_size)
    return DataLoader(dataset, batch_size=None, sampler=range(trainer.step, meta.steps),
                      num_workers=meta.workers, pin_memory=info.device.type == "cuda",
                      persistent_workers=False)


def _scalars(logs: dict[str, torch.Tensor]) -> dict[str, float]:
    return {k: float(v) for k, v in logs.items()}


def run_meta(run: MetaRun, net: NetworkConfig, loss: LossConfig, meta: MetaConfig,
             on_step: Callable[[int, dict[str, float] | None], None] | None = None) -> Path:
    """Meta-learn until ``meta.steps`` or ``meta.minutes``; returns the checkpoint path.

    ``on_step(step, scalars_or_None)`` is called on rank 0 after every step (progress).
    Under torchrun every process calls this; only rank 0 writes files."""
    info = runtime.init_distributed(run.device)
    try:
        cache = FrameCache(run.cache_dir)
        trainer = _trainer_for(run, cache, net, loss, meta, info)
        run.run_dir.mkdir(parents=True, exist_ok=True)
        runlog = runtime.RunLog(run.run_dir, run.tensorboard) if info.is_main else None
        try:
            _loop(trainer, _loader(trainer, cache, run), run, runlog, on_step)
        finally:
            if runlog is not None:
                runlog.close()
        return run.run_dir / LATEST
    finally:
        runtime.shutdown_distributed()


def _loop(trainer: MetaTrainer, loader: DataLoader, run: MetaRun,
          runlog: runtime.RunLog | None, on_step) -> None:
    meta, info = trainer.meta, trainer.info
    started = time.monotonic()
    deadline = None if meta.minutes is None else started + meta.minutes * 60
    for batch in loader:
        logs = trainer.train_step(batch)
        step = trainer.step
        scalars = None
        if runlog is not None and step % meta.log_every == 0:
            scalars = _scalars(logs)
            runlog.write(step, {**scalars, "seconds": time.monotonic() - started})
        if info.is_main and step % meta.sample_every == 0:
            save_sample_grid(run.run_dir / "samples" / f"{step:08d}.png", batch,
                             trainer.last_fake)
        if info.is_main and step % meta.save_every == 0:
            runtime.atomic_save(trainer.state_dict(), run.run_dir / LATEST)
        if info.is_main and on_step is not None:
            on_step(step, scalars)
        out_of_time = deadline is not None and time.monotonic() > deadline
        if runtime.any_rank(out_of_time, info):
            log.info("time limit of %s minutes reached at step %d", meta.minutes, step)
            break
    if info.is_main:
        runtime.atomic_save(trainer.state_dict(), run.run_dir / LATEST)
        log.info("checkpoint at step %d: %s", trainer.step, run.run_dir / LATEST)
