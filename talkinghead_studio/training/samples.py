"""Contact sheets of training progress: target, landmark image and generated frame."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from talkinghead_studio.training.networks import from_net


def _tile(images: torch.Tensor) -> np.ndarray:
    """Nx3xRxR float [0,1] -> R x (N*R) x 3 uint8 RGB."""
    array = images.detach().float().clamp(0, 1).mul(255).round().byte().cpu().numpy()
    return np.concatenate(list(array.transpose(0, 2, 3, 1)), axis=1)


def save_sample_grid(path: Path, batch: dict[str, torch.Tensor],
                     fake: torch.Tensor | None, count: int = 4) -> None:
    """Rows: first source frame, target frame, generated frame (first ``count`` videos)."""
    if fake is None:
        return
    n = min(count, fake.shape[0])
    frames = batch["frames"][:n].float() / 255.0  # n x (K+1) x 3 x R x R
    rows = [_tile(frames[:, 0]), _tile(frames[:, -1]), _tile(from_net(fake[:n]))]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR))
