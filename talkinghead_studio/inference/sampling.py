"""Sampling companions: a warp generator's last, heaviest step done by OpenCV.

A warp generator spends most of its time at 512 px in one operation: resampling the
portrait at full resolution (onnxruntime's CPU GridSample takes ~11 ms for a 512x512
RGB frame, ``cv2.remap`` ~1 ms). A generator may therefore ship a *companion* ONNX file
(named by its ``ths.sampling_companion`` metadata) that computes the same warp up to
that step and returns the fields below; :func:`compose` finishes the frame. The result
equals the main file's ``image`` output to within a few 1/255 levels (OpenCV samples
with 1/32-pixel weights); a test holds both to that.

Companion inputs: the main file's, without ``background_image``.
Companion outputs (c = R / coarse; pixel coordinates use OpenCV's convention, pixel
centres at integers; spatial tensors are channel-last, as OpenCV wants them):

sampling_fields  1 x c x c x 4 float32  source x, y (px), person alpha, uncovered share;
                                        bilinear upsampling x coarse (half-pixel
                                        centres, i.e. cv2.INTER_LINEAR) gives R x R
refine_index     N int64                flat output pixels whose source point is exact
refine_map       N x 2 float32          their source x, y (px); NaN: keep the upsampled
inner_window     K x 4 int64            y0, x0, h, w of each inner-layer window, output px
inner_layer      P x 7 float32          per window pixel (window after window, row-major):
                                        source x, y (px), cover, mix, synthetic RGB [0,1]

Per pixel: person = portrait at the source point; inside each window in turn, with real =
portrait at the inner source point, person += cover * (real + mix * (synth - real) -
person); backdrop = portrait + uncovered * (plate - portrait); image = backdrop +
alpha * (person - backdrop); mask = alpha.
"""
from __future__ import annotations

import cv2
import numpy as np

from talkinghead_studio.errors import GeneratorContractError
from talkinghead_studio.inference.contract import (META_LAYOUT, META_RESOLUTIONS,
                                                   META_VERSION, TensorSpec,
                                                   contract_metadata)

COMPANION_INPUTS = ("source_image", "source_landmarks", "driving_landmarks", "source_matte")
COMPANION_OUTPUTS = ("sampling_fields", "refine_index", "refine_map", "inner_window",
                     "inner_layer")
META_ROLE = "ths.role"
META_COARSE = "ths.coarse"
ROLE = "sampling-companion"


def companion_metadata(name: str, resolutions: tuple[int, ...], coarse: int) -> dict[str, str]:
    """metadata_props of a companion (the exporter writes these)."""
    return {**contract_metadata(name, "sampling-companion", resolutions),
            META_ROLE: ROLE, META_COARSE: str(coarse)}


def check_companion(inputs: list[TensorSpec], outputs: list[TensorSpec],
                    metadata: dict[str, str], main_metadata: dict[str, str],
                    label: str) -> int:
    """Check a companion against its main model; returns the coarse factor.

    Raises GeneratorContractError naming the first thing that does not fit."""
    if metadata.get(META_ROLE) != ROLE:
        raise GeneratorContractError(f"{label}: not a sampling companion ('{META_ROLE}').")
    for key in (META_VERSION, META_LAYOUT, META_RESOLUTIONS):
        if metadata.get(key) != main_metadata.get(key):
            raise GeneratorContractError(
                f"{label}: '{key}' is {metadata.get(key)!r}, the main model says "
                f"{main_metadata.get(key)!r}; rebuild both files together.")
    names_in = tuple(spec.name for spec in inputs)
    names_out = tuple(spec.name for spec in outputs)
    if set(names_in) - set(COMPANION_INPUTS) or set(COMPANION_INPUTS[:3]) - set(names_in):
        raise GeneratorContractError(
            f"{label}: inputs {list(names_in)}; a companion takes {list(COMPANION_INPUTS)}.")
    if set(COMPANION_OUTPUTS) - set(names_out):
        raise GeneratorContractError(
            f"{label}: outputs {list(names_out)}; a companion gives {list(COMPANION_OUTPUTS)}.")
    try:
        coarse = int(metadata.get(META_COARSE, ""))
    except ValueError:
        coarse = 0
    resolutions = [int(r) for r in metadata[META_RESOLUTIONS].split(",")]
    if coarse < 1 or any(r % coarse for r in resolutions):
        raise GeneratorContractError(
            f"{label}: '{META_COARSE}' must divide every resolution {resolutions}.")
    return coarse


