"""``talkinghead-studio train preprocess|meta|finetune|export``.

Hook for the main CLI: ``add_train_subcommands(subparsers)`` adds a ``train`` command
whose stages set ``args.handler``; call ``args.handler(args)`` and exit with the int
it returns. Handlers raise StudioError subclasses for anything a user can fix (no
videos, no face, no torch, out of GPU memory); the main CLI prints the message.

Nothing here imports torch at module level, so ``talkinghead-studio --help`` works
without the ``train`` extra. ``preprocess`` needs no torch at all.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from talkinghead_studio.errors import StudioError
from talkinghead_studio.training.errors import INSTALL_HINT, MissingTrainExtra, OutOfGpuMemory


def _require_torch(with_onnx: bool = False) -> None:
    """Raise MissingTrainExtra (one line, with the install command) if torch is absent."""
    try:
        import torch  # noqa: F401
        if with_onnx:
            import onnx  # noqa: F401
    except ImportError as exc:
        raise MissingTrainExtra(
            f"The training commands need the optional 'train' extra ({exc.name} is not "
            f"installed): {INSTALL_HINT}") from None


def _out_of_memory(exc: BaseException, advice: str) -> OutOfGpuMemory:
    return OutOfGpuMemory(f"Out of GPU memory ({str(exc).splitlines()[0][:120]}). {advice}")


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError)


def add_train_subcommands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``train`` and its four stages to the main CLI's subparsers."""
    train = subparsers.add_parser(
        "train", help="meta-learn and fine-tune neural talking-head generators "
                      "(optional 'train' extra)",
        description="The paper's system (Zakharov et al. 2019): preprocess videos, "
                    "meta-learn, fine-tune on a new person, export to ONNX. Needs the "
                    f"optional extra: {INSTALL_HINT}")
    stages = train.add_subparsers(dest="train_stage", metavar="STAGE", required=True)
    _add_preprocess(stages)
    _add_meta(stages)
    _add_finetune(stages)
    _add_export(stages)
    return train


def _add_preprocess(stages) -> None:
    p = stages.add_parser(
        "preprocess", help="videos -> cache of face crops and landmarks (resumable)",
        description="Find every .mp4 under VIDEOS (VoxCeleb2's id/video/utterance.mp4 or "
                    "any layout), detect MediaPipe landmarks, crop the face as the app does, "
                    "and write a sharded cache. Rerun the same command to resume.")
    p.add_argument("videos", type=Path, help="folder of .mp4 videos")
    p.add_argument("--cache", type=Path, required=True, help="cache folder to create or resume")
    p.add_argument("--resolution", type=int, default=256, help="cached crop size, px (256)")
    p.add_argument("--max-frames", type=int, default=64, help="frames kept per video (64)")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (1)")
    p.add_argument("--videos-per-shard", type=int, default=32, help="unit of work (32)")
    p.set_defaults(handler=handle_preprocess)


def _add_loss_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--vgg19", type=Path, default=None, metavar="PTH",
                   help="torchvision-layout VGG19 state dict for the content loss")
    p.add_argument("--vggface", type=Path, default=None, metavar="PTH",
                   help="VGG16-layout VGGFace state dict for the content loss (RGB 0-255 input)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--amp", choices=("auto", "off", "bf16", "fp16"), default="auto",
                   help="mixed precision: auto = bf16 on GPUs that have it, off on the CPU")
    p.add_argument("--seed", type=int, default=0)


def _add_meta(stages) -> None:
    p = stages.add_parser(
        "meta", help="meta-learn E, G, D on a cache (torchrun for several GPUs)",
        description="The paper's meta-learning stage. One GPU: run as is. Several: "
                    "torchrun --nproc_per_node=N -m talkinghead_studio.training.cli meta ...")
    p.add_argument("--cache", type=Path, required=True)
    p.add_argument("--run-dir", type=Path, required=True,
                   help="folder for checkpoints and logs")
    p.add_argument("--resume", action="store_true", help="continue the checkpoint in --run-dir")
    p.add_argument("--exclude", action="append", default=[], metavar="NAME",
                   help="hold out a video (id/video/utterance) or a whole folder such as "
                        "an identity (id00017); repeatable")
    p.add_argument("--resolution", type=int, default=256)
    p.add_argument("--channels", type=int, default=64, help="base channel count (64)")
    p.add_argument("--max-channels", type=int, default=512)
    p.add_argument("--embed-dim", type=int, default=512, help="size of e and of W's rows (512)")
    p.add_argument("--res-blocks", type=int, default=5,
                   help="AdaIN residual blocks at G's bottleneck (5)")
    p.add_argument("--k", type=int, default=8, help="frames per video for the embedder (8)")
    p.add_argument("--batch-size", type=int, default=8, help="videos per step per GPU (8)")
    p.add_argument("--steps", type=int, default=1_000_000, help="stop after this many steps")
    p.add_argument("--minutes", type=float, default=None, help="stop after this wall time")
    p.add_argument("--lr-g", type=float, default=5e-5, help="embedder and generator (5e-5)")
    p.add_argument("--lr-d", type=float, default=2e-4, help="discriminator (2e-4)")
    p.add_argument("--workers", type=int, default=4, help="data loader processes per GPU")
    p.add_argument("--save-every", type=int, default=1000, help="checkpoint interval, steps")
    p.add_argument("--log-every", type=int, default=50, help="log.csv interval, steps")
    p.add_argument("--sample-every", type=int, default=500,
                   help="contact sheet interval, steps (run/samples/)")
    p.add_argument("--tensorboard", action="store_true", help="also log to TensorBoard")
    _add_loss_options(p)
    p.set_defaults(handler=handle_meta)


