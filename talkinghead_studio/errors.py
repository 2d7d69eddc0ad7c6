"""Typed errors whose messages say what went wrong and what to do.

The CLI prints ``str(error)`` on one line and exits non-zero; the GUI shows it in a
dialog. Anything that is *not* a StudioError is a bug and gets a traceback behind
"Details".
"""
from __future__ import annotations


class StudioError(Exception):
    """Base class for errors a user can act on. The message is the whole story."""

    exit_code = 2


class StudioWarning(UserWarning):
    """Something the user should know (a capped size, several faces), not an error."""


class InputFileError(StudioError):
    """A file the user named is missing, unreadable, or of the wrong kind."""


class UnreadableImage(InputFileError):
    pass


class UnreadableVideo(InputFileError):
    pass


class NoFaceFound(StudioError):
    pass


class OutputPathError(StudioError):
    """The output cannot be written where the user asked (read-only, same as an input)."""


class GeneratorContractError(StudioError):
    """An ONNX model does not follow the generator contract (models/README.md)."""


class ProviderError(StudioError):
    """An ONNX execution provider was requested that this machine cannot run."""


class RenderCancelled(StudioError):
    """The user cancelled a render; nothing was written."""

    exit_code = 130


class NoCameraFound(StudioError):
    pass
