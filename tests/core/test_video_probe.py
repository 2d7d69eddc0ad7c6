"""probe_video reads a clip's header from one `ffmpeg -i` call, as a decoder would."""
from __future__ import annotations

import imageio_ffmpeg

from talkinghead_studio.core import video
from talkinghead_studio.core.video import probe_video


def test_the_header_read_from_the_banner_is_the_decoders(sample_driver):
    reader = imageio_ffmpeg.read_frames(str(sample_driver))
    try:
        decoder_meta = next(reader)
    finally:
        reader.close()
    info = probe_video(sample_driver)
    assert info.fps == decoder_meta["fps"]
    assert info.size == tuple(decoder_meta["size"])
    assert abs(info.duration - decoder_meta["duration"]) < 1e-6
    assert info.has_audio


def test_an_unparsable_banner_falls_back_to_the_decoder(sample_driver, monkeypatch):
    monkeypatch.setattr(video, "_header_from_banner", lambda banner: None)
    info = probe_video(sample_driver)
    assert info.fps == 25.0 and info.size == (512, 600)


def test_a_banner_without_a_usable_stream_is_not_trusted():
    assert video._header_from_banner("Input #0, mov: nothing useful here") is None
