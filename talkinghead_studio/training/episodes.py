"""Episodes for meta-learning: K+1 frames of each of B videos per training step.

Item ``step`` of :class:`EpisodeBatches` is this process's whole batch for that step,
drawn from a generator seeded with (seed, step). Batches therefore depend on the step
number alone: resuming at step n replays exactly what an uninterrupted run would have
seen, with any number of DataLoader workers, and every process of a torchrun job draws
the same global batch and takes its own slice of it.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from talkinghead_studio.training.cache import FrameCache
from talkinghead_studio.training.errors import TrainingError


def select_videos(cache: FrameCache, exclude: tuple[str, ...] = ()) -> list[int]:
    """Cache ids of the videos to train on: all but those named in ``exclude``, where a
    name also holds out everything below it ('id00017' holds out that whole identity).
    Row i of the discriminator's W belongs to id [i]."""
    held = tuple(exclude)
    chosen = [i for i, name in enumerate(cache.names)
              if not any(name == h or name.startswith(h.rstrip("/") + "/") for h in held)]
    if not chosen:
        raise TrainingError(f"No videos left to train on in {cache.cache_dir} "
                            f"after excluding {sorted(held)}.")
    return chosen


class EpisodeBatches(Dataset):
    """step -> {'frames': Bx(K+1)x3xRxR uint8 RGB, 'landmarks': Bx(K+1)x478x3 float32
    crop units, 'video': B int64 rows of W}. The last of the K+1 frames is the target."""

    def __init__(self, cache: FrameCache, videos: list[int], k: int, batch_size: int,
                 resolution: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.cache = cache
        self.videos = list(videos)
        self.k = k
        self.batch_size = batch_size
        self.resolution = resolution
        self.seed = seed
        self.rank = rank
        self.world_size = world_size

    def __len__(self) -> int:
        return 2 ** 62  # indexed by step; the sampler decides which steps are drawn

    def _rows(self, step: int) -> np.ndarray:
        """This process's rows of W for ``step``: distinct videos where there are enough."""
        rng = np.random.default_rng([self.seed, step])
        total = self.batch_size * self.world_size
        rows = rng.choice(len(self.videos), size=total, replace=total > len(self.videos))
        return rows[self.rank * self.batch_size:(self.rank + 1) * self.batch_size]

    def _image(self, video: int, frame: int) -> np.ndarray:
        """RxRx3 uint8 at the training resolution."""
        image = self.cache.frame(video, frame)
        if image.shape[0] != self.resolution:
            image = cv2.resize(image, (self.resolution, self.resolution),
                               interpolation=cv2.INTER_AREA)
        return image

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        frames, marks = [], []
        rows = self._rows(step)
        for row in rows:
            video = self.videos[row]
            count = self.cache.frame_count(video)
            rng = np.random.default_rng([self.seed, step, int(row)])
            picks = rng.choice(count, size=self.k + 1, replace=count < self.k + 1)
            frames.append(np.stack([self._image(video, int(j)) for j in picks]))
            marks.append(np.stack([self.cache.landmarks(video, int(j)) for j in picks]))
        return {
            "frames": torch.from_numpy(np.stack(frames)).permute(0, 1, 4, 2, 3).contiguous(),
            "landmarks": torch.from_numpy(np.stack(marks)),
            "video": torch.from_numpy(rows.astype(np.int64)),
        }
