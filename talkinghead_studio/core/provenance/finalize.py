"""The last step of every export: make sure the finished file carries its label and its
content credentials."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from .metadata import ProvenanceRecord, add_gif_comment, read_metadata
from .signing import c2pa_available, sign_file

log = logging.getLogger(__name__)


def finalize_file(path: "str | os.PathLike[str]", record: ProvenanceRecord,
                  sign: bool = True) -> None:
    """Label and sign a finished MP4 / GIF / PNG in place (each step atomic).

    * A GIF that carries no record yet (ffmpeg cannot write GIF comments) gets our
      comment block inserted, without re-encoding.
    * With ``sign`` and c2pa-python installed, C2PA content credentials are embedded.
      Without c2pa-python the file stays unsigned and a warning is logged: the watermark
      and metadata still label it.

    Call it on the complete file, ideally on the temporary file before it is renamed over
    the user's target. Raises SigningError (a StudioError) if signing fails; the file is
    then complete, labelled and unsigned.
    """
    path = Path(path)
    with path.open("rb") as handle:
        is_gif = handle.read(6) in (b"GIF87a", b"GIF89a")
    if is_gif and read_metadata(path) is None:
        add_gif_comment(path, record)
    if not sign:
        return
    if not c2pa_available():
        log.warning("c2pa-python is not installed: %s is labelled and watermarked but not "
                    "signed.", path.name)
        return
    sign_file(path, record)