def _blend(top: np.ndarray, bottom: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """bottom + weight * (top - bottom): uint8 HxWx3 images, contiguous HxW float32
    weight in [0,1]."""
    return cv2.blendLinear(top, bottom, weight, 1.0 - weight)


def _upsample(coarse: np.ndarray, size: int) -> np.ndarray:
    """cxc[xC] float32 -> size x size[xC], bilinear with half-pixel centres (the
    companion's convention). Values stay within the input's range, so weights in [0,1]
    need no clipping afterwards."""
    return cv2.resize(np.ascontiguousarray(coarse), (size, size), interpolation=cv2.INTER_LINEAR)


def _inner_windows(outputs: dict[str, np.ndarray]):
    """((y0, x0, h, w), h x w x 7 float32 layer) for each non-empty inner-layer window.

    ``inner_window`` is K x 4 and ``inner_layer`` P x 7, the windows' pixels one window
    after the other."""
    boxes, layer = outputs["inner_window"], outputs["inner_layer"]
    start = 0
    for y0, x0, h, w in (tuple(int(v) for v in box) for box in boxes):
        if h > 0 and w > 0:
            yield (y0, x0, h, w), layer[start:start + h * w].reshape(h, w, -1)
        start += max(h, 0) * max(w, 0)


def compose(outputs: dict[str, np.ndarray], portrait: np.ndarray, plate: np.ndarray | None,
            coarse: int) -> tuple[np.ndarray, np.ndarray]:
    """Finish a frame from a companion's outputs.

    outputs: the companion's tensors by name; portrait: RxRx3 uint8 RGB (the crop fed as
    source_image); plate: RxRx3 uint8 background plate, or None for "the portrait".
    Returns (RxRx3 uint8 RGB image, RxR float32 mask in [0,1]).
    """
    size = portrait.shape[0]
    fields = outputs["sampling_fields"][0]                                   # c x c x 4
    if fields.shape[0] * coarse != size or fields.shape[1] * coarse != size:
        raise GeneratorContractError(
            f"sampling companion returned {fields.shape[1]}x{fields.shape[0]} cells for a "
            f"{size} px crop; its metadata says one cell per {coarse} px.")
    source_map = _upsample(fields[..., :2], size)                            # R x R x 2
    index = outputs["refine_index"]
    exact = outputs["refine_map"]
    keep = np.isfinite(exact[:, 0])
    source_map.reshape(-1, 2)[index[keep]] = exact[keep]
    person = cv2.remap(portrait, source_map, None, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    for (y0, x0, h, w), layer in _inner_windows(outputs):
        real = cv2.remap(portrait, np.ascontiguousarray(layer[..., :2]), None,
                         cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        synth = (layer[..., 4:7] * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
        inner = _blend(synth, real, np.ascontiguousarray(layer[..., 3]))
        window = person[y0:y0 + h, x0:x0 + w]
        person[y0:y0 + h, x0:x0 + w] = _blend(inner, window, np.ascontiguousarray(layer[..., 2]))
    alpha = _upsample(fields[..., 2], size)
    backdrop = portrait
    if plate is not None:
        backdrop = _uncover(portrait, plate, fields[..., 3], coarse)
    return _blend(person, backdrop, alpha), alpha


#: Uncovered shares below this are taken as none: (plate - portrait) * share stays under
#: one grey level.
UNCOVERED_MIN = 1.0 / 256.0


def _uncover(portrait: np.ndarray, plate: np.ndarray, uncovered: np.ndarray, coarse: int
             ) -> np.ndarray:
    """portrait + uncovered * (plate - portrait), uncovered upsampled from c x c.

    Only the box of cells a moving head uncovers, plus the one zero cell around it that
    bilinear upsampling reaches into, is blended: the same pixels as a full-frame blend
    (the zero margin makes the box's own border clamping agree), at a fraction of the
    cost (~0.9 ms a frame at 512 px for the full frame). Shares below UNCOVERED_MIN are
    dropped first: they change a pixel by under one level, yet sit all along the
    matte's soft edge and stretched the box over 90 % of a talking head's frame (63 %
    without them; measured on the sample driver at 512 px)."""
    uncovered = np.where(uncovered >= UNCOVERED_MIN, uncovered, np.float32(0.0))
    rows = np.flatnonzero(uncovered.max(1) > 0)
    if len(rows) == 0:
        return portrait
    cols = np.flatnonzero(uncovered.max(0) > 0)
    cells = uncovered.shape[0]
    r0, r1 = max(rows[0] - 1, 0), min(rows[-1] + 2, cells)
    c0, c1 = max(cols[0] - 1, 0), min(cols[-1] + 2, cells)
    weight = cv2.resize(np.ascontiguousarray(uncovered[r0:r1, c0:c1]),
                        ((c1 - c0) * coarse, (r1 - r0) * coarse),
                        interpolation=cv2.INTER_LINEAR)
    y0, y1, x0, x1 = r0 * coarse, r1 * coarse, c0 * coarse, c1 * coarse
    backdrop = portrait.copy()
    backdrop[y0:y1, x0:x1] = _blend(plate[y0:y1, x0:x1], portrait[y0:y1, x0:x1], weight)
    return backdrop
