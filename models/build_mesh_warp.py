"""Rebuild models/mesh_warp.onnx from talkinghead_studio/warpgen (needs the "train" extra).

    python models/build_mesh_warp.py            # writes mesh_warp.onnx, its sampling
                                                # companion and the companion's portrait
                                                # stage, and mesh_warp.onnx.sha256
    python models/build_mesh_warp.py --check    # rebuild to a temp folder, compare outputs

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
from talkinghead_studio.warpgen.export import INPUTS as INPUT_ORDER  # noqa: E402
from talkinghead_studio.warpgen.export import (  # noqa: E402
    RESOLUTIONS, companion_path, export_onnx, stage_path)

TARGET = HERE / "mesh_warp.onnx"
COMPANION = companion_path(TARGET)
STAGE = stage_path(TARGET)


def check_topology() -> None:
    try:
        derived = topology.derive_face_triangles()
    except ImportError:
        print("mediapipe not installed: skipping the triangulation check")
        return
    if [tuple(t) for t in derived] != [tuple(t) for t in topology.FACE_TRIANGLES]:
        raise SystemExit("FACE_TRIANGLES differ from the installed MediaPipe tessellation")


def session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def reference_runs(path: Path) -> dict[tuple[int, str], list[np.ndarray]]:
    """Outputs of the ONNX file for every reference case at both resolutions: the
    contract's [image, mask] and, appended, the companion's frame composed by OpenCV
    (as float [0,1], 1x3xRxR)."""
    from talkinghead_studio.inference.sampling import CompanionRunner, compose
    from talkinghead_studio.warpgen import samples

    sess = session(path)
    companion = CompanionRunner(companion_path(path), session,
                                dict(sess.get_modelmeta().custom_metadata_map))
    results = {}
    for size in RESOLUTIONS:
        crop, lm = samples.astronaut(size)
        for name, drv in samples.reference_cases(lm).items():
            feeds = samples.feeds(crop, lm, drv)
            image, _ = compose(companion.run(feeds), crop, None, companion.coarse)
            composed = image.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
            results[size, name] = sess.run(["image", "mask"], feeds) + [composed]
    return results


def check_against_torch(path: Path) -> tuple[float, float]:
    """(mean, 99.9th percentile) of |onnx - torch| over every reference case, in [0,1]
    image units. Exact equality is not expected: where two triangles tie in depth or a
    pixel sits exactly between the two jaws, float rounding may pick the other one."""
    import torch

    from talkinghead_studio.warpgen import samples
    from talkinghead_studio.warpgen.model import MeshWarpGenerator

    model = MeshWarpGenerator().eval()
    diffs = []
    for (size, name), got in reference_runs(path).items():
        crop, lm = samples.astronaut(size)
        inputs = samples.feeds(crop, lm, samples.reference_cases(lm)[name])
        with torch.no_grad():
            expected = model(*(torch.from_numpy(inputs[k]) for k in INPUT_ORDER))
        diffs += [np.abs(a - b.numpy()).ravel() for a, b in zip(got[:2], expected)]
    every = np.concatenate(diffs)
    return float(every.mean()), float(np.percentile(every, 99.9))


def companion_agreement(path: Path) -> tuple[float, float]:
    """(worst mean, worst max) |companion composed - image| over the reference cases,
    [0,1] units."""
    runs = reference_runs(path).values()
    return (max(float(np.abs(r[2] - r[0]).mean()) for r in runs),
            max(float(np.abs(r[2] - r[0]).max()) for r in runs))


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
            fresh = reference_runs(export_onnx(Path(tmp) / TARGET.name))
        shipped = reference_runs(TARGET)
        diff = max(float(np.abs(a - b).max()) for key in fresh
                   for a, b in zip(fresh[key], shipped[key]))
        print(f"fresh export vs shipped file: max |diff| = {diff:.2e}")
        raise SystemExit(0 if diff < 1e-5 else 1)
    export_onnx(TARGET)
    mean, p999 = check_against_torch(TARGET)
    if mean > 1e-3 or p999 > 2.0 / 255:
        raise SystemExit(f"ONNX output differs from torch: mean {mean:.2e}, p99.9 {p999:.2e}")
    worst = companion_agreement(TARGET)
    if worst[0] > 0.5 / 255 or worst[1] > 4.0 / 255:
        raise SystemExit(f"companion + OpenCV differs from the main file: {worst}")
    lines = [f"{sha256(path)}  {path.name}\n" for path in (TARGET, COMPANION, STAGE)]
    (HERE / "mesh_warp.onnx.sha256").write_text("".join(lines))
    print(f"wrote {TARGET} ({TARGET.stat().st_size / 1024:.0f} KiB), {COMPANION.name} "
          f"({COMPANION.stat().st_size / 1024:.0f} KiB) and {STAGE.name} "
          f"({STAGE.stat().st_size / 1024:.0f} KiB); onnx vs torch |diff| mean "
          f"{mean:.1e}, p99.9 {p999:.1e}; companion+OpenCV vs onnx |diff| mean "
          f"{worst[0] * 255:.2f}/255, max {worst[1] * 255:.0f}/255")


if __name__ == "__main__":
    main()
