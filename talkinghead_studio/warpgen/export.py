"""Export :class:`MeshWarpGenerator` to an ONNX file that follows the generator contract.

Used by models/build_mesh_warp.py (which ships the file) and by the tests (which export
afresh and compare). Torch-only; the app never imports this.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch

from talkinghead_studio.inference.contract import contract_metadata
from talkinghead_studio.warpgen.model import MeshWarpGenerator

NAME = "Mesh warp"
KIND = "mesh-warp"
RESOLUTIONS = (256, 512)
OPSET = 18
INPUTS = ("source_image", "source_landmarks", "driving_landmarks", "source_matte",
          "background_image")
OUTPUTS = ("image", "mask")


def example_inputs(size: int = 256) -> tuple[torch.Tensor, ...]:
    """Deterministic inputs for tracing: a random crop and a seeded point cloud in the
    landmark layout. The values only steer tracing (the graph has no data-dependent
    Python branches; data-dependent sizes stay dynamic), so any points with the right
    shapes do; tests check the exported file on real faces.
    """
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, size, size, generator=gen)
    angle = torch.linspace(0, 6.283, 478)
    lm = torch.stack([0.5 + 0.18 * torch.cos(angle * 7.0) * torch.linspace(0.2, 1.0, 478),
                      0.55 + 0.22 * torch.sin(angle * 5.0) * torch.linspace(0.2, 1.0, 478),
                      0.02 * torch.sin(angle)], -1)[None]
    matte = torch.ones(1, 1, size, size)
    return image, lm, lm.clone(), matte, image.clone()


def export_onnx(path: str | Path) -> Path:
    """Write the generator to ``path`` with dynamic spatial axes and contract metadata."""
    import onnx

    path = Path(path)
    model = MeshWarpGenerator().eval()
    spatial = {2: "R", 3: "R"}
    dynamic = {"source_image": spatial, "source_matte": spatial,
               "background_image": spatial, "image": spatial, "mask": spatial}
    with warnings.catch_warnings():
        # The TorchScript exporter warns about its own deprecation and about traced
        # shape arithmetic; the graph is checked numerically at both sizes instead.
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example_inputs(), str(path), input_names=list(INPUTS),
                          output_names=list(OUTPUTS), dynamic_axes=dynamic,
                          opset_version=OPSET, dynamo=False, do_constant_folding=True)
    proto = onnx.load(str(path))
    _check_inputs(proto)
    del proto.metadata_props[:]
    for key, value in contract_metadata(NAME, KIND, RESOLUTIONS).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = ("Talking-Head Studio mesh-warp generator: landmark-driven dense warp "
                        "with z-buffered face mesh, mouth interior and eyelid handling. "
                        "Built by models/build_mesh_warp.py; no learned weights.")
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path


def _check_inputs(proto) -> None:
    """The exporter silently drops unused inputs; the app feeds only declared ones."""
    names = tuple(i.name for i in proto.graph.input)
    if names != INPUTS:
        raise RuntimeError(f"exported inputs {names} differ from the intended {INPUTS}")