def _add_finetune(stages) -> None:
    p = stages.add_parser(
        "finetune", help="fine-tune on 1..K images of a new person",
        description="Few-shot fine-tuning: psi' = P e_hat, w' = w0 + e_hat, then G' and "
                    "D' are trained on the images for --steps steps.")
    p.add_argument("checkpoint", type=Path, help="meta-learning checkpoint (RUN/latest.pt)")
    p.add_argument("images", type=Path, nargs="+", help="1..K photos of the person")
    p.add_argument("--out", type=Path, required=True, help="person model to write (.pt)")
    p.add_argument("--name", default=None, help="name shown in the app (default: file stem)")
    p.add_argument("--steps", type=int, default=300, help="fine-tuning steps (300)")
    p.add_argument("--batch-size", type=int, default=8,
                   help="images per step, at most the number given (8)")
    p.add_argument("--lr-g", type=float, default=5e-5, help="generator and psi' (5e-5)")
    p.add_argument("--lr-d", type=float, default=2e-4, help="discriminator and w' (2e-4)")
    _add_loss_options(p)
    p.set_defaults(handler=handle_finetune)


def _add_export(stages) -> None:
    p = stages.add_parser(
        "export", help="fine-tuned person model -> ONNX generator for the app",
        description="Export G' with psi' baked in, under the generator contract; checks "
                    "the contract and torch/onnxruntime parity.")
    p.add_argument("person", type=Path, help="person model from `train finetune`")
    p.add_argument("--out", type=Path, required=True, help="ONNX file to write")
    p.add_argument("--name", default=None, help="name shown in the app (default: as tuned)")
    p.set_defaults(handler=handle_export)


