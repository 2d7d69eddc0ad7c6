"""VGG19 and VGG16 (VGGFace) feature extractors for the content loss, built here.

Nothing is downloaded: the user passes a path to a state dict. Layouts match
torchvision's ``features`` indices, so a torchvision VGG19 state dict loads by name;
other dicts (e.g. a VGGFace conversion with keys ``conv1_1.weight``) load by the order
and shape of their convolution tensors, which is checked.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from talkinghead_studio.training.errors import TrainingError

VGG19_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                512, 512, 512, "M", 512, 512, 512, "M")


@dataclass(frozen=True)
class VggSpec:
    """Which network, which ReLU outputs to compare, and the input convention."""

    layout: tuple
    taps: tuple[int, ...]           # indices into ``features`` (ReLU outputs)
    mean: tuple[float, float, float]  # RGB, in the units of ``scale``
    std: tuple[float, float, float]
    scale: float                     # multiply [0,1] pixels by this first


# Paper: VGG19 conv1, 6, 11, 20, 29 and VGGFace conv1, 6, 11, 18, 25, i.e. relu1_1 ..
# relu5_1 in torchvision's numbering.
VGG19 = VggSpec(VGG19_LAYOUT, (1, 6, 11, 20, 29),
                (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 1.0)
# VGG-Face (Parkhi et al.) takes RGB in 0..255 minus the training-set mean, no scaling.
VGGFACE = VggSpec(VGG16_LAYOUT, (1, 6, 11, 18, 25),
                  (129.1863, 104.7624, 93.5940), (1.0, 1.0, 1.0), 255.0)


def build_features(layout: tuple) -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = 3
    for item in layout:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU()]
            channels = item
    return nn.Sequential(*layers)


class VggFeatures(nn.Module):
    """Frozen VGG trunk: image Bx3xHxW RGB [0,1] -> list of tapped ReLU outputs."""

    def __init__(self, spec: VggSpec, weights: str | Path) -> None:
        super().__init__()
        self.spec = spec
        self.features = build_features(spec.layout)[: max(spec.taps) + 1]
        load_conv_weights(self.features, weights)
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "VggFeatures":
        return super().train(False)  # always inference mode: it is a fixed measure

    def forward(self, image01: torch.Tensor) -> list[torch.Tensor]:
        h = (image01 * self.spec.scale - self.mean) / self.std
        taps, out = set(self.spec.taps), []
        for index, layer in enumerate(self.features):
            h = layer(h)
            if index in taps:
                out.append(h)
        return out


def _read_state_dict(path: Path) -> dict:
    if not path.is_file():
        raise TrainingError(f"VGG weights not found: {path}. Pass the path to a .pth state dict.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for foreign or damaged files
        raise TrainingError(
            f"Could not read VGG weights {path.name} ({type(exc).__name__}). It must be a "
            f"PyTorch state dict saved with torch.save(model.state_dict(), path).") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise TrainingError(f"{path.name} holds a {type(state).__name__}, not a state dict.")
    return state


def load_conv_weights(features: nn.Sequential, path: str | Path) -> None:
    """Fill ``features``' convolutions from a state dict file (by name, else by order)."""
    path = Path(path)
    state = _read_state_dict(path)
    convs = [(i, m) for i, m in enumerate(features) if isinstance(m, nn.Conv2d)]
    by_name = all(f"features.{i}.weight" in state for i, _ in convs)
    if by_name:
        pairs = [(state[f"features.{i}.weight"], state[f"features.{i}.bias"]) for i, _ in convs]
    else:
        weights = [(k, v) for k, v in state.items() if torch.is_tensor(v) and v.dim() == 4]
        biases = {k.rsplit(".", 1)[0]: v for k, v in state.items() if k.endswith("bias")}
        if len(weights) < len(convs):
            raise TrainingError(
                f"{path.name} has {len(weights)} convolution weights; this VGG needs at "
                f"least {len(convs)}. Is it the right network (VGG19 / VGG16-VGGFace)?")
        pairs = [(w, biases.get(k.rsplit(".", 1)[0])) for k, w in weights[: len(convs)]]
    for (index, layer), (weight, bias) in zip(convs, pairs):
        if tuple(weight.shape) != tuple(layer.weight.shape) or bias is None:
            raise TrainingError(
                f"{path.name}: convolution {index} has shape {tuple(weight.shape)}, expected "
                f"{tuple(layer.weight.shape)} with a bias. Is it the right network?")
        with torch.no_grad():
            layer.weight.copy_(weight.float())
            layer.bias.copy_(bias.float().reshape(-1))
