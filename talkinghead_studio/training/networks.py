"""The paper's three networks: embedder E, generator G, projection discriminator D.

Images enter and leave the networks in [-1, 1] (``to_net`` / ``from_net``); landmark
images likewise. Shapes: frames Bx3xRxR, landmark images Bx3xRxR, embeddings BxD with
D = NetworkConfig.embed_dim.

Layout (paper, section 3 and supplement): residual down-sampling blocks (BigGAN style)
in E, D and the first half of G; residual constant-resolution and up-sampling blocks
with adaptive instance normalisation in the second half of G, whose scales and biases
psi = P e are projected from the embedding; self-attention at middle resolutions;
spectral normalisation on every convolution and linear layer; sum pooling then ReLU
at the end of E and D; realism score r = V(x, y) . (W_i + w0) + b.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from talkinghead_studio.training.config import NetworkConfig


# Std of P's initial entries: small, so that an untrained P moves the AdaIN scales by
# a few percent for embeddings of typical norm rather than swamping the features.
PROJECTION_INIT_STD = 1e-3


def to_net(image01: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]."""
    return image01 * 2.0 - 1.0


def from_net(image: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1]."""
    return image * 0.5 + 0.5


def _sn(layer: nn.Module, enabled: bool) -> nn.Module:
    return nn.utils.parametrizations.spectral_norm(layer) if enabled else layer


def conv(cin: int, cout: int, kernel: int, sn: bool) -> nn.Module:
    return _sn(nn.Conv2d(cin, cout, kernel, padding=kernel // 2), sn)


def channel_schedule(first: int, count: int, cap: int) -> list[int]:
    """Channels after each of ``count`` blocks: doubling from ``first``, capped."""
    return [min(cap, first * 2 ** i) for i in range(count)]


class SelfAttention(nn.Module):
    """SAGAN self-attention over all positions; starts as identity (gamma = 0)."""

    def __init__(self, channels: int, sn: bool) -> None:
        super().__init__()
        inner = max(1, channels // 8)
        self.query = conv(channels, inner, 1, sn)
        self.key = conv(channels, inner, 1, sn)
        self.value = conv(channels, channels // 2, 1, sn)
        self.out = conv(channels // 2, channels, 1, sn)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # B x HW x C/8
        k = self.key(x).flatten(2)                     # B x C/8 x HW
        attention = torch.softmax(torch.bmm(q, k), dim=-1)  # B x HW x HW
        v = self.value(x).flatten(2)                   # B x C/2 x HW
        mixed = torch.bmm(v, attention.transpose(1, 2)).view(b, c // 2, h, w)
        return x + self.gamma * self.out(mixed)


class ResBlockDown(nn.Module):
    """Pre-activation residual block that halves the resolution (or keeps it)."""

    def __init__(self, cin: int, cout: int, sn: bool, norm: bool = False,
                 first: bool = False, downsample: bool = True) -> None:
        super().__init__()
        self.first = first  # no ReLU on raw pixels: it would discard half the signal
        self.downsample = downsample
        self.norm1 = nn.InstanceNorm2d(cin, affine=True) if norm else nn.Identity()
        self.norm2 = nn.InstanceNorm2d(cout, affine=True) if norm else nn.Identity()
        self.conv1 = conv(cin, cout, 3, sn)
        self.conv2 = conv(cout, cout, 3, sn)
        self.skip = conv(cin, cout, 1, sn) if (cin != cout or downsample) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x) if self.first else F.relu(self.norm1(x))
        h = self.conv2(F.relu(self.norm2(self.conv1(h))))
        s = self.skip(x)
        if self.downsample:
            h, s = F.avg_pool2d(h, 2), F.avg_pool2d(s, 2)
        return h + s


def adain(x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Instance-normalise x (BxCxHxW) and apply params (Bx2C: scales, then biases).

    The scale is 1 + s rather than s so that psi = 0 is the plain normalisation: a
    freshly initialised projection then passes features through instead of zeroing them.
    """
    scale, bias = params.unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
    return F.instance_norm(x) * (1.0 + scale) + bias


