"""Command line: a thin adapter from arguments to config dataclasses to the core.

Every user-actionable problem surfaces as one line on stderr and a non-zero exit
code; a traceback appears only for real bugs (and then with a request to report it).
"""
from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from talkinghead_studio import __version__
from talkinghead_studio.background import in_background
from talkinghead_studio.errors import RenderCancelled, StudioError

EXIT_USAGE = 2


def _add_motion_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("motion")
    group.add_argument("--mode", choices=["relative", "absolute"], default="relative",
                       help="relative (default): the portrait keeps its face and follows the "
                            "driver's motion; absolute: it takes the driver's face shape")
    group.add_argument("--neutral", default="auto",
                       help="driver reference frame: 'auto' (most neutral frontal frame in the "
                            "first 10 s), 'first', or a frame number")
    group.add_argument("--camera", choices=["fixed", "steady", "follow"], default="fixed",
                       help="the driver's camera motion (read from its background). fixed "
                            "(default): not read; the head moves as the face moved in the "
                            "video, camera moves included. steady: taken out of the head's "
                            "motion, the frame stays still (a handheld driver). follow: the "
                            "head keeps its place and the whole frame pans and zooms as the "
                            "driver's camera did")
    group.add_argument("--smoothing", type=float, default=0.5,
                       help="landmark smoothing 0..1 (0 = off; default 0.5)")
    for region in ("pose", "brows", "eyes", "mouth"):
        group.add_argument(f"--{region}-strength", type=float, default=1.0, metavar="S",
                           help=f"{region} motion strength 0..1.5 (default 1.0)")


def _add_render_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("rendering")
    group.add_argument("--size", type=int, default=256,
                       help="generator working resolution: 256 or 512 for the shipped "
                            "generator; a trained model may support others (default 256)")
    group.add_argument("--provider", choices=["auto", "cpu", "cuda"], default="auto",
                       help="ONNX execution provider (default auto: CUDA if usable, else CPU)")
    group.add_argument("--model", type=Path, default=None,
                       help="an ONNX generator following models/README.md (default: the "
                            "shipped mesh-warp generator)")
    group.add_argument("--max-frames", type=int, default=None,
                       help="render at most this many driver frames")
    group.add_argument("--max-side", type=int, default=2048,
                       help="downscale portraits larger than this on the long side")
    group.add_argument("--glasses", choices=("auto", "off"), default="auto",
                       help="auto: find glasses frames in the portrait and keep them rigid "
                            "with the head (they would bend with the lids); off: warp them "
                            "like the rest of the face")


def _add_export_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("export")
    group.add_argument("--format", choices=["mp4", "png", "gif"], default=None,
                       help="output format (default: from the output's extension; a path "
                            "without extension with --format png is a folder of PNGs)")
    group.add_argument("--crf", type=int, default=18, help="H.264 quality, lower is better")
    group.add_argument("--no-audio", action="store_true", help="do not copy the driver's audio")
    group.add_argument("--no-watermark", action="store_true",
                       help="do not embed the invisible provenance watermark (the choice is "
                            "recorded in the file's metadata)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="talkinghead-studio",
        description="Animate a still portrait from the motion of another face. "
                    "With no command, opens the desktop app.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details")
    commands = parser.add_subparsers(dest="command")

    render = commands.add_parser("render", help="render PORTRAIT animated by DRIVER to a file")
    render.add_argument("portrait", type=Path, help="portrait image (PNG, JPEG, ...)")
    render.add_argument("driver", type=Path, help="driving video, or a motion track (.npz)")
    render.add_argument("-o", "--output", type=Path, required=True,
                        help="output file (.mp4, .gif) or folder for --format png")
    render.add_argument("--quiet", action="store_true", help="no progress bar")
    render.add_argument("--reference", type=Path, action="append", default=[], metavar="IMG",
                        help="an extra view of the same face (mouth open, eyes closed, ...); "
                             "repeat for several. Used where it matches the target better")
    _add_motion_options(render)
    _add_render_options(render)
    _add_export_options(render)

    track = commands.add_parser("track", help="record a driver video's motion to a .npz track")
    track.add_argument("driver", type=Path, help="driving video")
    track.add_argument("-o", "--output", type=Path, required=True, help="output .npz")
    track.add_argument("--max-frames", type=int, default=None)
    track.add_argument("--quiet", action="store_true")

    verify = commands.add_parser("verify", help="check a file for our provenance marks")
    verify.add_argument("file", type=Path)
    verify.add_argument("--json", action="store_true", help="machine-readable output")

    gui = commands.add_parser("gui", help="open the desktop app")
    gui.add_argument("portrait", nargs="?", default=None)
    gui.add_argument("driver", nargs="?", default=None)
    gui.add_argument("--model", type=Path, default=None, metavar="PATH",
                     help="generator .onnx to use instead of the shipped one")

    try:
        from talkinghead_studio.training.cli import add_train_subcommands
    except ImportError:
        add_train_subcommands = None
    if add_train_subcommands is not None:
        add_train_subcommands(commands)
    return parser


