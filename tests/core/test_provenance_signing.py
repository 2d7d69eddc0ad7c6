"""C2PA content credentials, offline, with a key made locally on first use."""
from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("c2pa")

from talkinghead_studio.core.provenance import synthetic  # noqa: E402
from talkinghead_studio.core.provenance.metadata import (  # noqa: E402
    ProvenanceRecord,
    ffmpeg_metadata_args,
    png_info,
    read_metadata,
)
from talkinghead_studio.core.provenance.signing import (  # noqa: E402
    SigningError,
    check_signature,
    credentials_dir,
    load_or_create_credentials,
    sign_file,
)


@pytest.fixture(autouse=True)
def config_home(tmp_path, monkeypatch) -> Path:
    """Each test gets its own user config folder (its own key)."""
    folder = tmp_path / "config"
    monkeypatch.setenv("TALKINGHEAD_STUDIO_CONFIG_DIR", str(folder))
    return folder


@pytest.fixture()
def record() -> ProvenanceRecord:
    return ProvenanceRecord.for_export("warpgen", portrait="p.png", driver="d.mp4")


@pytest.fixture()
def png(tmp_path, record) -> Path:
    path = tmp_path / "still.png"
    frame = synthetic.scene(np.random.default_rng(1), 96, 128)
    Image.fromarray(frame).save(path, pnginfo=png_info(record))
    return path


def test_credentials_are_made_once_with_a_private_key_file(config_home):
    first = load_or_create_credentials()
    second = load_or_create_credentials()
    assert first == second
    assert credentials_dir() == config_home / "c2pa"
    assert sorted(p.name for p in credentials_dir().iterdir()) == [
        "root-ca.pem", "signer-chain.pem", "signer-key.pem"]
    if os.name == "posix":
        assert stat.S_IMODE((credentials_dir() / "signer-key.pem").stat().st_mode) == 0o600
    assert first.chain_pem.count(b"BEGIN CERTIFICATE") == 2


def test_signed_png_is_valid_trusted_here_and_keeps_metadata(png, record):
    sign_file(png, record)
    status = check_signature(png)
    assert status.state == "valid" and status.trusted_here
    assert status.claims == record.to_metadata()
    assert "Talking-Head Studio local signer" in status.signer
    assert read_metadata(png) == record.to_metadata()
    assert not list(png.parent.glob(".*signing*"))  # no temporary file left behind


def test_signature_from_another_install_is_valid_but_not_trusted(png, record, monkeypatch,
                                                                 tmp_path):
    sign_file(png, record)
    monkeypatch.setenv("TALKINGHEAD_STUDIO_CONFIG_DIR", str(tmp_path / "other-machine"))
    status = check_signature(png)
    assert status.state == "valid" and not status.trusted_here


def test_changed_pixels_invalidate_the_signature(png, record):
    sign_file(png, record)
    data = bytearray(png.read_bytes())
    idat = data.index(b"IDAT")
    data[idat + 40] ^= 0x01  # one bit of compressed image data
    png.write_bytes(bytes(data))
    status = check_signature(png)
    assert status.state == "invalid" and status.problems


def test_signed_mp4_is_valid(tmp_path, record):
    import imageio_ffmpeg

    path = tmp_path / "clip.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc=size=128x96:rate=25:duration=0.4", "-pix_fmt", "yuv420p",
                    *ffmpeg_metadata_args(record), str(path)], check=True)
    sign_file(path, record)
    status = check_signature(path)
    assert status.state == "valid" and status.claims["generator"] == "warpgen"
    assert read_metadata(path) == record.to_metadata()


def test_unsigned_file_reports_absent(png):
    assert check_signature(png).state == "absent"


def test_unsupported_file_is_left_untouched(tmp_path, record):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"plain text")
    with pytest.raises(SigningError):
        sign_file(path, record)
    assert path.read_bytes() == b"plain text"


def test_finalize_labels_and_signs_an_ffmpeg_gif(tmp_path, record):
    import imageio_ffmpeg

    from talkinghead_studio.core.provenance import finalize_file

    path = tmp_path / "anim.gif"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc=size=96x64:rate=10:duration=0.5", str(path)], check=True)
    finalize_file(path, record)
    assert read_metadata(path) == record.to_metadata()
    assert check_signature(path).state == "valid"
