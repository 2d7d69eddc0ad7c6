"""Milliseconds per frame of an ONNX generator (default: the shipped mesh warp).

    python benchmarks/generator_speed.py [--model PATH] [--threads 1] [--runs 50]
                                         [--profile]

Feeds the astronaut sample portrait (resources/portraits/astronaut.png) at 256 and 512
with driving landmarks that open the mouth, half-close the eyes and turn the head a
little, so every branch of the warp does real work. Prints wall-clock median, 90th
percentile and minimum ms/frame per resolution, and the process CPU time per frame
(which, unlike wall time, barely moves when other jobs share the machine), for two
ways of producing the same uint8 frame, as the app does (OnnxGenerator.render):
"in-graph" runs the contract file and converts its float ``image``; "companion" runs
the sampling companion and finishes the frame with OpenCV (the app's CPU path).
``--profile`` adds onnxruntime's per-operator totals for the contract file.
First it prints how long opening the model takes (median of three fresh opens), the
app's way on the CPU and the contract file's own session.
CPU provider only: this is the number the 2-core target machine cares about.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def portrait_inputs(size: int) -> dict[str, np.ndarray]:
    """Contract feeds for the astronaut crop at ``size`` with an expressive driving face:
    jaw dropped, lids 60 % closed, head turned 6 degrees and shifted."""
    from talkinghead_studio.warpgen import samples

    crop, lm = samples.portrait("astronaut", size)
    return samples.feeds(crop, lm, samples.reference_cases(lm)["all"])


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
    times, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        session.run(["image"], feeds)
        times.append((time.perf_counter() - start) * 1000.0)
        cpu.append((time.process_time() - start_cpu) * 1000.0)
    if profile:
        print_profile(session.end_profiling())
    return times, cpu


def time_render(model: Path, size: int, threads: int, runs: int, companion: bool
                ) -> tuple[list[float], list[float]]:
    """Wall and CPU ms per OnnxGenerator.render call (uint8 frame out)."""
    from talkinghead_studio.inference.session import OnnxGenerator, SessionOptions
    from talkinghead_studio.warpgen import samples

    generator = OnnxGenerator(model, SessionOptions("cpu", threads, use_companion=companion))
    if companion and not generator.uses_companion:
        raise SystemExit(f"{model.name} has no usable sampling companion")
    crop, lm = samples.portrait("astronaut", size)
    feeds = portrait_inputs(size)
    for _ in range(5):
        generator.render(feeds, crop, None)
    times, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        generator.render(feeds, crop, None)
        times.append((time.perf_counter() - start) * 1000.0)
        cpu.append((time.process_time() - start_cpu) * 1000.0)
    return times, cpu


def time_open(model: Path, threads: int, repeats: int = 3) -> tuple[float, float]:
    """Median seconds to open the model as the app does on the CPU (the companion's
    session; the contract file's header is only read) and to open the contract file's
    own session, over ``repeats`` fresh opens each."""
    from talkinghead_studio.inference.session import OnnxGenerator, SessionOptions

    def seconds(options) -> float:
        start = time.perf_counter()
        OnnxGenerator(model, options)   # without the companion it opens the file's session
        return time.perf_counter() - start

    app = [seconds(SessionOptions("cpu", threads)) for _ in range(repeats)]
    main_file = [seconds(SessionOptions("cpu", threads, use_companion=False))
                 for _ in range(repeats)]
    return statistics.median(app), statistics.median(main_file)


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
    parser.add_argument("--threads", type=int, default=1,
                        help="intra-op threads per run (the app uses 1)")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    print(f"{args.model.name}: onnxruntime CPU, intra_op_num_threads={args.threads}, "
          f"{args.runs} runs")
    app_open, main_open = time_open(args.model, args.threads)
    print(f"  opening: {app_open:.2f} s as the app does on the CPU (companion session), "
          f"{main_open:.2f} s for the contract file's own session")
    for size in args.sizes:
        if args.profile:
            time_model(args.model, size, args.threads, args.runs, True)
        for label, companion in (("in-graph ", False), ("companion", True)):
            times, cpu = time_render(args.model, size, args.threads, args.runs, companion)
            q90 = statistics.quantiles(times, n=10)[-1]
            print(f"  {size}x{size} {label}: median {statistics.median(times):6.2f} ms/frame "
                  f"(p90 {q90:6.2f}, min {min(times):6.2f}; "
                  f"CPU time {statistics.median(cpu):6.2f} ms/frame)")
    print(f"  machine load average (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
          f"cores")


if __name__ == "__main__":
    main()
