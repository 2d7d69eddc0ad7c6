"""Process-wide logging set-up for the CLI and the GUI (never called by library code)."""
from __future__ import annotations

import logging
import os
import sys


def silence_native_stderr() -> None:
    """Send C/C++ libraries' stderr chatter to /dev/null; keep Python's stderr visible.

    MediaPipe (absl) and onnxruntime write start-up warnings straight to file
    descriptor 2 from their own threads, which users read as errors. We move Python's
    ``sys.stderr`` onto a duplicate of the real stderr, then point descriptor 2 at
    /dev/null. Our messages, tracebacks and progress bars still reach the terminal.
    Set TALKINGHEAD_STUDIO_DEBUG=1 to keep the native logs.
    """
    if os.environ.get("TALKINGHEAD_STUDIO_DEBUG") or getattr(silence_native_stderr, "done", False):
        return
    try:
        sys.stderr.flush()
        real_stderr = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except OSError:
        return  # no usable stderr (e.g. a windowed app on Windows): nothing to silence
    sys.stderr = os.fdopen(real_stderr, "w", buffering=1, encoding="utf-8", errors="replace")
    silence_native_stderr.done = True


def configure_logging(verbose: bool) -> None:
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not verbose:
        silence_native_stderr()
    # After the redirection: a handler made before it would keep writing to descriptor
    # 2, now /dev/null, and every warning of ours would vanish (they did, until then).
    # Libraries' warnings stay out of the way unless asked for (imageio-ffmpeg warns
    # "no frames written" for every render stopped by an input error, after our
    # one-line message); ours are for the user.
    logging.basicConfig(level=logging.INFO if verbose else logging.ERROR,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("talkinghead_studio").setLevel(
        logging.INFO if verbose else logging.WARNING)
