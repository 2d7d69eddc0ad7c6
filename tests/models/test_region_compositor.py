"""Frames finished straight into the portrait (inference/sampling.py RegionCompositor):
they must show what the crop path shows (generate the crop, paste it back), keep the
portrait's own pixels where nothing moves, and follow the companion's conventions
exactly (pixel centres, refined seams, eye and mouth layers, uncovered background)."""
from __future__ import annotations

import numpy as np
import pytest

from talkinghead_studio.config import MotionSettings
from talkinghead_studio.core.animator import Animator
from talkinghead_studio.core.crop import CropBox, PasteBack
from talkinghead_studio.core.images import load_portrait
from talkinghead_studio.core.portrait import prepare_portrait
from talkinghead_studio.inference.sampling import RegionCompositor, _without_subnormals
from talkinghead_studio.inference.session import OnnxGenerator, SessionOptions
from talkinghead_studio.warpgen import samples


@pytest.fixture(scope="module")
def generator(shipped_model) -> OnnxGenerator:
    return OnnxGenerator(shipped_model, SessionOptions(provider="cpu", intra_op_threads=1))


@pytest.fixture(scope="module", params=[256, 512])
def animator(request, generator, astronaut_path) -> Animator:
    portrait = prepare_portrait(load_portrait(astronaut_path), request.param)
    return Animator(portrait, generator, MotionSettings())


def _pasted_crop(animator: Animator, target: np.ndarray) -> np.ndarray:
    return animator.compose(*animator.generate_with(target, None))[0]


def test_the_astronaut_is_finished_in_the_portrait(animator):
    # Her face's box is 212 px across: smaller than either working size.
    assert animator.composes_in_portrait


