"""The landmark image: coloured soft polylines, one colour per facial part."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from talkinghead_studio.training import rasterize  # noqa: E402
from talkinghead_studio.training.rasterize import PARTS, LandmarkRasterizer  # noqa: E402


def _all_at(x: float, y: float) -> torch.Tensor:
    marks = torch.zeros(1, 478, 3)
    marks[..., 0], marks[..., 1] = x, y
    return marks


def test_shape_range_and_ink_follows_the_landmarks():
    draw = LandmarkRasterizer(32, 0.8)
    for x, y in ((0.25, 0.25), (0.75, 0.5)):
        image = draw(_all_at(x, y))
        assert image.shape == (1, 3, 32, 32) and image.dtype == torch.float32
        assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
        ink = image[0].sum(0)
        row, col = divmod(int(ink.argmax()), 32)
        assert abs(col + 0.5 - x * 32) <= 1 and abs(row + 0.5 - y * 32) <= 1
        assert float(ink[(row + 16) % 32, (col + 16) % 32]) < 1e-3  # far away: no ink


def test_a_segment_is_drawn_in_its_part_colour():
    marks = _all_at(0.2, 0.5)
    marks[0, 6, 0] = 0.8  # nose bridge 168 -> 6 now spans the crop horizontally
    image = LandmarkRasterizer(32, 0.8)(marks)
    nose = dict((name, colour) for name, colour, _ in PARTS)["nose"]
    centre = image[0, :, 15, 16]  # pixel centre (16.5, 15.5): on the line y = 16 px
    torch.testing.assert_close(centre, torch.tensor(nose) * centre.max() / max(nose))
    assert float(centre.max()) > 0.7  # 0.5 px off the line: exp(-0.25 / 1.28) * 0.9
    assert float(image[0, :, 4, 16].max()) < 1e-3


def test_batches_are_drawn_in_chunks_without_changing_the_result(monkeypatch):
    marks = torch.rand(5, 478, 3) * 0.6 + 0.2
    draw = LandmarkRasterizer(32, 0.8)
    whole = draw(marks)
    monkeypatch.setattr(rasterize, "_CHUNK_ELEMENTS", 1)  # one image per chunk
    torch.testing.assert_close(draw(marks), whole)
