"""Milliseconds per frame of an ONNX generator (default: the shipped mesh warp).

    python benchmarks/generator_speed.py [--model PATH] [--threads 2] [--runs 50]
                                         [--profile]

Feeds the astronaut sample portrait (resources/portraits/astronaut.png) at 256 and 512
with driving landmarks that open the mouth, half-close the eyes and turn the head a
little, so every branch of the warp does real work. Prints median and 90th percentile
ms/frame per resolution; ``--profile`` adds onnxruntime's per-operator totals.
CPU provider only: this is the number the 2-core target machine cares about.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def portrait_inputs(size: int) -> dict[str, np.ndarray]:
    """Contract feeds for the astronaut crop at ``size`` with an expressive driving face."""
    from talkinghead_studio.core.crop import crop_image, face_crop_box, to_crop_units
    from talkinghead_studio.core.images import load_portrait
    from talkinghead_studio.core.landmarks import FaceMeshDetector

    image = load_portrait(ROOT / "resources" / "portraits" / "astronaut.png").rgb
    with FaceMeshDetector("image") as detector:
        points = detector.detect(image).points
    box = face_crop_box(points)
    crop = crop_image(image, box, size)
    src = to_crop_units(points, box)
    drv = expressive(src)
    tensor = crop.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    return {"source_image": tensor, "source_landmarks": src[None],
            "driving_landmarks": drv[None], "source_matte": np.ones((1, 1, size, size),
                                                                    np.float32),
            "background_image": tensor.copy()}


def expressive(src: np.ndarray) -> np.ndarray:
    """Open the jaw, lower the upper lids half way, rotate the head by 6 degrees."""
    from talkinghead_studio.core import face_regions as fr

    drv = src.copy()
    mouth_y = src[list(fr.LIPS_INNER_UPPER), 1].max()
    jaw = src[:, 1] > mouth_y
    drv[jaw, 1] += 0.04
    for upper, lower in ((fr.RIGHT_EYE_UPPER, fr.RIGHT_EYE_LOWER),
                         (fr.LEFT_EYE_UPPER, fr.LEFT_EYE_LOWER)):
        drv[list(upper), 1] += 0.5 * (src[list(lower), 1] - src[list(upper), 1])
    centre = src[:, :2].mean(0)
    a = np.deg2rad(6.0)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    drv[:, :2] = (drv[:, :2] - centre) @ rot.T + centre + np.array([0.01, 0.0])
    return drv.astype(np.float32)


def time_model(model: Path, size: int, threads: int, runs: int, profile: bool) -> list[float]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if profile:
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tempfile.gettempdir()) / f"mesh_warp_{size}")
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    declared = {i.name for i in session.get_inputs()}
    feeds = {k: v for k, v in portrait_inputs(size).items() if k in declared}
    for _ in range(5):
        session.run(["image"], feeds)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(["image"], feeds)
        times.append((time.perf_counter() - start) * 1000.0)
    if profile:
        print_profile(session.end_profiling())
    return times


def print_profile(path: str, top: int = 15) -> None:
    events = json.loads(Path(path).read_text())
    totals: dict[str, float] = {}
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            op = event["args"].get("op_name", "?")
            totals[op] = totals.get(op, 0.0) + event["dur"] / 1000.0
    runs = sum(1 for e in events if e.get("name") == "model_run")
    for op, ms in sorted(totals.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    {op:<22s} {ms / max(runs, 1):7.3f} ms/run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "mesh_warp.onnx")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    print(f"{args.model.name}: onnxruntime CPU, intra_op_num_threads={args.threads}, "
          f"{args.runs} runs")
    for size in args.sizes:
        times = time_model(args.model, size, args.threads, args.runs, args.profile)
        q90 = statistics.quantiles(times, n=10)[-1]
        print(f"  {size}x{size}: median {statistics.median(times):6.2f} ms/frame "
              f"(p90 {q90:6.2f}, min {min(times):6.2f})")


if __name__ == "__main__":
    main()
