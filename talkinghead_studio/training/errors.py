"""Typed errors of the training system. No torch import: the CLI raises these too."""
from __future__ import annotations

from talkinghead_studio.errors import StudioError

INSTALL_HINT = 'pip install -e ".[train]"'


class MissingTrainExtra(StudioError):
    """torch (or onnx) is not installed, so the training commands cannot run."""


class TrainingError(StudioError):
    """A training input or state the user can fix: bad cache, mismatched checkpoint, ..."""


class OutOfGpuMemory(TrainingError):
    """The GPU ran out of memory; the message says which settings to lower."""
