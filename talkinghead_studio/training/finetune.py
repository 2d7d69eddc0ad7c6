"""Few-shot fine-tuning (paper section 3.3) of a person-specific G' and D'.

From 1..K images of a new person: e_hat = mean E(x_k, y_k); G' starts from the
meta-learned generator with its AdaIN parameters psi' = P e_hat made free parameters;
D' starts from the meta-learned discriminator with w' = w0 + e_hat in place of W_i + w0.
Both are then trained on those images with L_CNT + L_ADV (G') and the hinge loss (D').
``init_random`` builds the same pair from untrained networks, for comparison.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from talkinghead_studio.errors import NoFaceFound
from talkinghead_studio.training.config import (
    FinetuneConfig, LossConfig, NetworkConfig, from_dict, to_dict)
from talkinghead_studio.training.losses import ContentLoss
from talkinghead_studio.training.networks import (
    Embedder, Generator, MetaDiscriminator, MetaGenerator, PersonDiscriminator,
    PersonGenerator, from_net, to_net)
from talkinghead_studio.training.objectives import (
    apply_update, discriminator_terms, frozen, generator_terms)
from talkinghead_studio.training.rasterize import LandmarkRasterizer
from talkinghead_studio.training import runtime

PERSON_FORMAT = "ths-fewshot-person-1"


@dataclass(frozen=True)
class PersonImages:
    """crops: Kx3xRxR float32 in [0,1]; landmarks: Kx478x3 float32 crop units."""

    crops: torch.Tensor
    landmarks: torch.Tensor
    sources: tuple[str, ...]


def person_images_from_arrays(crops: np.ndarray, landmarks: np.ndarray,
                              sources: tuple[str, ...] = ()) -> PersonImages:
    """crops: KxRxRx3 uint8 RGB; landmarks: Kx478x3 float32 crop units."""
    tensor = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float() / 255.0
    return PersonImages(tensor, torch.from_numpy(np.asarray(landmarks, np.float32)),
                        tuple(sources))


def load_person_images(paths: list[str | os.PathLike], resolution: int) -> PersonImages:
    """Crop each image exactly as the app crops a portrait (core.portrait)."""
    from talkinghead_studio.core.images import load_portrait
    from talkinghead_studio.core.landmarks import FaceMeshDetector
    from talkinghead_studio.core.portrait import prepare_portrait

    crops, marks = [], []
    with FaceMeshDetector(mode="image") as detector:
        for path in paths:
            try:
                prepared = prepare_portrait(load_portrait(path), resolution, with_matte=False,
                                            detector=detector)
            except NoFaceFound as error:
                raise NoFaceFound(f"{Path(path).name}: {error}") from None
            crops.append(prepared.crop)
            marks.append(prepared.crop_points)
    return person_images_from_arrays(np.stack(crops), np.stack(marks),
                                     tuple(Path(p).name for p in paths))


@dataclass
class PersonModels:
    """The person-specific pair being fine-tuned, and the embedding it started from."""

    net: NetworkConfig
    generator: PersonGenerator
    discriminator: PersonDiscriminator
    e_hat: torch.Tensor  # 1xD


def _personalise(net: NetworkConfig, embedder: Embedder, generator: MetaGenerator,
                 discriminator: MetaDiscriminator, images: PersonImages,
                 device: torch.device) -> PersonModels:
    """psi' = P e_hat and w' = w0 + e_hat (paper eq. for the fine-tuning start)."""
    rasterizer = LandmarkRasterizer(net.resolution, net.line_sigma_px).to(device)
    embedder.to(device).eval()
    generator.to(device)
    discriminator.to(device)
    with torch.no_grad():
        y = to_net(rasterizer(images.landmarks.to(device)))
        x = to_net(images.crops.to(device))
        e_hat = embedder(x[None], y[None])  # 1xD, the mean over the K images
        psi = generator.projection(e_hat)
        w = discriminator.w0 + e_hat[0]
    return PersonModels(net, PersonGenerator(generator.generator, psi),
                        PersonDiscriminator(discriminator.body, w, discriminator.b), e_hat)


def init_from_meta(state: dict, images: PersonImages, device: torch.device) -> PersonModels:
    """Person-specific start from a meta-learning checkpoint (meta.load_meta_checkpoint)."""
    net = from_dict(NetworkConfig, state["network"])
    embedder, generator = Embedder(net), MetaGenerator(net)
    discriminator = MetaDiscriminator(net, len(state["video_names"]))
    embedder.load_state_dict(state["embedder"])
    generator.load_state_dict(state["generator"])
    discriminator.load_state_dict(state["discriminator"])
    return _personalise(net, embedder, generator, discriminator, images, device)


def init_random(net: NetworkConfig, images: PersonImages, seed: int,
                device: torch.device) -> PersonModels:
    """The same construction from untrained networks (the no-meta-learning baseline)."""
    torch.manual_seed(seed)
    return _personalise(net, Embedder(net), MetaGenerator(net), MetaDiscriminator(net, 1),
                        images, device)


class FewShotTuner:
    """Adam on G' (weights and psi') and D' (weights, w', b) over the K images."""

    def __init__(self, models: PersonModels, images: PersonImages, loss: LossConfig,
                 cfg: FinetuneConfig, device: torch.device) -> None:
        self.models, self.loss_cfg, self.cfg, self.device = models, loss, cfg, device
        net = models.net
        rasterizer = LandmarkRasterizer(net.resolution, net.line_sigma_px).to(device)
        with torch.no_grad():
            self.x = to_net(images.crops.to(device))                     # Kx3xRxR
            self.y = to_net(rasterizer(images.landmarks.to(device)))     # Kx3xRxR
        self.content = ContentLoss(loss).to(device)
        betas = (cfg.beta1, cfg.beta2)
        models.generator.train()
        models.discriminator.train()
        self.opt_g = torch.optim.Adam(models.generator.parameters(), lr=cfg.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(models.discriminator.parameters(), lr=cfg.lr_d, betas=betas)
        self.amp = runtime.amp_dtype(cfg.amp, device)
        fp16 = self.amp == torch.float16
        self.scaler_g = torch.amp.GradScaler(device.type, enabled=fp16)
        self.scaler_d = torch.amp.GradScaler(device.type, enabled=fp16)
        self.rng = np.random.default_rng(cfg.seed)
        self.step = 0

    def train_step(self) -> dict[str, torch.Tensor]:
        count = self.x.shape[0]
        pick = torch.from_numpy(self.rng.choice(count, size=min(self.cfg.batch_size, count),
                                                replace=False)).to(self.device)
        real, y = self.x.index_select(0, pick), self.y.index_select(0, pick)
        generator, discriminator = self.models.generator, self.models.discriminator
        with frozen(discriminator) as d, runtime.autocast(self.device, self.amp):
            fake = generator(y)
            loss, logs = generator_terms(fake, real, y, d, self.content, self.loss_cfg)
        apply_update(loss, self.opt_g, self.scaler_g)
        for _ in range(self.cfg.d_steps):
            with runtime.autocast(self.device, self.amp):
                loss_d, d_logs = discriminator_terms(fake.detach(), real, y, discriminator)
            apply_update(loss_d, self.opt_d, self.scaler_d)
        self.step += 1
        return {**logs, **d_logs}

    def run(self, on_step: Callable[[int, dict], None] | None = None) -> None:
        for _ in range(self.cfg.steps):
            logs = self.train_step()
            if on_step is not None:
                on_step(self.step, logs)


@torch.no_grad()
def render(generator: PersonGenerator, landmarks: torch.Tensor, net: NetworkConfig,
           batch: int = 16) -> torch.Tensor:
    """Nx478x3 crop-unit landmarks -> Nx3xRxR float32 in [0,1] (eval mode, on CPU out)."""
    device = next(generator.parameters()).device
    rasterizer = LandmarkRasterizer(net.resolution, net.line_sigma_px).to(device)
    was_training = generator.training
    generator.eval()
    out = [from_net(generator(to_net(rasterizer(part.to(device))))).clamp(0, 1).cpu()
           for part in landmarks.split(batch)]
    generator.train(was_training)
    return torch.cat(out)


def save_person(path: str | os.PathLike, models: PersonModels, name: str,
                images: PersonImages, steps: int) -> Path:
    """Write the fine-tuned pair (the export reads the generator; D allows more tuning)
    and the images' landmarks (the export checks parity on them)."""
    path = Path(path)
    runtime.atomic_save({
        "format": PERSON_FORMAT, "name": name, "sources": list(images.sources),
        "steps": steps, "landmarks": images.landmarks.clone(),
        "network": to_dict(models.net), "psi_size": models.generator.psi.shape[1],
        "generator": models.generator.state_dict(),
        "discriminator": models.discriminator.state_dict(),
    }, path)
    return path


def load_person_generator(path: str | os.PathLike) -> tuple[PersonGenerator, NetworkConfig, dict]:
    """(G', its network config, the stored dict) from a save_person file, on the CPU."""
    state = runtime.load_state(path, PERSON_FORMAT, "fine-tuned person model")
    net = from_dict(NetworkConfig, state["network"])
    generator = PersonGenerator(Generator(net), torch.zeros(1, state["psi_size"]))
    generator.load_state_dict(state["generator"])
    return generator, net, state
