"""Frozen settings of the training system, split by concern. No torch import.

Defaults follow the paper (Zakharov et al. 2019, section 4 and its supplement) as we
read it; where the paper is silent the choice and its reason are noted at the field.
The CLI and the experiment both build these; checkpoints store them as plain dicts.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Literal

from talkinghead_studio.training.errors import TrainingError

AmpChoice = Literal["auto", "off", "bf16", "fp16"]


@dataclass(frozen=True)
class NetworkConfig:
    """Sizes of E, G and D. Resolutions are square sides in pixels."""

    resolution: int = 256            # crop side the networks see and the export accepts
    base_channels: int = 64          # channels after the first down block
    max_channels: int = 512          # cap on channels inside the networks
    embed_dim: int = 512             # size of e, of V(x, y) and of each row of W
    generator_bottleneck: int = 16   # G's lowest feature resolution
    generator_res_blocks: int = 5    # constant-resolution AdaIN blocks at the bottleneck
    attention_down: int = 32         # self-attention after the down block reaching this res
    attention_up: int = 64           # self-attention after the up block reaching this res
    spectral_norm: bool = True       # the paper normalises every conv and linear layer
    line_sigma_px: float = 1.3       # landmark-image line half-width (Gaussian sigma), px

    @classmethod
    def for_resolution(cls, resolution: int, base_channels: int = 64,
                       max_channels: int = 512) -> "NetworkConfig":
        """The paper's 256-px layout scaled to ``resolution`` (a multiple of 32)."""
        _require(resolution >= 32 and resolution % 32 == 0,
                 f"--resolution must be a multiple of 32 (the generator contract's rule), "
                 f"not {resolution}.")
        scale = resolution / 256
        return cls(
            resolution=resolution,
            base_channels=base_channels,
            max_channels=max_channels,
            generator_bottleneck=max(4, resolution // 16),
            attention_down=max(4, resolution // 8),
            attention_up=max(8, resolution // 4),
            line_sigma_px=max(0.7, 1.3 * scale),
        )


@dataclass(frozen=True)
class LossConfig:
    """Loss weights (the paper's lambdas) and where the perceptual weights come from."""

    vgg19_weights: str | None = None     # torchvision-layout VGG19 state dict (.pth)
    vggface_weights: str | None = None   # VGG16-layout VGGFace state dict (.pth)
    lambda_vgg19: float = 1e-2
    lambda_vggface: float = 2e-3
    lambda_fm: float = 10.0              # feature matching on D's block outputs
    lambda_mch: float = 80.0             # embedding match |W_i - e_i|_1
    # Used only when no VGG weights are given (see losses.PixelPyramidLoss): the pixel
    # loss must carry the reconstruction on its own, so it outweighs the adversarial
    # term by about as much as the paper's VGG terms do.
    lambda_pixel: float = 10.0


@dataclass(frozen=True)
class MetaConfig:
    """The meta-learning stage (paper section 3.2)."""

    k: int = 8                   # frames per video that feed the embedder
    batch_size: int = 8          # videos per step, per process
    steps: int = 1_000_000       # stop after this many steps ...
    minutes: float | None = None  # ... or after this much wall time, whichever is first
    lr_g: float = 5e-5           # embedder and generator (paper)
    lr_d: float = 2e-4           # discriminator (paper)
    # The paper follows SAGAN's two-time-scale setup; SAGAN's Adam betas are (0, 0.9).
    beta1: float = 0.0
    beta2: float = 0.9
    d_steps: int = 2             # discriminator updates per generator update (paper)
    amp: AmpChoice = "auto"      # bf16 on GPUs that have it, off on the CPU
    seed: int = 0
    save_every: int = 1000
    log_every: int = 50
    sample_every: int = 500
    workers: int = 4             # DataLoader worker processes per training process

    def __post_init__(self) -> None:
        _check_schedule(self.k, self.batch_size, self.d_steps, self.steps)


@dataclass(frozen=True)
class FinetuneConfig:
    """Few-shot fine-tuning (paper section 3.3)."""

    steps: int = 300
    batch_size: int = 8          # images per step, capped at the number of images given
    lr_g: float = 5e-5
    lr_d: float = 2e-4
    beta1: float = 0.0
    beta2: float = 0.9
    # One D update per G update: with 1..K fixed images D quickly memorises the real
    # ones, and the paper gives no ratio for this stage.
    d_steps: int = 1
    amp: AmpChoice = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        _check_schedule(1, self.batch_size, self.d_steps, self.steps)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise TrainingError(message)


def _check_schedule(k: int, batch_size: int, d_steps: int, steps: int) -> None:
    _require(k >= 1, f"--k must be at least 1, not {k}.")
    _require(batch_size >= 1, f"--batch-size must be at least 1, not {batch_size}.")
    _require(d_steps >= 1, f"discriminator steps per generator step must be >= 1, not {d_steps}.")
    _require(steps >= 0, f"--steps must not be negative, not {steps}.")


def to_dict(config) -> dict:
    return asdict(config)


def from_dict(cls, values: dict):
    """Build ``cls`` from a stored dict, ignoring keys that a newer version dropped."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})
