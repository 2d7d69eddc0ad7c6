"""Torch source of the default mesh-warp generator (models/mesh_warp.onnx).

Only models/build_mesh_warp.py and the tests import this package; the app loads the
exported ONNX file and never imports torch.
"""
from talkinghead_studio.warpgen.model import MeshWarpGenerator

__all__ = ["MeshWarpGenerator"]
