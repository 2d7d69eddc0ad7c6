"""Rebuild models/mesh_warp.onnx from talkinghead_studio/warpgen (needs the "train" extra).

    python models/build_mesh_warp.py            # writes mesh_warp.onnx and its .sha256
    python models/build_mesh_warp.py --check    # rebuild to a temp file, compare outputs

Deterministic: no weights, no randomness beyond a seeded tracing example. The build
checks the baked face triangulation against the installed MediaPipe wheel, and the
exported graph against torch at both contract resolutions.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from talkinghead_studio.warpgen import topology  # noqa: E402
from talkinghead_studio.warpgen.export import RESOLUTIONS, example_inputs, export_onnx  # noqa: E402

TARGET = HERE / "mesh_warp.onnx"


def check_topology() -> None:
    try:
        derived = topology.derive_face_triangles()
    except ImportError:
        print("mediapipe not installed: skipping the triangulation check")
        return
    if [tuple(t) for t in derived] != [tuple(t) for t in topology.FACE_TRIANGLES]:
        raise SystemExit("FACE_TRIANGLES differ from the installed MediaPipe tessellation")


def run_onnx(path: Path, inputs) -> list[np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(["image", "mask"], {n: t.numpy() for n, t in zip(names, inputs)})


def check_against_torch(path: Path) -> float:
    """Largest |onnx - torch| over both resolutions, in [0,1] image units."""
    import torch

    from talkinghead_studio.warpgen.model import MeshWarpGenerator

    model = MeshWarpGenerator().eval()
    worst = 0.0
    for size in RESOLUTIONS:
        inputs = example_inputs(size)
        with torch.no_grad():
            expected = [t.numpy() for t in model(*inputs)]
        got = run_onnx(path, inputs)
        worst = max(worst, *(float(np.abs(a - b).max()) for a, b in zip(got, expected)))
    return worst


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="export to a temporary file and compare with the shipped one")
    args = parser.parse_args()
    check_topology()
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = export_onnx(Path(tmp) / "mesh_warp.onnx")
            diff = max(float(np.abs(a - b).max()) for size in RESOLUTIONS
                       for a, b in zip(run_onnx(fresh, example_inputs(size)),
                                       run_onnx(TARGET, example_inputs(size))))
        print(f"fresh export vs shipped file: max |diff| = {diff:.2e}")
        raise SystemExit(0 if diff < 1e-5 else 1)
    export_onnx(TARGET)
    diff = check_against_torch(TARGET)
    if diff > 2e-3:
        raise SystemExit(f"ONNX output differs from torch by {diff:.2e}")
    digest = sha256(TARGET)
    (HERE / "mesh_warp.onnx.sha256").write_text(f"{digest}  mesh_warp.onnx\n")
    print(f"wrote {TARGET} ({TARGET.stat().st_size / 1024:.0f} KiB), sha256 {digest}, "
          f"onnx vs torch max |diff| {diff:.2e}")


if __name__ == "__main__":
    main()