# ---------------------------------------------------------------------------- handlers
def handle_preprocess(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from talkinghead_studio.training.cache import PreprocessSettings, preprocess

    settings = PreprocessSettings(resolution=args.resolution, max_frames=args.max_frames,
                                  videos_per_shard=args.videos_per_shard)
    bar = None
    totals = {"videos": 0, "frames": 0, "no_face": 0, "skipped": []}

    def on_shard(summary, shard_count: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=shard_count, unit="shard", desc="preprocess")
        totals["videos"] += summary.videos
        totals["frames"] += summary.frames
        totals["no_face"] += summary.frames_without_face
        totals["skipped"] += summary.skipped
        bar.set_postfix(videos=totals["videos"], frames=totals["frames"],
                        skipped=len(totals["skipped"]))
        bar.update(1)

    try:
        preprocess(args.videos, args.cache, settings, workers=args.workers, on_shard=on_shard)
    finally:
        if bar is not None:
            bar.close()
    print(f"Cache {args.cache}: {totals['videos']} videos, {totals['frames']} frames; "
          f"{totals['no_face']} sampled frames had no face and were left out.")
    for name, reason in totals["skipped"][:10]:
        print(f"  skipped {name}: {reason}")
    if len(totals["skipped"]) > 10:
        print(f"  ... and {len(totals['skipped']) - 10} more skipped videos")
    return 0


def _loss_config(args: argparse.Namespace):
    from talkinghead_studio.training.config import LossConfig

    return LossConfig(vgg19_weights=str(args.vgg19) if args.vgg19 else None,
                      vggface_weights=str(args.vggface) if args.vggface else None)


def _fallback_note(loss) -> None:
    if not (loss.vgg19_weights or loss.vggface_weights):
        print("No --vgg19/--vggface weights given: using the pixel-pyramid content loss "
              "(see training/README.md); expect softer detail than with VGG.")


def _meta_configs(args: argparse.Namespace):
    from talkinghead_studio.training.config import MetaConfig, NetworkConfig

    net = dataclasses.replace(
        NetworkConfig.for_resolution(args.resolution, args.channels, args.max_channels),
        embed_dim=args.embed_dim, generator_res_blocks=args.res_blocks)
    meta = MetaConfig(k=args.k, batch_size=args.batch_size, steps=args.steps,
                      minutes=args.minutes, lr_g=args.lr_g, lr_d=args.lr_d, amp=args.amp,
                      seed=args.seed, save_every=args.save_every, log_every=args.log_every,
                      sample_every=args.sample_every, workers=args.workers)
    return net, meta


def handle_meta(args: argparse.Namespace) -> int:
    _require_torch()
    import os

    from tqdm import tqdm

    from talkinghead_studio.training.meta import MetaRun, run_meta

    net, meta = _meta_configs(args)
    loss = _loss_config(args)
    main_process = int(os.environ.get("RANK", "0")) == 0
    if main_process:
        _fallback_note(loss)
    run = MetaRun(args.cache, args.run_dir, tuple(args.exclude), args.resume, args.device,
                  args.tensorboard)
    bar = tqdm(total=meta.steps, unit="step", desc="meta-learning") if main_process else None

    def on_step(step: int, scalars) -> None:
        bar.n = step
        if scalars:
            bar.set_postfix({k: f"{scalars[k]:.3f}" for k in ("g_content", "d_hinge", "g_mch")
                             if k in scalars})
        bar.refresh()

    try:
        path = run_meta(run, net, loss, meta, on_step=on_step if bar else None)
    except RuntimeError as exc:
        if _is_oom(exc):
            raise _out_of_memory(exc, "Lower --batch-size or --k, use --amp bf16/fp16, or "
                                      "a smaller --resolution.") from None
        raise
    finally:
        if bar is not None:
            bar.close()
    if main_process:
        print(f"Checkpoint: {path}")
    return 0


def handle_finetune(args: argparse.Namespace) -> int:
    _require_torch()
    from tqdm import tqdm

    from talkinghead_studio.training import finetune as ft
    from talkinghead_studio.training.config import FinetuneConfig
    from talkinghead_studio.training.meta import load_meta_checkpoint
    from talkinghead_studio.training.runtime import pick_device

    device = pick_device(args.device)
    state = load_meta_checkpoint(args.checkpoint)
    resolution = int(state["network"]["resolution"])
    images = ft.load_person_images(list(args.images), resolution)
    loss = _loss_config(args)
    _fallback_note(loss)
    cfg = FinetuneConfig(steps=args.steps, batch_size=args.batch_size, lr_g=args.lr_g,
                         lr_d=args.lr_d, amp=args.amp, seed=args.seed)
    name = args.name or args.out.stem
    bar = tqdm(total=cfg.steps, unit="step", desc=f"fine-tuning on {len(args.images)} image(s)")

    def on_step(step: int, logs) -> None:
        bar.update(1)
        if step % 10 == 0:
            bar.set_postfix(content=f"{float(logs['g_content']):.3f}",
                            d=f"{float(logs['d_hinge']):.3f}")

    try:
        models = ft.init_from_meta(state, images, device)
        ft.FewShotTuner(models, images, loss, cfg, device).run(on_step)
    except RuntimeError as exc:
        if _is_oom(exc):
            raise _out_of_memory(exc, "Lower --batch-size, or use --amp bf16/fp16.") from None
        raise
    finally:
        bar.close()
    path = ft.save_person(args.out, models, name, images, cfg.steps)
    print(f"Person model: {path}. Export it with: talkinghead-studio train export {path} "
          f"--out {Path(path).with_suffix('.onnx')}")
    return 0


def handle_export(args: argparse.Namespace) -> int:
    _require_torch(with_onnx=True)
    from talkinghead_studio.training.export import export_onnx, parity
    from talkinghead_studio.training.finetune import load_person_generator

    generator, net, state = load_person_generator(args.person)
    name = args.name or state["name"]
    path = export_onnx(generator, net, args.out, name)
    worst = parity(path, generator, net, list(state["landmarks"].numpy()))
    print(f"Wrote {path}: generator '{name}', {net.resolution} px, kind neural-fewshot; "
          f"contract check passed; max |onnxruntime - torch| = {worst:.2e}.")
    if worst > 1e-3:
        print("Warning: onnxruntime and torch differ by more than 1e-3; check the "
              "onnxruntime version before relying on this export.")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (also what torchrun runs): python -m talkinghead_studio.training.cli"""
    parser = argparse.ArgumentParser(prog="talkinghead-studio")
    commands = parser.add_subparsers(dest="command", required=True)
    add_train_subcommands(commands)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] != "train":
        argv = ["train", *argv]  # torchrun ... -m talkinghead_studio.training.cli meta ...
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except StudioError as error:
        print(f"Error: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