@pytest.mark.parametrize("case", ["jaw", "blink", "head", "gaze", "all"])
def test_frames_finished_in_the_portrait_match_the_pasted_crop(animator, case):
    """The same warp sampled once instead of three times: the two agree except for the
    crop path's extra softening (measured on the sample driver at 512 px: 0.8 levels
    on average over the face's box, 99 % of pixels within 7). A one-pixel shift of the
    box, a transposed map or a lost layer each give several times that."""
    target = samples.reference_cases(animator.portrait.crop_points)[case]
    direct, alpha = animator.frame_with(target, None)
    assert alpha is None
    pasted = _pasted_crop(animator, target)
    x0, y0, x1, y1 = animator.paste.bounds
    diff = np.abs(direct.astype(int) - pasted.astype(int))[y0:y1, x0:x1].max(-1)
    assert diff.mean() < 1.5, diff.mean()
    assert np.mean(diff > 16) < 0.01, np.mean(diff > 16)
    outside = np.ones(direct.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(direct[outside], animator.portrait.image.rgb[outside])


def test_at_rest_the_frame_stays_closer_to_the_portrait_than_the_pasted_crop(animator):
    """At the portrait's own pose the warp is the identity up to the mesh's float error
    (~0.01 px) and the eye and mouth layers: the frame is the portrait within 2 levels
    almost everywhere (measured 98.9 % of the box at 256 px, 99.6 % at 512), closer
    than the crop path gets after resampling the face twice more."""
    rest = animator.portrait.crop_points
    portrait = animator.portrait.image.rgb.astype(int)
    x0, y0, x1, y1 = animator.paste.bounds
    direct = np.abs(animator.frame_with(rest, None)[0].astype(int) - portrait)[y0:y1, x0:x1]
    pasted = np.abs(_pasted_crop(animator, rest).astype(int) - portrait)[y0:y1, x0:x1]
    assert np.mean(direct.max(-1) <= 2) > 0.98
    assert direct.mean() < pasted.mean(), (direct.mean(), pasted.mean())


def test_alpha_is_the_persons_alpha_times_the_seam(animator):
    target = samples.reference_cases(animator.portrait.crop_points)["head"]
    frame, alpha = animator.frame_with(target, None, want_alpha=True)
    crop, mask = animator.generate_with(target, None)
    _, pasted_alpha = animator.compose(crop, mask, want_alpha=True)
    assert alpha.dtype == np.uint8 and alpha.shape == frame.shape[:2]
    assert np.abs(alpha.astype(int) - pasted_alpha.astype(int)).mean() < 1.0
    assert alpha.max() == 255 and alpha[0, 0] == 0


# ---------------------------------------------------------------- exact conventions

SIZE, COARSE = 40, 4          # crop px, crop px per cell
BOX = CropBox(cx=30.0, cy=30.0, side=20.0)   # image px 20..40: 2 crop px per box px


def _noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _identity_fields() -> np.ndarray:
    """1 x c x c x 4: each cell's source is its own centre; person everywhere."""
    cells = SIZE // COARSE
    centre = (np.arange(cells) + 0.5) * COARSE - 0.5
    fields = np.zeros((1, cells, cells, 4), np.float32)
    fields[0, ..., 0] = centre[None, :]
    fields[0, ..., 1] = centre[:, None]
    fields[0, ..., 2] = 1.0
    return fields


def _outputs(fields=None, refine=None, windows=()):
    index, exact = refine if refine is not None else (np.zeros(0, np.int64),
                                                      np.zeros((0, 2), np.float32))
    boxes = np.array([w[0] for w in windows], np.int64).reshape(-1, 4)
    layer = (np.concatenate([w[1].reshape(-1, 7) for w in windows]) if windows
             else np.zeros((0, 7), np.float32))
    return {"sampling_fields": _identity_fields() if fields is None else fields,
            "refine_index": index, "refine_map": exact, "inner_window": boxes,
            "inner_layer": layer.astype(np.float32)}


def _compositor(portrait: np.ndarray, plate: np.ndarray | None = None) -> RegionCompositor:
    paste = PasteBack(portrait, BOX, SIZE)
    seam = np.ones_like(paste.seam)    # no feathering: every box pixel is the warp's
    return RegionCompositor(portrait, paste.bounds, paste.region_to_crop, SIZE, COARSE,
                            seam, plate)


def _box_inside(frame: np.ndarray) -> np.ndarray:
    """The frame without the box's outermost ring: there the crop's edge pixels read the
    fields' edge cells, clamped (as the crop path's upsampling does), not extrapolated."""
    return frame[21:39, 21:39]


def test_an_identity_warp_gives_back_the_portrait_exactly():
    """Noise shows any half-pixel slip in the cell, crop or portrait conventions."""
    portrait = _noise(60, 70)
    frame, _ = _compositor(portrait).compose(_outputs())
    assert np.array_equal(_box_inside(frame), _box_inside(portrait))
    outside = np.ones(portrait.shape[:2], bool)
    outside[20:40, 20:40] = False
    assert np.array_equal(frame[outside], portrait[outside])


def test_a_box_past_the_portraits_edge_is_clipped_and_still_exact():
    """A face near the corner: the box (image px -8..12) is cut to the image (0..12)."""
    portrait = _noise(60, 70, seed=5)
    box = CropBox(cx=2.0, cy=2.0, side=20.0)
    paste = PasteBack(portrait, box, SIZE)
    assert paste.bounds == (0, 0, 12, 12)
    compositor = RegionCompositor(portrait, paste.bounds, paste.region_to_crop, SIZE,
                                  COARSE, np.ones_like(paste.seam))
    frame, _ = compositor.compose(_outputs())
    # Box px 0..11 sit on crop px 16..38: inside the fields' edge cells but the last.
    assert np.array_equal(frame[:11, :11], portrait[:11, :11])
    assert np.array_equal(frame[12:], portrait[12:]) and np.array_equal(frame[:, 12:], portrait[:, 12:])


def test_refined_pixels_take_their_nearest_exact_point():
    """A refined block points far away: the box pixels whose nearest crop pixel it holds
    show exactly that part of the portrait, the rest stays."""
    portrait = _noise(60, 70, seed=1)
    rows, cols = np.mgrid[8:16, 4:12]                       # crop px of the block
    index = (rows * SIZE + cols).reshape(-1)
    exact = np.stack([cols + 30.0, rows + 10.0], -1).reshape(-1, 2).astype(np.float32)
    exact[(14 - 8) * 8 + (10 - 4)] = np.nan                # crop px (14, 10): "keep"
    frame, _ = _compositor(portrait).compose(_outputs(refine=(index, exact)))
    # Box px (i, j) sits on crop px (2i, 2j): box rows 4..7 and columns 2..5 are refined
    # (image y 24..27, x 22..25), and each reads the image 15 px right and 5 px down.
    want = portrait.copy()
    want[24:28, 22:26] = portrait[29:33, 37:41]
    want[27, 25] = portrait[27, 25]                         # box px (7, 5): crop (14, 10)
    assert np.array_equal(_box_inside(frame), _box_inside(want))


def test_the_inner_layer_lays_its_colour_and_its_own_source_over_the_person():
    portrait = _noise(60, 70, seed=2)
    height, width = 6, 8                                    # crop px, at crop (y 20, x 10)
    layer = np.zeros((height, width, 7), np.float32)
    rows, cols = np.mgrid[20:20 + height, 10:10 + width]
    layer[..., 0], layer[..., 1] = cols + 20.0, rows + 0.0  # real: 10 image px right
    layer[..., 2] = 1.0                                     # covers the person
    layer[:, :4, 3] = 1.0                                   # left half: synthetic ...
    layer[..., 4:7] = (0.2, 0.4, 0.6)                       # ... this colour
    frame, _ = _compositor(portrait).compose(
        _outputs(windows=[((20, 10, height, width), layer)]))
    # The window holds box rows 10..12 (image y 30..32), columns 5..8 (image x 25..28).
    synthetic = np.round(np.array([0.2, 0.4, 0.6]) * 255).astype(np.uint8)
    assert (frame[30:33, 25:27] == synthetic).all()
    assert np.array_equal(frame[30:33, 27:29], portrait[30:33, 37:39])
    want = portrait.copy()
    want[30:33, 25:29] = frame[30:33, 25:29]
    assert np.array_equal(_box_inside(frame), _box_inside(want))


def test_uncovered_background_shows_the_plate_and_alpha_is_the_persons():
    portrait = _noise(60, 70, seed=3)
    paste = PasteBack(portrait, BOX, SIZE)
    plate = np.full((*paste.seam.shape, 3), 7, np.uint8)
    fields = _identity_fields()
    fields[0, :, :5, 2] = 0.0             # no person in the left half of the cells ...
    fields[0, :, :5, 3] = 1.0             # ... and the background there uncovered
    frame, alpha = _compositor(portrait, plate).compose(_outputs(fields), want_alpha=True)
    # Cells 0..4 end at crop x 19.5: box px 0..8 (image x 20..28) read them alone, box
    # px 11.. (image x 31..) the person's cells alone.
    assert (frame[20:40, 20:29] == 7).all()
    assert np.array_equal(frame[21:39, 31:39], portrait[21:39, 31:39])
    assert (alpha[20:40, 20:29] == 0).all() and (alpha[20:40, 31:40] == 255).all()
    assert (alpha[:20] == 0).all() and (alpha[:, 40:] == 0).all()


def test_subnormal_field_values_are_taken_as_zero():
    """OpenCV resamples fields holding subnormal numbers on x86's slow path (2.8x slower
    on the mesh warp's fields); they are cleared first, and nothing else changes."""
    fields = _identity_fields()[0]
    fields[::2, ::3, 3] = 1e-39
    fields[1, 1, 2] = 1e-3
    cleaned = _without_subnormals(fields)
    assert not (cleaned[::2, ::3, 3]).any()
    want = fields.copy()
    want[::2, ::3, 3] = 0.0
    assert np.array_equal(cleaned, want)
    assert fields[0, 0, 3] == np.float32(1e-39)            # the input is left alone


def test_a_png_export_finished_in_the_portrait_carries_the_persons_alpha(
        tmp_path, astronaut_path, moving_face_clip, shipped_model):
    from PIL import Image

    from talkinghead_studio.config import ExportSettings, RenderSettings
    from talkinghead_studio.core.pipeline import RenderJob, render

    out = tmp_path / "frames"
    render(RenderJob(astronaut_path, moving_face_clip, out, MotionSettings(),
                     RenderSettings(size=256, model_path=shipped_model),
                     ExportSettings(format="png")))
    files = sorted(out.glob("*.png"))
    assert len(files) == 20
    with Image.open(files[10]) as frame:
        assert frame.mode == "RGBA" and frame.size == (512, 512)
        alpha = np.asarray(frame)[..., 3]
    assert alpha[5, 5] == 0 and alpha[500, 500] == 0         # outside the face's box
    assert alpha[110, 225] == 255                            # her nose
    assert 0 < np.mean(alpha > 0) < 0.25
