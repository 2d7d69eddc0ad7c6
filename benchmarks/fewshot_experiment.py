"""Miniature, CPU-only replication of the paper's central claim (Zakharov et al. 2019):
one-shot fine-tuning that starts from meta-learned parameters beats the same
fine-tuning started from random initialisation.

  1. Preprocess the driving clips in ../shared/data/driving into a frame cache.
  2. Meta-learn E, G, D on all clips but one (held out) for a bounded wall time.
  3. One-shot: take the held-out clip's first frame; fine-tune G' and D' from
     (a) the meta-learned start, psi' = P e_hat, w' = w0 + e_hat, and
     (b) the same construction from untrained networks, same steps and settings,
     (c) both again with 10x the paper's fine-tuning learning rates, to check that
     the random start is not merely too slow at the paper's rates.
  4. Drive each G' with the landmarks of the clip's later frames; measure L1 and SSIM
     against the real frames (self-reenactment, as in the paper's evaluation).
     Reference: the source frame itself shown for every frame ("static").

Outputs go to bench_out/fewshot/ (gitignored; the clips' frames never enter the repo):
results.json, contact_sheet.png, the cache and the meta-learning run.

  .venv/bin/python benchmarks/fewshot_experiment.py            # ~15 min meta + ~5 min
  .venv/bin/python benchmarks/fewshot_experiment.py --quick    # smoke test, ~2 min
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from talkinghead_studio.training import finetune as ft  # noqa: E402
from talkinghead_studio.training.cache import (  # noqa: E402
    FrameCache, PreprocessSettings, preprocess)
from talkinghead_studio.training.config import (  # noqa: E402
    FinetuneConfig, LossConfig, MetaConfig, NetworkConfig)
from talkinghead_studio.training.meta import MetaRun, load_meta_checkpoint, run_meta  # noqa: E402
from talkinghead_studio.training.metrics import l1_per_image, ssim_per_image  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared/data/driving")
    parser.add_argument("--out", type=Path, default=REPO / "bench_out/fewshot")
    parser.add_argument("--holdout", default="tps_driving")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--max-frames", type=int, default=120)
    parser.add_argument("--meta-minutes", type=float, default=15.0)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--meta-lr-scale", type=float, default=2.0,
                        help="meta-learning rates as a multiple of the paper's 5e-5 / 2e-4; "
                             "2 gives SAGAN's 1e-4 / 4e-4, for a run of minutes, not weeks")
    parser.add_argument("--finetune-steps", type=int, default=400)
    parser.add_argument("--checkpoints", default="0,50,100,200,400",
                        help="fine-tuning steps at which to evaluate")
    parser.add_argument("--seed", type=int, default=0, help="meta-learning seed")
    parser.add_argument("--random-seeds", default="0,1,2",
                        help="initialisations of the random-start arms (their spread shows "
                             "how much of a difference is chance)")
    parser.add_argument("--quick", action="store_true", help="tiny run to test the script")
    return parser.parse_args()


def miniature_network(resolution: int) -> NetworkConfig:
    """The paper's layout at CPU scale: fewer channels, a 128-d embedding (the paper's
    512 makes E's and D's last layers dominate the step time at this size)."""
    return dataclasses.replace(
        NetworkConfig.for_resolution(resolution, base_channels=16, max_channels=128),
        embed_dim=128, generator_bottleneck=resolution // 8, generator_res_blocks=2)


def build_cache(args) -> Path:
    cache = args.out / f"cache_{args.resolution}"
    started = time.monotonic()
    settings = PreprocessSettings(resolution=args.resolution, max_frames=args.max_frames,
                                  videos_per_shard=1)
    preprocess(args.data, cache, settings, workers=2)
    print(f"cache: {cache} ({time.monotonic() - started:.0f} s)", flush=True)
    return cache


def meta_learn(args, cache: Path, net: NetworkConfig) -> tuple[Path, dict]:
    run_dir = args.out / f"meta_{args.resolution}"
    latest, info_path = run_dir / "latest.pt", run_dir / "meta_info.json"
    if latest.exists():  # reuse a finished run: the costly part
        print(f"meta: reusing {latest}", flush=True)
        if info_path.exists():
            return latest, json.loads(info_path.read_text())
        return latest, {"meta_steps": load_meta_checkpoint(latest)["step"]}
    paper = MetaConfig()
    meta = MetaConfig(k=args.k, batch_size=args.batch_size, minutes=args.meta_minutes,
                      lr_g=paper.lr_g * args.meta_lr_scale, lr_d=paper.lr_d * args.meta_lr_scale,
                      workers=0, log_every=25, sample_every=250, save_every=250, seed=args.seed)
    started = time.monotonic()
    last = {"step": 0}

    def progress(step: int, scalars) -> None:
        last["step"] = step
        if scalars is not None and step % 100 == 0:
            print(f"  meta step {step}: " + ", ".join(
                f"{k}={v:.3f}" for k, v in scalars.items() if k in ("g_content", "g_adv",
                                                                    "g_mch", "d_hinge")),
                flush=True)

    run_meta(MetaRun(cache, run_dir, exclude=(args.holdout,), device="cpu"), net,
             LossConfig(), meta, on_step=progress)
    info = {"meta_steps": last["step"], "meta_seconds": round(time.monotonic() - started, 1),
            "meta_config": dataclasses.asdict(meta)}
    info_path.write_text(json.dumps(info, indent=1))
    print(f"meta: {info['meta_steps']} steps in {info['meta_seconds']} s", flush=True)
    return latest, info


def held_out_clip(cache_path: Path, name: str):
    """(source PersonImages from frame 0, targets Nx3xRxR [0,1], landmarks Nx478x3)."""
    cache = FrameCache(cache_path)
    matches = [i for i, n in enumerate(cache.names) if n.rsplit("/", 1)[-1] == name]
    if not matches:
        raise SystemExit(f"held-out clip {name!r} is not in the cache: {cache.names}")
    video = matches[0]
    count = cache.frame_count(video)
    frames = np.stack([cache.frame(video, j) for j in range(count)])
    marks = np.stack([cache.landmarks(video, j) for j in range(count)])
    source = ft.person_images_from_arrays(frames[:1], marks[:1], (f"{name} frame 0",))
    targets = torch.from_numpy(frames[1:]).permute(0, 3, 1, 2).float() / 255.0
    return source, targets, torch.from_numpy(marks[1:])


def measure(images: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    return {"l1": float(l1_per_image(images, targets).mean()),
            "ssim": float(ssim_per_image(images, targets).mean())}


def run_arm(label: str, models: ft.PersonModels, source: ft.PersonImages,
            targets: torch.Tensor, marks: torch.Tensor, cfg: FinetuneConfig,
            checkpoints: list[int]) -> tuple[list[dict], torch.Tensor]:
    """Fine-tune one start; evaluate on the held-out frames at each checkpoint."""
    tuner = ft.FewShotTuner(models, source, LossConfig(), cfg, torch.device("cpu"))
    rows, started, renders = [], time.monotonic(), None
    for target_step in checkpoints:
        while tuner.step < target_step:
            tuner.train_step()
        renders = ft.render(models.generator, marks, models.net)
        fit = ft.render(models.generator, source.landmarks, models.net)
        row = {"arm": label, "step": tuner.step, **measure(renders, targets),
               "fit_l1": float(l1_per_image(fit, source.crops).mean()),
               "seconds": round(time.monotonic() - started, 1)}
        rows.append(row)
        print(f"  {label:>14} step {row['step']:4d}: L1 {row['l1']:.4f}  SSIM "
              f"{row['ssim']:.4f}  (fit L1 {row['fit_l1']:.4f}, {row['seconds']} s)", flush=True)
    return rows, renders


def contact_sheet(path: Path, targets: torch.Tensor, renders: dict[str, torch.Tensor],
                  count: int = 8) -> None:
    """Rows: real held-out frames, then each arm's final output for the same frames."""
    picks = np.linspace(0, targets.shape[0] - 1, count).round().astype(int)

    def strip(images: torch.Tensor) -> np.ndarray:
        chosen = images[picks].clamp(0, 1).mul(255).round().byte().numpy()
        return np.concatenate(list(chosen.transpose(0, 2, 3, 1)), axis=1)

    sheet = np.concatenate([strip(targets)] + [strip(r) for r in renders.values()], axis=0)
    sheet = cv2.resize(sheet, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def make_arms(args, checkpoint: Path, source: ft.PersonImages, net: NetworkConfig):
    """(label, seed, models, config) for every fine-tuning run of the comparison."""
    cfg = FinetuneConfig(steps=args.finetune_steps, amp="off", seed=args.seed)
    fast = dataclasses.replace(cfg, lr_g=cfg.lr_g * 10, lr_d=cfg.lr_d * 10)
    cpu = torch.device("cpu")
    state = load_meta_checkpoint(checkpoint)
    # The meta-learned start is deterministic given the checkpoint (one image, no
    # random draws), so it runs once per learning rate; random starts run per seed.
    arms = [("meta", args.seed, ft.init_from_meta(state, source, cpu), cfg),
            ("meta_lr10x", args.seed, ft.init_from_meta(state, source, cpu), fast)]
    for seed in (int(s) for s in args.random_seeds.split(",")):
        arms.append(("random", seed, ft.init_random(net, source, seed, cpu), cfg))
        arms.append(("random_lr10x", seed, ft.init_random(net, source, seed, cpu), fast))
    return arms, cfg


def summary(rows: list[dict], static: dict[str, float]) -> list[str]:
    """Markdown table: each arm at each checkpoint, mean (and range) over seeds."""
    lines = ["| start | fine-tuning steps | L1 (lower is better) | SSIM (higher is better) "
             "| runs |", "|---|---:|---:|---:|---:|"]
    order = ["meta", "random", "meta_lr10x", "random_lr10x"]
    keys = sorted({(r["arm"], r["step"]) for r in rows}, key=lambda k: (order.index(k[0]), k[1]))
    for arm, step in keys:
        group = [r for r in rows if r["arm"] == arm and r["step"] == step]
        l1, ssim = np.array([r["l1"] for r in group]), np.array([r["ssim"] for r in group])
        spread = (f" ({l1.min():.4f}-{l1.max():.4f})", f" ({ssim.min():.3f}-{ssim.max():.3f})") \
            if len(group) > 1 else ("", "")
        lines.append(f"| {arm} | {step} | {l1.mean():.4f}{spread[0]} | "
                     f"{ssim.mean():.3f}{spread[1]} | {len(group)} |")
    lines.append(f"| static (source frame repeated) | - | {static['l1']:.4f} | "
                 f"{static['ssim']:.3f} | 1 |")
    return lines


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)  # the machine is shared; one core for us
    if args.quick:
        args.out, args.meta_minutes = args.out.with_name(args.out.name + "_quick"), 0.5
        args.finetune_steps, args.checkpoints, args.max_frames = 20, "0,10,20", 24
        args.random_seeds = "0"
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    net = miniature_network(args.resolution)
    cache = build_cache(args)
    checkpoint, meta_info = meta_learn(args, cache, net)
    source, targets, marks = held_out_clip(cache, args.holdout)
    checkpoints = [int(s) for s in args.checkpoints.split(",")]
    arms, cfg = make_arms(args, checkpoint, source, net)
    rows, renders = [], {}
    for label, seed, models, arm_cfg in arms:
        arm_rows, final = run_arm(f"{label}", models, source, targets, marks, arm_cfg,
                                  checkpoints)
        rows += [dict(r, seed=seed) for r in arm_rows]
        renders.setdefault(label, final)  # the first seed of each arm goes on the sheet
    static = measure(source.crops.expand_as(targets), targets)
    contact_sheet(args.out / "contact_sheet.png", targets, renders)
    table = summary(rows, static)
    result = {"holdout": args.holdout, "eval_frames": int(targets.shape[0]),
              "network": dataclasses.asdict(net), "finetune": dataclasses.asdict(cfg),
              **meta_info, "static": static, "rows": rows, "table": table,
              "finetune_seconds": round(time.monotonic() - started, 1),
              "command": " ".join(sys.argv)}
    (args.out / "results.json").write_text(json.dumps(result, indent=1))
    print("\n".join(table))
    print(f"results: {args.out / 'results.json'}; contact sheet rows: real, "
          f"{', '.join(renders)}")


if __name__ == "__main__":
    main()
