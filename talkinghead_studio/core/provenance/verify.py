"""`talkinghead-studio verify FILE`: watermark, metadata and signature in one report.

Exit codes (run_verify_cli): 0 when our watermark or valid credentials from this tool are
found; 1 when neither is; 2 when the file cannot be read.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from ...errors import StudioError
from .metadata import read_metadata
from .signing import SignatureStatus, check_signature
from .watermark import DETECTION_THRESHOLD, WatermarkResult, describe_payload, detect_file

EXIT_FOUND, EXIT_NOT_FOUND, EXIT_UNREADABLE = 0, 1, 2


@dataclass(frozen=True)
class VerifyReport:
    """Everything verify found about one file.

    watermark: detector result over the first seconds of the file.
    metadata:  our provenance record from the container, or None.
    signature: C2PA status (valid / invalid / absent / unchecked).
    lines:     the human-readable report, one finding per line.
    """

    path: Path
    watermark: WatermarkResult
    metadata: Optional[dict[str, str]]
    signature: SignatureStatus
    lines: list[str] = field(default_factory=list)

    @property
    def credentials_ours(self) -> bool:
        """Valid C2PA credentials that carry this tool's provenance assertion."""
        return self.signature.state == "valid" and self.signature.claims is not None

    @property
    def exit_code(self) -> int:
        return EXIT_FOUND if self.watermark.found or self.credentials_ours else EXIT_NOT_FOUND

    def to_json(self) -> dict:
        wm = self.watermark
        return {
            "file": str(self.path),
            "verdict": "synthetic (Talking-Head Studio)" if self.exit_code == 0 else "not found",
            "watermark": {"found": wm.found, "confidence": round(wm.confidence, 6),
                          "score": round(wm.score, 2), "threshold": DETECTION_THRESHOLD,
                          "payload": wm.payload.hex() if wm.payload else None,
                          "payload_text": describe_payload(wm.payload) if wm.payload else None,
                          "frames_used": wm.frames_used, "scale": round(wm.scale, 3),
                          "mirrored": wm.mirrored},
            "metadata": self.metadata,
            "signature": asdict(self.signature),
            "exit_code": self.exit_code,
        }


def verify_file(path: "str | os.PathLike[str]") -> VerifyReport:
    """Check a video or image for our watermark, metadata and signature.

    Raises InputFileError (a StudioError) when the file is missing or unreadable.
    """
    path = Path(path)
    watermark = detect_file(path)  # raises for unreadable files before anything else runs
    metadata = read_metadata(path)
    signature = check_signature(path)
    report = VerifyReport(path, watermark, metadata, signature)
    return VerifyReport(path, watermark, metadata, signature, _describe(report))


def _describe(report: VerifyReport) -> list[str]:
    return [
        f"{report.path.name}",
        f"  watermark: {_watermark_line(report.watermark)}",
        f"  metadata:  {_metadata_line(report.metadata)}",
        f"  signature: {_signature_line(report.signature)}",
        f"  verdict:   {_verdict_line(report)}",
    ]


def _watermark_line(wm: WatermarkResult) -> str:
    frames = f"{wm.frames_used} frame{'s' if wm.frames_used != 1 else ''}"
    if not wm.found:
        return f"not found (score {wm.score:.1f}, threshold {DETECTION_THRESHOLD:.1f}; {frames})"
    payload = describe_payload(wm.payload) if wm.payload else "payload unreadable"
    return (f"found, confidence {wm.confidence:.6f} (score {wm.score:.1f}, threshold "
            f"{DETECTION_THRESHOLD:.1f}; {frames}); carries: {payload}")


def _metadata_line(meta: Optional[dict[str, str]]) -> str:
    if meta is None:
        return "none of ours (this is easy to strip, so its absence proves nothing)"
    inputs = ", ".join(f"{k} {meta[k]}" for k in ("portrait", "driver") if meta.get(k))
    return (f"present: synthetic, {meta.get('statement', '?')} by {meta.get('tool', '?')} "
            f"{meta.get('tool_version', '?')}, generator {meta.get('generator', '?')}, "
            f"{meta.get('created', '?')}, watermark {meta.get('watermark', '?')}"
            + (f"; inputs: {inputs}" if inputs else ""))


def _signature_line(sig: SignatureStatus) -> str:
    if sig.state == "absent":
        return "absent (no C2PA content credentials)"
    if sig.state == "unchecked":
        return f"not checked ({'; '.join(sig.problems)})"
    if sig.state == "invalid":
        problems = "; ".join(sig.problems)[:300]
        return f"INVALID: the file or its credentials changed after signing ({problems})"
    whose = "from this tool" if sig.claims is not None else "from another tool"
    trust = ("trusted on this machine (its own key)" if sig.trusted_here
             else "self-issued certificate: intact, but not a verified identity")
    return f"valid C2PA credentials {whose}, signer \"{sig.signer or '?'}\", {trust}"


def _verdict_line(report: VerifyReport) -> str:
    if report.exit_code == EXIT_FOUND:
        return "made with Talking-Head Studio: synthetic media."
    if report.metadata is not None and report.metadata.get("watermark") == "off":
        return ("metadata claims Talking-Head Studio with the watermark turned off, but nothing "
                "verifiable was found.")
    return ("no Talking-Head Studio watermark or credentials found. This does not show the "
            "file is authentic: other tools leave no such marks.")


def run_verify_cli(path: str, as_json: bool = False) -> int:
    """Print a short report for ``path``; return 0 (ours found), 1 (not found) or 2
    (unreadable). Never raises and never prints a traceback."""
    try:
        report = verify_file(path)
    except StudioError as exc:
        _emit_error(path, str(exc), as_json)
        return EXIT_UNREADABLE
    except Exception as exc:  # noqa: BLE001 - the CLI promises one line, never a traceback
        _emit_error(path, f"verify failed unexpectedly ({type(exc).__name__}: {exc})", as_json)
        return EXIT_UNREADABLE
    if as_json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print("\n".join(report.lines))
    return report.exit_code


def _emit_error(path: str, message: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"file": path, "error": message, "exit_code": EXIT_UNREADABLE}))
    else:
        print(f"verify: {message}", file=sys.stderr)
