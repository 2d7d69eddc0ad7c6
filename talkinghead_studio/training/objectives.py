"""One generator update and one discriminator update, shared by meta-learning and
fine-tuning (they differ only in how D is conditioned on the person)."""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch

from talkinghead_studio.training.config import LossConfig
from talkinghead_studio.training.losses import (
    ContentLoss, d_hinge, feature_matching, g_adversarial)
from talkinghead_studio.training.networks import from_net

# (images, landmark images) -> (scores, block features); both halves in one call so that
# a DistributedDataParallel discriminator sees one forward per backward.
DiscriminatorCall = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, list]]


def generator_terms(fake: torch.Tensor, real: torch.Tensor, y: torch.Tensor,
                    discriminator: DiscriminatorCall, content: ContentLoss,
                    cfg: LossConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """L_CNT + L_ADV (hinge generator term + lambda_FM feature matching).

    fake, real, y: Bx3xRxR in [-1, 1]. D's parameters should be frozen by the caller."""
    b = fake.shape[0]
    scores, features = discriminator(torch.cat([fake, real]), torch.cat([y, y]))
    adv = g_adversarial(scores[:b].float())
    fm = feature_matching([f[:b].float() for f in features], [f[b:].float() for f in features])
    cnt, terms = content(from_net(fake), from_net(real))
    logs = {"g_adv": adv.detach(), "g_fm": fm.detach(), "g_content": cnt.detach()}
    logs.update({f"content_{k}": v.detach() for k, v in terms.items()})
    return cnt + adv + cfg.lambda_fm * fm, logs


def discriminator_terms(fake: torch.Tensor, real: torch.Tensor, y: torch.Tensor,
                        discriminator: DiscriminatorCall) -> tuple[torch.Tensor, dict]:
    """Hinge loss on real (first half) and detached fake (second half)."""
    b = real.shape[0]
    scores, _ = discriminator(torch.cat([real, fake.detach()]), torch.cat([y, y]))
    scores = scores.float()
    loss = d_hinge(scores[:b], scores[b:])
    return loss, {"d_hinge": loss.detach(), "d_real": scores[:b].mean().detach(),
                  "d_fake": scores[b:].mean().detach()}


def apply_update(loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                 scaler: torch.amp.GradScaler) -> None:
    """Backward and step through the (possibly disabled) fp16 gradient scaler."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()


@contextlib.contextmanager
def frozen(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """``module``'s parameters take no gradients inside (D during G's step), so G's
    backward pass neither computes nor leaves gradients for D."""
    module.requires_grad_(False)
    try:
        yield module
    finally:
        module.requires_grad_(True)
