"""Export a fine-tuned person generator to ONNX under the generator contract.

The graph takes the contract's three inputs and returns ``image``:

  source_image       1x3xRxR float32 RGB [0,1]   (declared; see below)
  source_landmarks   1x478x3 float32 crop units  (declared; see below)
  driving_landmarks  1x478x3 float32 crop units  -> landmark image, drawn in-graph
  image              1x3xRxR float32 RGB [0,1]   = G'(landmark image), psi' baked in

The paper's generator renders the person from the target landmarks alone: what the
person looks like is in the fine-tuned weights and psi', not in a source image. The
contract still requires all three inputs, and the exporters drop inputs a graph does
not read, so the two source inputs are added back as declared graph inputs after the
export. onnxruntime accepts and ignores them; the app feeds them as for any generator.
"""
from __future__ import annotations

import dataclasses
import inspect
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from talkinghead_studio.inference.contract import NUM_LANDMARKS, contract_metadata
from talkinghead_studio.training.config import NetworkConfig
from talkinghead_studio.training.networks import Generator, PersonGenerator, from_net, to_net
from talkinghead_studio.training.rasterize import LandmarkRasterizer

log = logging.getLogger(__name__)

INPUT_NAMES = ("source_image", "source_landmarks", "driving_landmarks")
OUTPUT_NAME = "image"
KIND = "neural-fewshot"
OPSET = 17


class ContractGenerator(nn.Module):
    """The contract's signature around G'. Tensors as in the module docstring."""

    def __init__(self, generator: PersonGenerator, net: NetworkConfig) -> None:
        super().__init__()
        self.rasterizer = LandmarkRasterizer(net.resolution, net.line_sigma_px)
        self.generator = generator

    def forward(self, source_image: torch.Tensor, source_landmarks: torch.Tensor,
                driving_landmarks: torch.Tensor) -> torch.Tensor:
        y = to_net(self.rasterizer(driving_landmarks))
        return from_net(self.generator(y)).clamp(0.0, 1.0)


def without_spectral_norm(generator: PersonGenerator, net: NetworkConfig) -> PersonGenerator:
    """An eval-mode copy built without spectral normalisation and holding the normalised
    weights, so the exported graph has fixed weights instead of a power iteration.

    (Not deepcopy + remove_parametrizations: parametrised modules share a generated
    class, and removing the parametrisation from a copy breaks the original.)"""
    was_training = generator.training
    generator.eval()  # eval: read W / sigma from the stored vectors, no power step
    state = {k: v for k, v in generator.state_dict().items() if ".parametrizations." not in k}
    with torch.no_grad():
        for name, module in generator.named_modules():
            if parametrize.is_parametrized(module, "weight"):
                state[f"{name}.weight"] = module.weight.detach().clone()
    generator.train(was_training)
    plain_net = dataclasses.replace(net, spectral_norm=False)
    plain = PersonGenerator(Generator(plain_net), torch.zeros_like(generator.psi))
    plain.load_state_dict(state)
    return plain.cpu().eval()


def example_inputs(resolution: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tracing inputs of the contract's shapes (the values do not matter)."""
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, resolution, resolution, generator=generator)
    marks = torch.rand(2, NUM_LANDMARKS, 3, generator=generator) * 0.5 + 0.25
    return image, marks[:1], marks[1:]


def _torch_export(model: nn.Module, resolution: int, path: Path, opset: int) -> None:
    """The TorchScript-based exporter (fixed shapes, opset 17), deprecated since torch
    2.9 but still present in 2.13; torch.export's exporter (opset 18, which it needs)
    where the old one fails or is gone. Both were checked for parity with torch 2.13."""
    try:
        _export_torchscript(model, resolution, path, opset)
    except Exception as legacy_error:  # removed or failing in this torch: try the new one
        log.warning("TorchScript ONNX exporter failed (%s); using torch.export's exporter",
                    legacy_error)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch-internal deprecations
            torch.onnx.export(model, example_inputs(resolution), str(path),
                              input_names=list(INPUT_NAMES), output_names=[OUTPUT_NAME],
                              opset_version=max(opset, 18), dynamo=True)


def _export_torchscript(model: nn.Module, resolution: int, path: Path, opset: int) -> None:
    options = {}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        options["dynamo"] = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # instance norm always uses the input's statistics; the exporter's note that it
        # "exports with train=True" is that, not a mistake
        warnings.filterwarnings("ignore", message="ONNX export mode is set to")
        torch.onnx.export(model, example_inputs(resolution), str(path),
                          input_names=list(INPUT_NAMES), output_names=[OUTPUT_NAME],
                          opset_version=opset, do_constant_folding=True, **options)


def _declare_inputs(proto, resolution: int) -> None:
    """Add any contract input the exporter dropped, with the contract's shape."""
    import onnx

    shapes = {"source_image": (1, 3, resolution, resolution),
              "source_landmarks": (1, NUM_LANDMARKS, 3),
              "driving_landmarks": (1, NUM_LANDMARKS, 3)}
    present = {value.name for value in proto.graph.input}
    for name in INPUT_NAMES:
        if name not in present:
            proto.graph.input.append(
                onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shapes[name]))


def export_onnx(generator: PersonGenerator, net: NetworkConfig, path: str | os.PathLike,
                name: str, opset: int = OPSET) -> Path:
    """Write G' as a contract generator at ``path`` (atomically). Returns the path."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = ContractGenerator(without_spectral_norm(generator, net), net).eval()
    tmp = path.with_name(path.name + ".tmp")
    try:
        _torch_export(model, net.resolution, tmp, opset)
        proto = onnx.load(str(tmp))
        _declare_inputs(proto, net.resolution)
        metadata = contract_metadata(name=name, kind=KIND, resolutions=(net.resolution,))
        onnx.helper.set_model_props(proto, metadata)
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def torch_reference(generator: PersonGenerator, net: NetworkConfig,
                    inputs: tuple[torch.Tensor, ...]) -> np.ndarray:
    """What the exported graph should return for ``inputs``: 1x3xRxR float32."""
    model = ContractGenerator(without_spectral_norm(generator, net), net).eval()
    with torch.no_grad():
        return model(*inputs).numpy()


def parity(path: str | os.PathLike, generator: PersonGenerator, net: NetworkConfig,
           driving: list[np.ndarray]) -> float:
    """Largest |onnxruntime - torch| over the given driving landmark sets (478x3 each)."""
    from talkinghead_studio.inference.session import OnnxGenerator, SessionOptions

    session = OnnxGenerator(path, SessionOptions(provider="cpu", intra_op_threads=1))
    image, source, _ = example_inputs(net.resolution)
    worst = 0.0
    for marks in driving:
        drive = torch.from_numpy(np.asarray(marks, np.float32))[None]
        feeds = {"source_image": image.numpy(), "source_landmarks": source.numpy(),
                 "driving_landmarks": drive.numpy()}
        got = session.animate(feeds)[OUTPUT_NAME]
        want = torch_reference(generator, net, (image, source, drive))
        worst = max(worst, float(np.abs(got - want).max()))
    return worst
