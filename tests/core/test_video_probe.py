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


def test_written_videos_keep_their_colours_and_say_how_they_were_encoded(tmp_path):
    """Frames are converted to yuv420p here (OpenCV, BT.601 limited range) and the stream
    is tagged with that matrix: flat colour patches come back within the codec's
    rounding, with U and V the right way round, and players need not guess."""
    import numpy as np

    from talkinghead_studio.core.video import AtomicVideoWriter, iter_frames

    colours = [(200, 40, 40), (40, 180, 60), (30, 60, 210), (235, 200, 170), (90, 90, 90),
               (250, 250, 250)]
    # 94 x 97: an odd width (padded to 98, as yuv420p needs) and a height that is not a
    # multiple of 4 (the chroma planes then do not fill whole rows of the buffer).
    frame = np.zeros((94, 97, 3), np.uint8)
    for index, colour in enumerate(colours):
        frame[:, index * 16:(index + 1) * 16] = colour
    frame[:, 96:] = colours[-1]
    target = tmp_path / "chart.mp4"
    with AtomicVideoWriter(target, (97, 94), 25.0) as writer:
        for _ in range(3):
            writer.write(frame)
    decoded = next(iter(iter_frames(target)))
    assert decoded.shape == (94, 98, 3)
    for index, colour in enumerate(colours):
        patch = decoded[8:-8, index * 16 + 4:(index + 1) * 16 - 4].reshape(-1, 3).mean(0)
        assert np.abs(patch - colour).max() < 3.0, (colour, patch)
    assert "tv, smpte170m/bt709/iec61966-2-1" in video._ffmpeg_banner(target)


def test_chroma_is_each_blocks_mean_colour():
    """yuv420p keeps one colour per 2x2 block: it must be the block's mean (a one-pixel
    red/blue column pattern gives purple), not one of its pixels (OpenCV's own I420
    conversion takes the top-left one: pure red)."""
    import numpy as np

    from talkinghead_studio.core.video import rgb_to_i420

    frame = np.zeros((6, 8, 3), np.uint8)
    frame[:, 0::2] = (255, 0, 0)
    frame[:, 1::2] = (0, 0, 255)
    planes = rgb_to_i420(frame).reshape(-1)
    u, v = planes[48:60], planes[60:72]
    purple = np.array([[127.5, 0.0, 127.5]])
    want_u = 128 + purple @ [-0.148223, -0.290993, 0.439216]
    want_v = 128 + purple @ [0.439216, -0.367788, -0.071427]
    assert np.abs(u.astype(float) - want_u).max() <= 1 and np.abs(v - want_v).max() <= 1
