"""Provenance for every export: synthetic-media metadata, an invisible watermark, C2PA
content credentials, and `verify`. See docs/provenance.md for what each proves.

watermark.py  Watermarker (embed), detect_frames / detect_file -> WatermarkResult.
metadata.py   ProvenanceRecord and the MP4 / PNG / GIF writers' helpers; read_metadata.
signing.py    offline C2PA signing with a locally created key; check_signature.
finalize.py   finalize_file: the last step of every export (GIF comment, C2PA signature).
verify.py     verify_file -> VerifyReport; run_verify_cli (exit 0 / 1 / 2).
media.py      frame readers for verify (streamed video luma, PNG / GIF / JPEG).
synthetic.py  procedural natural-image-like content for tests and benchmarks.
"""
from .finalize import finalize_file
from .metadata import (
    ProvenanceRecord,
    add_gif_comment,
    ffmpeg_metadata_args,
    gif_comment,
    png_info,
    read_metadata,
)
from .signing import SignatureStatus, SigningError, c2pa_available, check_signature, sign_file
from .verify import VerifyReport, run_verify_cli, verify_file
from .watermark import (
    Watermarker,
    WatermarkDetector,
    WatermarkResult,
    default_payload,
    describe_payload,
    detect_file,
    detect_frames,
)

__all__ = [
    "finalize_file", "add_gif_comment",
    "ProvenanceRecord", "ffmpeg_metadata_args", "gif_comment", "png_info", "read_metadata",
    "SignatureStatus", "SigningError", "c2pa_available", "check_signature", "sign_file",
    "VerifyReport", "run_verify_cli", "verify_file",
    "Watermarker", "WatermarkDetector", "WatermarkResult", "default_payload",
    "describe_payload", "detect_file", "detect_frames",
]
