"""`verify`: the report and the exit codes 0 (ours) / 1 (not found) / 2 (unreadable)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from talkinghead_studio.core.provenance import synthetic
from talkinghead_studio.core.provenance.metadata import ProvenanceRecord, png_info
from talkinghead_studio.core.provenance.signing import c2pa_available
from talkinghead_studio.core.provenance.verify import run_verify_cli, verify_file
from talkinghead_studio.core.provenance.watermark import Watermarker

SHARED_DRIVING = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "driving"


@pytest.fixture(autouse=True)
def config_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TALKINGHEAD_STUDIO_CONFIG_DIR", str(tmp_path / "config"))


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def write_mp4(frames, path: Path, crf: int = 23) -> Path:
    h, w = frames[0].shape[:2]
    subprocess.run([ffmpeg(), "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
                    "-s", f"{w}x{h}", "-r", "25", "-i", "-", "-c:v", "libx264", "-crf", str(crf),
                    "-pix_fmt", "yuv420p", "-threads", "1", str(path)],
                   input=b"".join(f.tobytes() for f in frames), check=True)
    return path


@pytest.fixture(scope="module")
def clip():
    return list(synthetic.talking_head_clip(seed=11, n_frames=25, height=384, width=384))


def test_watermarked_reencode_without_metadata_exits_0(tmp_path, clip, capsys):
    marker = Watermarker()
    path = write_mp4([marker.embed(f) for f in clip], tmp_path / "stripped.mp4", crf=28)
    assert run_verify_cli(str(path)) == 0
    out = capsys.readouterr().out
    assert "watermark: found" in out and "Talking-Head Studio 0.1" in out
    assert "metadata:  none" in out
    assert ("signature: absent" if c2pa_available() else "signature: not checked") in out


def test_clean_clip_exits_1_and_says_not_found(tmp_path, clip, capsys):
    path = write_mp4(clip, tmp_path / "clean.mp4")
    assert run_verify_cli(str(path)) == 1
    assert "watermark: not found" in capsys.readouterr().out


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED_DRIVING.is_dir(), reason="../shared/data is absent")
def test_real_clip_says_not_found(capsys):
    path = sorted(SHARED_DRIVING.glob("*.mp4"))[0]
    report = verify_file(path)
    assert not report.watermark.found and report.metadata is None
    assert report.exit_code == 1
    assert run_verify_cli(str(path)) == 1
    assert "watermark: not found" in capsys.readouterr().out


@pytest.mark.parametrize("name, content", [("missing.mp4", None), ("junk.mp4", b"not media"),
                                           ("empty.png", b""), ("bad.png", b"\x89PNG\r\n\x1a\nxx")])
def test_unreadable_files_exit_2_with_one_line(tmp_path, capsys, name, content):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    assert run_verify_cli(str(path)) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert len(captured.err.strip().splitlines()) == 1


def test_signed_still_without_watermark_exits_0_on_credentials(tmp_path):
    pytest.importorskip("c2pa")
    from talkinghead_studio.core.provenance.signing import sign_file

    record = ProvenanceRecord.for_export("warpgen", watermark=False)
    path = tmp_path / "nowm.png"
    frame = synthetic.scene(np.random.default_rng(2), 200, 200)
    Image.fromarray(frame).save(path, pnginfo=png_info(record))
    sign_file(path, record)
    report = verify_file(path)
    assert not report.watermark.found
    assert report.metadata["watermark"] == "off"
    assert report.signature.state == "valid" and report.exit_code == 0


def test_json_report(tmp_path, clip, capsys):
    path = tmp_path / "still.png"
    Image.fromarray(Watermarker().embed(clip[0])).save(path)
    assert run_verify_cli(str(path), as_json=True) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["watermark"]["found"] and data["watermark"]["payload"] == "5401"
    assert data["signature"]["state"] == ("absent" if c2pa_available() else "unchecked")
    assert data["exit_code"] == 0