class ResBlockAdaIN(nn.Module):
    """Residual block with AdaIN, at constant resolution or doubling it."""

    def __init__(self, cin: int, cout: int, sn: bool, upsample: bool) -> None:
        super().__init__()
        self.upsample = upsample
        self.conv1 = conv(cin, cout, 3, sn)
        self.conv2 = conv(cout, cout, 3, sn)
        self.skip = conv(cin, cout, 1, sn) if (cin != cout or upsample) else nn.Identity()
        self.psi_sizes = (2 * cin, 2 * cout)

    def forward(self, x: torch.Tensor, p1: torch.Tensor, p2: torch.Tensor) -> torch.Tensor:
        h = F.relu(adain(x, p1))
        if self.upsample:
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        h = self.conv2(F.relu(adain(self.conv1(h), p2)))
        return h + self.skip(x)


def down_trunk(cin: int, cfg: NetworkConfig, last: int, stop: int, norm: bool) -> nn.ModuleList:
    """Down blocks from cfg.resolution to ``stop``, ending with ``last`` channels, and
    self-attention after the block that reaches cfg.attention_down."""
    count = int(math.log2(cfg.resolution // stop))
    chans = channel_schedule(cfg.base_channels, count, cfg.max_channels)
    chans[-1] = last
    layers, res, prev = nn.ModuleList(), cfg.resolution, cin
    for i, ch in enumerate(chans):
        layers.append(ResBlockDown(prev, ch, cfg.spectral_norm, norm=norm, first=(i == 0)))
        res //= 2
        if res == cfg.attention_down:
            layers.append(SelfAttention(ch, cfg.spectral_norm))
        prev = ch
    return layers


def sum_pool_relu(x: torch.Tensor) -> torch.Tensor:
    """BxCxHxW -> BxC: sum over positions, then ReLU (paper)."""
    return F.relu(x.sum(dim=(2, 3)))


# Embedder and discriminator reduce to this resolution before pooling (paper: 4x4).
TRUNK_STOP = 4


class Embedder(nn.Module):
    """E(frame, landmark image) -> e. frames, landmarks: BxKx3xRxR in [-1, 1] -> BxD,
    the average of the K per-frame embeddings."""

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        self.trunk = down_trunk(6, cfg, cfg.embed_dim, TRUNK_STOP, norm=False)

    def embed_frames(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x, y: Nx3xRxR -> NxD, one embedding per frame."""
        h = torch.cat([x, y], dim=1)
        for layer in self.trunk:
            h = layer(h)
        return sum_pool_relu(h)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        b, k = x.shape[:2]
        per_frame = self.embed_frames(x.flatten(0, 1), y.flatten(0, 1))
        return per_frame.view(b, k, -1).mean(dim=1)


class Generator(nn.Module):
    """G(landmark image, psi) -> image. y: Bx3xRxR in [-1, 1]; psi: BxN -> Bx3xRxR in
    [-1, 1]. N = ``psi_size``: every AdaIN scale and bias, in the order used."""

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        sn = cfg.spectral_norm
        down_count = int(math.log2(cfg.resolution // cfg.generator_bottleneck))
        chans = channel_schedule(cfg.base_channels, down_count, cfg.max_channels)
        self.down = down_trunk(3, cfg, chans[-1], cfg.generator_bottleneck, norm=True)
        width = chans[-1]
        self.res = nn.ModuleList(
            ResBlockAdaIN(width, width, sn, upsample=False)
            for _ in range(cfg.generator_res_blocks))
        self.up = nn.ModuleList()
        res = cfg.generator_bottleneck
        for ch in list(reversed(chans[:-1])) + [chans[0]]:
            self.up.append(ResBlockAdaIN(width, ch, sn, upsample=True))
            res *= 2
            if res == cfg.attention_up:
                self.up.append(SelfAttention(ch, sn))
            width = ch
        self.out_conv = conv(width, 3, 3, sn)
        sizes = [s for block in list(self.res) + list(self.up)
                 if isinstance(block, ResBlockAdaIN) for s in block.psi_sizes]
        self.psi_sizes = tuple(sizes + [2 * width])  # the last: AdaIN before out_conv

    @property
    def psi_size(self) -> int:
        return sum(self.psi_sizes)

    def forward(self, y: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
        params = iter(torch.split(psi, list(self.psi_sizes), dim=1))
        h = y
        for layer in self.down:
            h = layer(h)
        for layer in list(self.res) + list(self.up):
            h = layer(h, next(params), next(params)) if isinstance(layer, ResBlockAdaIN) \
                else layer(h)
        h = F.relu(adain(h, next(params)))
        return torch.tanh(self.out_conv(h))


class MetaGenerator(nn.Module):
    """The meta-learning generator: psi = P e. y: Bx3xRxR, e: BxD -> Bx3xRxR."""

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        self.generator = Generator(cfg)
        # P is left without spectral normalisation: it is the paper's plain projection
        # matrix, and bounding it would cap how far an identity can move the AdaIN scales.
        self.projection = nn.Linear(cfg.embed_dim, self.generator.psi_size, bias=False)
        nn.init.normal_(self.projection.weight, std=PROJECTION_INIT_STD)

    def forward(self, y: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return self.generator(y, self.projection(e))


class PersonGenerator(nn.Module):
    """The fine-tuned generator: psi' is a free parameter, initialised to P e_hat.
    y: Bx3xRxR -> Bx3xRxR."""

    def __init__(self, generator: Generator, psi: torch.Tensor) -> None:
        super().__init__()
        self.generator = generator
        self.psi = nn.Parameter(psi.detach().clone().reshape(1, -1))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.generator(y, self.psi.expand(y.shape[0], -1))


class DiscriminatorBody(nn.Module):
    """V(x, y): image and landmark image (Bx3xRxR each, [-1, 1]) -> (BxD, block outputs).

    The block outputs feed the feature-matching loss."""

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        self.trunk = down_trunk(6, cfg, cfg.embed_dim, TRUNK_STOP, norm=False)
        # paper: one more residual block at the lowest resolution
        self.trunk.append(ResBlockDown(cfg.embed_dim, cfg.embed_dim, cfg.spectral_norm,
                                       downsample=False))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, list]:
        h = torch.cat([x, y], dim=1)
        features = []
        for layer in self.trunk:
            h = layer(h)
            if isinstance(layer, ResBlockDown):
                features.append(h)
        return sum_pool_relu(h), features


def realism(v: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """r = V . w + b. v, w: BxD (or w: D); b: 1 -> B."""
    return (v * w).sum(dim=1) + b


class MetaDiscriminator(nn.Module):
    """Projection discriminator with one embedding row W_i per training video.

    forward(x, y, video) -> (scores B, block features, W rows BxD)."""

    def __init__(self, cfg: NetworkConfig, num_videos: int) -> None:
        super().__init__()
        self.body = DiscriminatorBody(cfg)
        self.W = nn.Parameter(torch.randn(num_videos, cfg.embed_dim) * 0.02)
        self.w0 = nn.Parameter(torch.randn(cfg.embed_dim) * 0.02)
        self.b = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, y: torch.Tensor, video: torch.Tensor):
        v, features = self.body(x, y)
        rows = self.W.index_select(0, video)
        return realism(v, rows + self.w0, self.b), features, rows


class PersonDiscriminator(nn.Module):
    """The fine-tuned discriminator: w' = w0 + e_hat replaces W_i + w0.

    forward(x, y) -> (scores B, block features)."""

    def __init__(self, body: DiscriminatorBody, w: torch.Tensor, b: torch.Tensor) -> None:
        super().__init__()
        self.body = body
        self.w = nn.Parameter(w.detach().clone().reshape(-1))
        self.b = nn.Parameter(b.detach().clone().reshape(1))

    def forward(self, x: torch.Tensor, y: torch.Tensor):
        v, features = self.body(x, y)
        return realism(v, self.w, self.b), features
