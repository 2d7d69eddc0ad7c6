"""Metadata that labels every export as synthetic, for MP4, PNG and GIF, and reading it back.

One record, three carriers:

* MP4: ``comment`` holds a human sentence and ``description`` holds the machine-readable
  record (``talkinghead-provenance/1 {json}``). Both are standard MP4 tags (udta ``©cmt``
  and ``desc``): they survive ``-movflags use_metadata_tags`` or not, and ffmpeg keeps
  them through remuxing and re-encoding by default. Custom keys would not.
* PNG: iTXt chunks ``Description`` (sentence), ``Software``, ``talkinghead-provenance``
  (the record) and an XMP packet carrying IPTC's DigitalSourceType, which is what
  platforms that label AI media look for.
* GIF: one comment extension holding the sentence and the record on two lines.

Metadata is a label, not evidence: anyone can strip it, and anyone can write it.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

from ... import TOOL_NAME, __version__
from ...errors import InputFileError


def escape(text: str) -> str:
    """``text`` as XML character data (&, < and > escaped). Local rather than
    xml.sax.saxutils.escape, whose module imports urllib.request (~20 ms of every
    render's start-up)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


STATEMENT = "animated from a still portrait"
#: Prefix that marks our machine-readable record wherever it is stored.
RECORD_TAG = "talkinghead-provenance/1"
#: PNG text keyword for the record.
PNG_KEY = "talkinghead-provenance"
#: IPTC digital source type: "created by an algorithm using a model derived from sampled
#: content" (the generators are trained on, or built from, photographed faces).
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def utc_now_iso() -> str:
    """Current UTC time as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.now(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ProvenanceRecord:
    """What an export says about itself.

    generator:  name of the generator model that made the frames (e.g. "warpgen").
    created:    UTC ISO 8601 time of the export, e.g. "2025-01-31T12:00:00Z".
    watermark:  whether the invisible watermark was embedded (False only on the user's
                explicit request, and then this field records that choice).
    driver, portrait: optional *file names* (never full paths: they can reveal a user's
                name or folders) of the inputs.
    """

    generator: str
    created: str = dataclasses.field(default_factory=utc_now_iso)
    watermark: bool = True
    driver: Optional[str] = None
    portrait: Optional[str] = None
    tool: str = TOOL_NAME
    version: str = __version__
    statement: str = STATEMENT
    digital_source_type: str = DIGITAL_SOURCE_TYPE

    @classmethod
    def for_export(cls, generator_name: Optional[str] = None, watermark: bool = True,
                   portrait_name: "str | os.PathLike[str] | None" = None,
                   driver_name: "str | os.PathLike[str] | None" = None, *,
                   generator: Optional[str] = None,
                   portrait: "str | os.PathLike[str] | None" = None,
                   driver: "str | os.PathLike[str] | None" = None) -> "ProvenanceRecord":
        """A record stamped now, keeping only the base names of the input files.

        Paths are accepted and reduced to their names. ``generator`` / ``portrait`` /
        ``driver`` are aliases of the ``*_name`` arguments (both spellings are in use).
        """
        def name(p):
            return os.path.basename(os.fspath(p)) if p else None
        generator_name = generator_name or generator
        if not generator_name:
            raise ValueError("for_export needs the generator's name")
        return cls(generator=generator_name, watermark=watermark,
                   driver=name(driver_name or driver), portrait=name(portrait_name or portrait))

    def to_metadata(self) -> dict[str, str]:
        """Flat str -> str mapping, the same keys in every container."""
        data = {
            "synthetic": "true",
            "tool": self.tool,
            "tool_version": self.version,
            "statement": self.statement,
            "generator": self.generator,
            "created": self.created,
            "watermark": "on" if self.watermark else "off",
            "digital_source_type": self.digital_source_type,
        }
        if self.driver:
            data["driver"] = self.driver
        if self.portrait:
            data["portrait"] = self.portrait
        return data

    def sentence(self) -> str:
        """One line a person reads in a player's info panel."""
        mark = "on" if self.watermark else "off (turned off by the user)"
        return (f"Synthetic media: {self.statement} by {self.tool} {self.version} "
                f"(generator: {self.generator}) on {self.created}. Invisible watermark: {mark}.")

    def record_text(self) -> str:
        """``talkinghead-provenance/1 {json}`` on one line (ASCII-safe JSON)."""
        return f"{RECORD_TAG} {json.dumps(self.to_metadata(), sort_keys=True)}"


# --------------------------------------------------------------------------- writers


def ffmpeg_metadata_args(record: ProvenanceRecord) -> list[str]:
    """``-metadata key=value`` arguments for an MP4 written by ffmpeg.

    Only standard tags are used, so they need no ``-movflags use_metadata_tags`` and
    survive remuxing. Arguments go in an argv list (no shell), so no quoting is needed.
    """
    return ["-metadata", f"comment={record.sentence()}",
            "-metadata", f"description={record.record_text()}"]


def xmp_packet(record: ProvenanceRecord) -> str:
    """A minimal XMP packet with IPTC DigitalSourceType, description and creator tool."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about=""'
        ' xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        ' xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<Iptc4xmpExt:DigitalSourceType>{escape(record.digital_source_type)}"
        "</Iptc4xmpExt:DigitalSourceType>"
        f"<xmp:CreatorTool>{escape(record.tool)} {escape(record.version)}</xmp:CreatorTool>"
        f"<xmp:CreateDate>{escape(record.created)}</xmp:CreateDate>"
        '<dc:description><rdf:Alt><rdf:li xml:lang="x-default">'
        f"{escape(record.sentence())}</rdf:li></rdf:Alt></dc:description>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    )


def png_info(record: ProvenanceRecord):
    """A PIL ``PngInfo`` to pass as ``Image.save(path, pnginfo=...)``."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_itxt("Description", record.sentence())
    info.add_itxt("Software", f"{record.tool} {record.version}")
    info.add_itxt(PNG_KEY, record.record_text())
    info.add_itxt("XML:com.adobe.xmp", xmp_packet(record))
    return info


def gif_comment(record: ProvenanceRecord) -> bytes:
    """Bytes for Pillow's ``Image.save(path, comment=...)`` on a GIF (UTF-8, two lines)."""
    return f"{record.sentence()}\n{record.record_text()}".encode("utf-8")


def add_gif_comment(path: "str | os.PathLike[str]", record: ProvenanceRecord) -> None:
    """Insert our comment extension into an existing GIF (e.g. one ffmpeg wrote, which
    cannot write comments), in place and atomically, without re-encoding a pixel.

    The block goes right after the header and global colour table, before the first image
    and before the looping extension, where every decoder expects extensions.
    """
    path = os.fspath(path)
    with open(path, "rb") as handle:
        data = handle.read()
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        raise InputFileError(f"{os.path.basename(path)} is not a GIF file.")
    packed = data[10]
    table = 3 * (2 ** ((packed & 0x07) + 1)) if packed & 0x80 else 0
    insert_at = 13 + table
    text = gif_comment(record)
    blocks = b"".join(bytes([len(text[i:i + 255])]) + text[i:i + 255]
                      for i in range(0, len(text), 255))
    # Comment extensions are GIF89a; an 87a header is upgraded so readers accept them.
    new = b"GIF89a" + data[6:insert_at] + b"\x21\xfe" + blocks + b"\x00" + data[insert_at:]
    _replace_atomically(path, new)


def _replace_atomically(path: str, data: bytes) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    handle, temp = tempfile.mkstemp(dir=folder, prefix=".provenance-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        shutil.copymode(path, temp)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


# --------------------------------------------------------------------------- reading


def parse_record_text(text: str) -> Optional[dict[str, str]]:
    """Find ``talkinghead-provenance/1 {json}`` in any text and return the dict, or None."""
    start = text.find(RECORD_TAG)
    if start < 0:
        return None
    body = text[start + len(RECORD_TAG):].lstrip()
    try:
        data, _ = json.JSONDecoder().raw_decode(body)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    return {str(k): str(v) for k, v in data.items()}


def read_metadata(path: "str | os.PathLike[str]") -> Optional[dict[str, str]]:
    """Our provenance record from an MP4 (any ffmpeg-readable video), PNG or GIF, or None
    when the file carries none. Raises InputFileError when the file cannot be read."""
    from .media import check_readable, sniff_kind

    path = check_readable(path)
    kind = sniff_kind(path)
    if kind == "video":
        texts = list(read_ffmpeg_tags(path).values())
    else:
        texts = _image_texts(path)
    for text in texts:
        record = parse_record_text(text)
        if record is not None:
            return record
    return None


def _image_texts(path) -> list[str]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            info = dict(image.info)
            texts = dict(getattr(image, "text", {}) or {})
    except (UnidentifiedImageError, OSError) as exc:
        raise InputFileError(f"{path.name} is not an image this app can read ({exc}).") from None
    values = list(texts.values()) + [info.get("comment", b"")]
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values]


def read_ffmpeg_tags(path) -> dict[str, str]:
    """Global container tags of a media file, via ``ffmpeg -f ffmetadata`` (no ffprobe
    needed: imageio-ffmpeg ships only ffmpeg). Raises InputFileError when ffmpeg cannot
    open the file."""
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", os.fspath(path),
           "-f", "ffmetadata", "-"]
    try:
        result = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputFileError(f"Could not run ffmpeg to read {os.fspath(path)} ({exc}).") from None
    if result.returncode != 0:
        reason = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InputFileError(f"{os.path.basename(path)} is not a media file this app can "
                             f"read ({(reason or ['unknown error'])[-1][:160]}).")
    return parse_ffmetadata(result.stdout.decode("utf-8", "replace"))


def parse_ffmetadata(text: str) -> dict[str, str]:
    """Global section of an FFMETADATA1 document -> {key: value}, backslash escapes undone."""
    tags: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if line.startswith("["):
            break  # stream or chapter sections follow; we only want global tags
        if not line or line.startswith((";", "#")):
            continue
        # An escaped newline continues the value on the next line.
        while line.endswith("\\") and not line.endswith("\\\\"):
            line = line[:-1] + "\n" + next(lines, "")
        key, value = _split_unescaped(line)
        if key:
            tags[key] = value
    return tags


def _split_unescaped(line: str) -> tuple[str, str]:
    """Split ``key=value`` at the first unescaped '=' and undo backslash escapes."""
    key: list[str] = []
    value: list[str] = []
    current, escaped, in_value = key, False, False
    for ch in line:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "=" and not in_value:
            in_value, current = True, value
        else:
            current.append(ch)
    return "".join(key), "".join(value)
