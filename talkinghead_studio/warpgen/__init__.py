"""Torch source of the default mesh-warp generator (models/mesh_warp.onnx).

Only models/build_mesh_warp.py and the torch tests import the model; the app loads the
exported ONNX file and never imports torch. ``topology`` and ``samples`` are plain
Python/numpy and safe to import without torch, so the model is imported lazily here.
"""


def __getattr__(name: str):
    if name == "MeshWarpGenerator":
        from talkinghead_studio.warpgen.model import MeshWarpGenerator

        return MeshWarpGenerator
    raise AttributeError(f"module 'talkinghead_studio.warpgen' has no attribute {name!r}")