def _motion_settings(args):
    from talkinghead_studio.config import MotionSettings, RegionStrengths

    neutral, neutral_frame = "auto", None
    if args.neutral == "first":
        neutral = "first"
    elif args.neutral != "auto":
        try:
            neutral_frame = int(args.neutral)
        except ValueError:
            raise StudioError("--neutral takes 'auto', 'first' or a frame number.") from None
    strengths = RegionStrengths(
        pose=args.pose_strength, brows=args.brows_strength,
        eyes=args.eyes_strength, mouth=args.mouth_strength)
    for name, value in vars(strengths).items():
        if not 0.0 <= value <= 1.5:
            raise StudioError(f"--{name}-strength must be between 0 and 1.5, not {value}.")
    if not 0.0 <= args.smoothing <= 1.0:
        raise StudioError("--smoothing must be between 0 and 1.")
    return MotionSettings(mode=args.mode, neutral=neutral, neutral_frame=neutral_frame,
                          strengths=strengths, smoothing=args.smoothing, camera=args.camera)


def _export_format(args) -> str:
    if args.format:
        return args.format
    suffix = args.output.suffix.lower()
    if suffix in (".mp4", ".gif"):
        return suffix[1:]
    if suffix in ("", ".png") and args.output.suffix == "":
        return "png"
    raise StudioError(
        f"Cannot tell the output format from '{args.output.name}'. Use a .mp4 or .gif "
        f"name, or --format png with a folder name.")


def _progress_bar(total_hint: int, quiet: bool, unit: str = "frame"):
    from tqdm import tqdm

    return tqdm(total=total_hint or None, unit=unit, disable=quiet, dynamic_ncols=True,
                file=sys.stderr, bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} "
                "[{elapsed}<{remaining}, {rate_fmt}]")


def _open_generator(model, provider):
    # Imported here, on the background thread, so the main thread's imports go on.
    from talkinghead_studio.inference.session import open_generator

    return open_generator(model, provider)


def _start_driver(path, motion, max_frames):
    from talkinghead_studio.core.driver import start_driver

    return start_driver(path, motion, max_frames, 0)


