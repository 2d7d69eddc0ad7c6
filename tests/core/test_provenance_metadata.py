"""Synthetic-media metadata: what it says, and that it survives our export path (the MP4,
GIF and PNG sinks of core/export.py) and ordinary remuxing and re-encoding."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from talkinghead_studio import TOOL_NAME, __version__
from talkinghead_studio.core.provenance import synthetic
from talkinghead_studio.core.provenance.metadata import (
    ProvenanceRecord,
    ffmpeg_metadata_args,
    gif_comment,
    parse_ffmetadata,
    png_info,
    read_metadata,
)
from talkinghead_studio.core.provenance.signing import c2pa_available, check_signature
from talkinghead_studio.errors import InputFileError


@pytest.fixture()
def record() -> ProvenanceRecord:
    return ProvenanceRecord.for_export("warpgen", driver="/home/ana/clips/me talking.mp4",
                                       portrait=Path("C:/Users/ana/p=1;#x.png"))


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return list(synthetic.talking_head_clip(seed=5, n_frames=10, height=128, width=160))


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def test_record_marks_output_as_synthetic_and_keeps_only_file_names(record):
    meta = record.to_metadata()
    assert meta["synthetic"] == "true"
    assert meta["statement"] == "animated from a still portrait"
    assert meta["tool"] == TOOL_NAME and meta["tool_version"] == __version__
    assert meta["generator"] == "warpgen"
    assert meta["watermark"] == "on"
    assert meta["created"].endswith("Z") and meta["created"][:2] == "20"
    assert meta["driver"] == "me talking.mp4"   # no folders: they can name the user
    assert "Users" not in meta["portrait"] and "/" not in meta["driver"]
    assert "trainedAlgorithmicMedia" in meta["digital_source_type"]


def test_watermark_opt_out_is_recorded():
    record = ProvenanceRecord.for_export("warpgen", watermark=False)
    assert record.to_metadata()["watermark"] == "off"
    assert "turned off by the user" in record.sentence()


def test_metadata_survives_our_export_sinks(tmp_path, record, frames, monkeypatch):
    """MP4, GIF and PNG-sequence sinks of core/export.py, end to end."""
    export = pytest.importorskip("talkinghead_studio.core.export")
    monkeypatch.setenv("TALKINGHEAD_STUDIO_CONFIG_DIR", str(tmp_path / "config"))
    h, w = frames[0].shape[:2]
    sinks = {
        "mp4": export.Mp4Sink(tmp_path / "out.mp4", (w, h), 25.0, record),
        "gif": export.GifSink(tmp_path / "out.gif", (w, h), 25.0, record),
        "png": export.PngSequenceSink(tmp_path / "frames", record),
    }
    for sink in sinks.values():
        sink.open()
        for frame in frames:
            sink.write(frame)
        sink.commit()
    assert read_metadata(tmp_path / "out.mp4") == record.to_metadata()
    assert read_metadata(tmp_path / "out.gif") == record.to_metadata()
    pngs = sorted((tmp_path / "frames").glob("*.png"))
    assert len(pngs) == len(frames)
    assert all(read_metadata(p) == record.to_metadata() for p in pngs)
    if c2pa_available():  # the sinks sign MP4 and GIF through finalize_file
        assert check_signature(tmp_path / "out.mp4").state == "valid"
        assert check_signature(tmp_path / "out.gif").state == "valid"


def test_mp4_metadata_survives_a_remux_and_a_reencode(tmp_path, record, frames):
    src = tmp_path / "src.mp4"
    h, w = frames[0].shape[:2]
    subprocess.run([ffmpeg(), "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
                    "-s", f"{w}x{h}", "-r", "25", "-i", "-", "-pix_fmt", "yuv420p",
                    *ffmpeg_metadata_args(record), str(src)],
                   input=b"".join(f.tobytes() for f in frames), check=True)
    remux, reencode = tmp_path / "remux.mp4", tmp_path / "re.mp4"
    for extra, dst in ((["-c", "copy"], remux), (["-crf", "30"], reencode)):
        subprocess.run([ffmpeg(), "-y", "-v", "error", "-i", str(src), *extra, str(dst)], check=True)
    assert read_metadata(remux) == record.to_metadata()
    assert read_metadata(reencode) == record.to_metadata()


def test_png_round_trip_with_xmp(tmp_path, record, frames):
    path = tmp_path / "still.png"
    Image.fromarray(frames[0]).save(path, pnginfo=png_info(record))
    assert read_metadata(path) == record.to_metadata()
    with Image.open(path) as image:
        assert "trainedAlgorithmicMedia" in image.text["XML:com.adobe.xmp"]
        assert image.text["Description"].startswith(
            "Synthetic media: animated from a still portrait")


def test_gif_round_trip(tmp_path, record, frames):
    path = tmp_path / "anim.gif"
    images = [Image.fromarray(f).quantize(64) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=40, loop=0,
                   comment=gif_comment(record))
    assert read_metadata(path) == record.to_metadata()


def test_unlabelled_files_have_no_record(tmp_path, frames):
    png, mp4 = tmp_path / "plain.png", tmp_path / "plain.mp4"
    Image.fromarray(frames[0]).save(png)
    subprocess.run([ffmpeg(), "-y", "-v", "error", "-i", str(png), "-pix_fmt", "yuv420p",
                    "-metadata", "comment=holiday", str(mp4)], check=True)
    assert read_metadata(png) is None
    assert read_metadata(mp4) is None


def test_unreadable_inputs_raise_input_file_error(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    with pytest.raises(InputFileError):
        read_metadata(junk)
    with pytest.raises(InputFileError):
        read_metadata(tmp_path / "missing.png")


def test_ffmetadata_escapes_are_undone():
    text = ";FFMETADATA1\ncomment=a\\=b\\;c\\#d\\\\e\ntitle=line1\\\nline2\n[STREAM]\nx=y\n"
    assert parse_ffmetadata(text) == {"comment": "a=b;c#d\\e", "title": "line1\nline2"}


def test_for_export_accepts_both_keyword_spellings():
    a = ProvenanceRecord.for_export(generator_name="g", portrait_name="/a/p.png",
                                    driver_name="d.mp4")
    b = ProvenanceRecord.for_export(generator="g", portrait="/a/p.png", driver="d.mp4")
    assert a.to_metadata() | {"created": ""} == b.to_metadata() | {"created": ""}
    assert a.portrait == "p.png"
    with pytest.raises(ValueError):
        ProvenanceRecord.for_export()


def test_comment_is_added_to_an_ffmpeg_gif_without_touching_its_frames(tmp_path, record, frames):
    from talkinghead_studio.core.provenance.metadata import add_gif_comment

    path = tmp_path / "ffmpeg.gif"
    h, w = frames[0].shape[:2]
    graph = "split[a][b];[a]palettegen[p];[b][p]paletteuse=dither=bayer"
    subprocess.run([ffmpeg(), "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
                    "-s", f"{w}x{h}", "-r", "25", "-i", "-", "-filter_complex", graph,
                    "-loop", "0", str(path)],
                   input=b"".join(f.tobytes() for f in frames), check=True)
    with Image.open(path) as image:
        first_frame = np.asarray(image.convert("RGB"))
    assert read_metadata(path) is None
    add_gif_comment(path, record)
    assert read_metadata(path) == record.to_metadata()
    with Image.open(path) as image:
        assert image.n_frames == len(frames) and image.info.get("loop") == 0
        assert np.array_equal(np.asarray(image.convert("RGB")), first_frame)