def cmd_render(args) -> int:
    # Opening the generator (~0.5 s of onnxruntime work, which releases the GIL) overlaps
    # the imports below (~0.4 s on one core); so does opening the driver and tracking its
    # first seconds, which no frame can wait less for (the neutral frame is picked from
    # them). Errors of both surface where the render would have met them, after the
    # input checks.
    opening = in_background(_open_generator, args.model, args.provider,
                            name="generator-open")
    motion = _motion_settings(args)
    starting = in_background(_start_driver, args.driver, motion, args.max_frames,
                             name="driver-start")
    import cv2

    from talkinghead_studio.config import ExportSettings, RenderSettings
    from talkinghead_studio.core.pipeline import RenderJob, render
    from talkinghead_studio.core.video import check_output_path

    # The render already keeps every core busy with its own threads (one frame per core
    # in the generator pool); OpenCV splitting each resize/remap over the cores on top
    # only adds hand-offs (measured at 512 px: ~0.5 CPU-s less per 221-frame clip).
    cv2.setNumThreads(1)

    # Refuse to overwrite an input before anything is written.
    check_output_path(args.output, [args.portrait, args.driver, *args.reference],
                      allow_folder=True)
    job = RenderJob(
        portrait=args.portrait, driver=args.driver, output=args.output,
        motion=motion,
        render=RenderSettings(size=args.size, provider=args.provider, model_path=args.model,
                              max_side=args.max_side, max_frames=args.max_frames,
                              rigid_glasses=args.glasses == "auto"),
        export=ExportSettings(format=_export_format(args), crf=args.crf,
                              keep_audio=not args.no_audio, watermark=not args.no_watermark),
        references=tuple(args.reference))
    bar = _progress_bar(0, args.quiet)
    cancel = threading.Event()

    def on_progress(p):
        if bar.total != p.total:
            bar.total = p.total
        bar.update(p.done - bar.n)

    try:
        result = render(job, progress=on_progress, cancel=cancel, generator_loading=opening,
                        driver_starting=starting)
    except KeyboardInterrupt:
        cancel.set()
        raise RenderCancelled("Render cancelled; no file was written.") from None
    finally:
        bar.close()
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if result.missing_driver_faces:
        print(f"note: no face in {result.missing_driver_faces} driver frame(s); their motion "
              f"was interpolated from the neighbouring frames.", file=sys.stderr)
    print(f"wrote {result.output} ({result.frames} frames at {result.fps:.3g} fps, "
          f"{result.frames / max(result.seconds, 1e-6):.1f} frames/s on {result.provider})")
    return 0


def cmd_track(args) -> int:
    from talkinghead_studio.core.track import extract_track
    from talkinghead_studio.core.video import check_output_path

    output = args.output if args.output.suffix else args.output.with_suffix(".npz")
    check_output_path(output, [args.driver])
    bar = _progress_bar(0, args.quiet)

    def on_progress(done, total):
        bar.total = total
        bar.update(done - bar.n)

    try:
        track = extract_track(args.driver, progress=on_progress, max_frames=args.max_frames)
    finally:
        bar.close()
    track.save(output)
    print(f"wrote {output} ({len(track)} frames, {track.fps:.3g} fps, "
          f"{track.missing_count} without a face)")
    return 0


def cmd_verify(args) -> int:
    from talkinghead_studio.core.provenance import run_verify_cli

    return run_verify_cli(str(args.file), as_json=args.json)


def cmd_gui(args) -> int:
    from talkinghead_studio.qt.app import run_app

    return run_app(getattr(args, "portrait", None), getattr(args, "driver", None),
                   model_path=getattr(args, "model", None))


COMMANDS = {"render": cmd_render, "track": cmd_track, "verify": cmd_verify, "gui": cmd_gui}


def main(argv: list[str] | None = None) -> int:
    import multiprocessing

    multiprocessing.freeze_support()
    parser = build_parser()
    args = parser.parse_args(argv)
    from talkinghead_studio.logsetup import configure_logging

    configure_logging(args.verbose)
    command = args.command or "gui"
    handler = COMMANDS.get(command) or getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(handler(args) or 0)
    except StudioError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory. Try --size 256 or a smaller portrait (--max-side).",
              file=sys.stderr)
        return 1
    except Exception as error:  # a bug, not bad input: say so, details behind -v
        if args.verbose:
            raise
        print(f"error: unexpected internal error ({type(error).__name__}: {error}). "
              f"Run again with -v for details and please report it.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
