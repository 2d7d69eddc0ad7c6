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

:func:`compose` finishes the R x R crop. :class:`RegionCompositor` finishes the same
frame straight into the full-size portrait instead, sampling the portrait itself at
the fields' source points, with no crop in between (the render's path when the face's
box is no larger than R; see its docstring).

Portrait stage (optional): part of a warp depends on the portrait alone (its colours,
its matte pooled to the coarse grid, fits to its landmarks) and is the same for every
frame. A companion may name, in ``ths.portrait_stage``, a file that computes that part
from the portrait's inputs (STAGE_INPUTS); its outputs are then inputs of the companion
under the same names, and :class:`CompanionRunner` runs the stage once per portrait
instead of once per frame (mesh warp: 1.1 of 10.9 ms a frame at 512 px).
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from talkinghead_studio.errors import GeneratorContractError
from talkinghead_studio.inference.contract import (META_LAYOUT, META_RESOLUTIONS,
                                                   META_VERSION, TensorSpec,
                                                   contract_metadata, tensor_specs)

COMPANION_INPUTS = ("source_image", "source_landmarks", "driving_landmarks", "source_matte")
COMPANION_OUTPUTS = ("sampling_fields", "refine_index", "refine_map", "inner_window",
                     "inner_layer")
META_ROLE = "ths.role"
META_COARSE = "ths.coarse"
META_STAGE = "ths.portrait_stage"
ROLE = "sampling-companion"
STAGE_ROLE = "portrait-stage"
STAGE_INPUTS = ("source_image", "source_landmarks", "source_matte")


def companion_metadata(name: str, resolutions: tuple[int, ...], coarse: int,
                       stage: str | None = None) -> dict[str, str]:
    """metadata_props of a companion (the exporter writes these); stage: the file name of
    its portrait stage, if it has one."""
    return {**contract_metadata(name, "sampling-companion", resolutions),
            META_ROLE: ROLE, META_COARSE: str(coarse), **({META_STAGE: stage} if stage else {})}


def stage_metadata(name: str, resolutions: tuple[int, ...]) -> dict[str, str]:
    """metadata_props of a portrait stage."""
    return {**contract_metadata(name, "portrait-stage", resolutions), META_ROLE: STAGE_ROLE}


def _check_family(metadata: dict[str, str], main_metadata: dict[str, str], role: str,
                  label: str) -> None:
    if metadata.get(META_ROLE) != role:
        raise GeneratorContractError(f"{label}: not a {role} ('{META_ROLE}').")
    for key in (META_VERSION, META_LAYOUT, META_RESOLUTIONS):
        if metadata.get(key) != main_metadata.get(key):
            raise GeneratorContractError(
                f"{label}: '{key}' is {metadata.get(key)!r}, the main model says "
                f"{main_metadata.get(key)!r}; rebuild the files together.")


def check_stage(inputs: list[TensorSpec], outputs: list[TensorSpec],
                metadata: dict[str, str], main_metadata: dict[str, str],
                label: str) -> tuple[str, ...]:
    """Check a portrait stage against its main model; returns its output names."""
    _check_family(metadata, main_metadata, STAGE_ROLE, label)
    names_in = [spec.name for spec in inputs]
    if not names_in or set(names_in) - set(STAGE_INPUTS):
        raise GeneratorContractError(
            f"{label}: inputs {names_in}; a portrait stage takes some of "
            f"{list(STAGE_INPUTS)}.")
    return tuple(spec.name for spec in outputs)


def check_companion(inputs: list[TensorSpec], outputs: list[TensorSpec],
                    metadata: dict[str, str], main_metadata: dict[str, str],
                    label: str, stage_outputs: tuple[str, ...] = ()) -> int:
    """Check a companion against its main model (and the outputs of its portrait stage,
    if it has one); returns the coarse factor.

    Raises GeneratorContractError naming the first thing that does not fit."""
    _check_family(metadata, main_metadata, ROLE, label)
    names_in = tuple(spec.name for spec in inputs)
    names_out = tuple(spec.name for spec in outputs)
    state = set(names_in) - set(COMPANION_INPUTS)
    if state != set(stage_outputs) or "driving_landmarks" not in names_in or (
            not stage_outputs and set(COMPANION_INPUTS[:3]) - set(names_in)):
        raise GeneratorContractError(
            f"{label}: inputs {list(names_in)}; a companion takes {list(COMPANION_INPUTS)}"
            + (f" and its portrait stage's {len(stage_outputs)} outputs" if stage_outputs
               else "") + ".")
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


class CompanionRunner:
    """A sampling companion, and its portrait stage if it has one, ready to run.

    open_session(path) opens an onnxruntime session (the caller's options); main_metadata:
    the main model's metadata_props. Raises GeneratorContractError (or what onnxruntime
    raises) when a file is missing, broken or does not fit.

    The portrait stage's outputs are kept per portrait, keyed by the identity of the
    arrays fed as its inputs (the app builds them once per portrait and view): feeds
    must not be changed in place. The most recent few portraits are kept.
    """

    KEEP_PORTRAITS = 8

    def __init__(self, path: Path, open_session: Callable, main_metadata: dict[str, str]):
        self.path = Path(path)
        self.session = open_session(str(self.path))
        metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.stage = None
        self.stage_inputs: tuple[str, ...] = ()
        stage_outputs: tuple[str, ...] = ()
        if metadata.get(META_STAGE):
            stage_path = self.path.with_name(Path(metadata[META_STAGE]).name)
            self.stage = open_session(str(stage_path))
            stage_outputs = check_stage(
                tensor_specs(self.stage.get_inputs()), tensor_specs(self.stage.get_outputs()),
                dict(self.stage.get_modelmeta().custom_metadata_map), main_metadata,
                stage_path.name)
            self.stage_inputs = tuple(i.name for i in self.stage.get_inputs())
        self.coarse = check_companion(
            tensor_specs(self.session.get_inputs()), tensor_specs(self.session.get_outputs()),
            metadata, main_metadata, self.path.name, stage_outputs)
        self.stage_outputs = stage_outputs
        self.inputs = tuple(i.name for i in self.session.get_inputs())
        self._states: dict[tuple[int, ...], tuple[tuple, dict]] = {}
        self._lock = threading.Lock()

    def _portrait_state(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        sources = tuple(feeds[name] for name in self.stage_inputs)
        key = tuple(id(array) for array in sources)
        with self._lock:   # frames run on several threads; the stage runs once
            kept = self._states.get(key)
            # Holding the arrays keeps their ids from being reused by other arrays.
            if kept is not None and all(a is b for a, b in zip(kept[0], sources)):
                return kept[1]
            values = self.stage.run(list(self.stage_outputs), dict(zip(self.stage_inputs, sources)))
            state = dict(zip(self.stage_outputs, values))
            if len(self._states) >= self.KEEP_PORTRAITS:
                self._states.pop(next(iter(self._states)))
            self._states[key] = (sources, state)
            return state

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The companion's outputs by name for contract feeds (extra names ignored)."""
        model_feeds = self._portrait_state(feeds).copy() if self.stage is not None else {}
        model_feeds.update((name, feeds[name]) for name in self.inputs
                           if name not in model_feeds)
        return dict(zip(COMPANION_OUTPUTS,
                        self.session.run(list(COMPANION_OUTPUTS), model_feeds)))


#: Field values smaller than this are taken as 0 (they mean nothing at 8 bits a channel).
NEGLIGIBLE = 1e-30


def _without_subnormals(values: np.ndarray) -> np.ndarray:
    """A float32 copy of ``values`` with magnitudes below NEGLIGIBLE set to 0.

    The mesh warp's soft falloffs leave ~1,000 subnormal numbers in its 128x128x4 fields
    at 512 px, and more values just above that range whose products with interpolation
    weights are subnormal; x86 takes a slow path for each. They made OpenCV's
    resampling of those fields 2.8x slower (0.86 against 0.31 ms; this copy: 34 us)."""
    values = np.array(values, dtype=np.float32)
    values[np.abs(values) < NEGLIGIBLE] = 0.0
    return values


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
    fields = _without_subnormals(outputs["sampling_fields"][0])             # c x c x 4
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


class RegionCompositor:
    """Finishes a companion's frame straight into the full-size portrait.

    The crop path samples the portrait's face three times: ``crop_image`` resamples its
    box to R x R, :func:`compose` warps that crop, and the paste-back resamples the
    result into the box's pixels again. When the box is smaller than R (a 512 px working
    size on a face box 213 px across, the shipped astronaut) most of the R x R pixels
    are computed only to be averaged away, and each resampling softens the face a
    little. Here each pixel of the box is computed once, at the portrait's own
    resolution: the companion's fields are read at the pixel's position in the crop,
    and the portrait itself (not the crop) is sampled at the source point they give.
    Pixels the warp leaves in place therefore keep the portrait's own values.

    portrait: HxWx3 uint8 RGB, the full image (never changed); bounds: (x0, y0, x1, y1)
    of the box clipped to the image (int px); region_to_crop: 2x3 float64 mapping box
    pixels (relative to x0, y0) to crop pixels, a scale and a shift only; size: R;
    coarse: the companion's cell size in crop px; seam: (y1-y0)x(x1-x0) float32 feather
    weights in [0,1]; plate: the background plate resampled to the box, same size x 3
    uint8, or None.

    Stateless per frame: several frames may be composed at once from different threads.
    """

    def __init__(self, portrait: np.ndarray, bounds: tuple[int, int, int, int],
                 region_to_crop: np.ndarray, size: int, coarse: int, seam: np.ndarray,
                 plate: np.ndarray | None = None) -> None:
        scale = float(region_to_crop[0, 0])
        if region_to_crop[0, 1] != 0 or region_to_crop[1, 0] != 0 \
                or abs(region_to_crop[1, 1] - scale) > 1e-9 * scale or scale <= 0:
            raise ValueError("region_to_crop must be a uniform scale and a shift")
        self.portrait = portrait
        self.bounds = bounds
        self.size, self.coarse = size, coarse
        x0, y0, x1, y1 = bounds
        width, height = x1 - x0, y1 - y0
        # Crop-pixel position of each box column / row (OpenCV's convention: centres at
        # integers in both).
        self._crop_x = scale * np.arange(width) + region_to_crop[0, 2]
        self._crop_y = scale * np.arange(height) + region_to_crop[1, 2]
        # Where each box pixel reads the coarse fields: half-pixel cell centres, as in
        # _upsample, so a box pixel gets what the crop pixel at its position would get.
        cell_x = ((self._crop_x + 0.5) / coarse - 0.5).astype(np.float32)
        cell_y = ((self._crop_y + 0.5) / coarse - 0.5).astype(np.float32)
        self._cell_map = np.ascontiguousarray(np.stack(np.broadcast_arrays(
            cell_x[None, :], cell_y[:, None]), -1))                           # h x w x 2
        # Crop px -> portrait px: the inverse of region_to_crop, shifted to the image.
        self._to_image_scale = np.float32(1.0 / scale)
        self._to_image_shift = np.array(
            [x0 - region_to_crop[0, 2] / scale, y0 - region_to_crop[1, 2] / scale],
            np.float32)
        # Nearest crop pixel of each box column / row, for the refined pixels.
        self._near_x = np.clip(np.rint(self._crop_x), 0, size - 1).astype(np.int64)
        self._near_y = np.clip(np.rint(self._crop_y), 0, size - 1).astype(np.int64)
        self._base = np.ascontiguousarray(portrait[y0:y1, x0:x1])
        self._seam = np.ascontiguousarray(seam, dtype=np.float32)
        self._plate = None if plate is None else np.ascontiguousarray(plate)

    def _to_image(self, crop_xy: np.ndarray) -> np.ndarray:
        """...x2 float32 crop px -> the same points in portrait px (float32)."""
        return crop_xy * self._to_image_scale + self._to_image_shift

    def _refine(self, source_x: np.ndarray, source_y: np.ndarray, index: np.ndarray,
                exact: np.ndarray) -> None:
        """Give box pixels whose nearest crop pixel has an exact source point (N flat crop
        px ``index``, Nx2 ``exact`` crop px, NaN: none) that point, moved by the pixel's
        offset from that crop pixel. source_x, source_y: h x w float32 portrait px,
        changed in place.

        Refined pixels sit where the warp folds or tears (a closing lid, pressed lips):
        interpolating between them would read the source from inside the tear, so each
        box pixel takes its nearest crop pixel's point, as the crop path would show it."""
        keep = np.isfinite(exact[:, 0])
        if not keep.any():
            return
        index, exact = index[keep], exact[keep]
        rows, cols = np.divmod(index, self.size)
        # Only the box rows / columns whose nearest crop pixel can be refined.
        r0, r1 = np.searchsorted(self._near_y, [rows.min(), rows.max() + 1])
        c0, c1 = np.searchsorted(self._near_x, [cols.min(), cols.max() + 1])
        if r0 >= r1 or c0 >= c1:
            return
        slot = np.zeros(self.size * self.size, np.int32)
        slot[index] = np.arange(1, len(index) + 1, dtype=np.int32)
        near_y, near_x = self._near_y[r0:r1], self._near_x[c0:c1]
        hit = slot[(near_y[:, None] * self.size + near_x[None, :])]            # sub h x w
        ys, xs = np.nonzero(hit)
        if len(ys) == 0:
            return
        point = exact[hit[ys, xs] - 1]
        point[:, 0] += self._crop_x[c0 + xs] - near_x[xs]
        point[:, 1] += self._crop_y[r0 + ys] - near_y[ys]
        point = self._to_image(point)
        source_x[r0 + ys, c0 + xs] = point[:, 0]
        source_y[r0 + ys, c0 + xs] = point[:, 1]

    def _lay_inner(self, person: np.ndarray, outputs: dict[str, np.ndarray]) -> None:
        """Lay the eye and mouth layers over ``person`` (h x w x 3 uint8, in place)."""
        for (y0, x0, h, w), layer in _inner_windows(outputs):
            # Only the part the layer covers, and a pixel around it (the interpolation's
            # reach): a quarter of an eye window, none of a closed mouth's.
            covered = layer[..., 2] > 0
            rows, cols = np.flatnonzero(covered.any(1)), np.flatnonzero(covered.any(0))
            if len(rows) == 0:
                continue
            top, bottom = max(rows[0] - 1, 0), min(rows[-1] + 2, h)
            left, right = max(cols[0] - 1, 0), min(cols[-1] + 2, w)
            layer = layer[top:bottom, left:right]
            y0, x0, h, w = y0 + top, x0 + left, bottom - top, right - left
            # Box pixels whose crop position falls on the window's pixels.
            c0, c1 = np.searchsorted(self._crop_x, [x0 - 0.5, x0 + w - 0.5])
            r0, r1 = np.searchsorted(self._crop_y, [y0 - 0.5, y0 + h - 0.5])
            if c0 >= c1 or r0 >= r1:
                continue
            layer = layer.copy()
            layer[..., :2] = self._to_image(layer[..., :2])   # fewer points than box pixels
            shape = (r1 - r0, c1 - c0)
            layer_x = np.broadcast_to((self._crop_x[c0:c1] - x0).astype(np.float32), shape)
            layer_y = np.broadcast_to((self._crop_y[r0:r1, None] - y0).astype(np.float32),
                                      shape)
            at = cv2.remap(layer, np.ascontiguousarray(layer_x),
                           np.ascontiguousarray(layer_y), cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)                 # sub h x w x 7
            real = cv2.remap(self.portrait, np.ascontiguousarray(at[..., :2]), None,
                             cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            synth = (at[..., 4:7] * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
            inner = _blend(synth, real, np.ascontiguousarray(at[..., 3]))
            window = person[r0:r1, c0:c1]
            person[r0:r1, c0:c1] = _blend(inner, window, np.ascontiguousarray(at[..., 2]))

    def compose(self, outputs: dict[str, np.ndarray], want_alpha: bool = False
                ) -> tuple[np.ndarray, np.ndarray | None]:
        """A companion's outputs -> (HxWx3 uint8 RGB full frame, HxW uint8 alpha: the
        person's alpha times the seam, when ``want_alpha``, else None)."""
        fields = outputs["sampling_fields"][0]                                # c x c x 4
        if fields.shape[0] * self.coarse != self.size or fields.shape[1] * self.coarse != self.size:
            raise GeneratorContractError(
                f"sampling companion returned {fields.shape[1]}x{fields.shape[0]} cells for "
                f"a {self.size} px crop; its metadata says one cell per {self.coarse} px.")
        at = cv2.remap(_without_subnormals(fields), self._cell_map, None,
                       cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)     # h x w x 4
        # numpy's channel copies, not cv2.split: 0.07 against 0.42 ms here.
        source_x, source_y, alpha, uncovered = (np.ascontiguousarray(at[..., k])
                                                for k in range(4))
        for plane, shift in ((source_x, self._to_image_shift[0]),
                             (source_y, self._to_image_shift[1])):   # crop px -> portrait px
            np.multiply(plane, self._to_image_scale, out=plane)
            np.add(plane, shift, out=plane)
        self._refine(source_x, source_y, outputs["refine_index"], outputs["refine_map"])
        person = cv2.remap(self.portrait, source_x, source_y, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        self._lay_inner(person, outputs)
        # The crop path blends person over backdrop, then the result over the portrait
        # with the seam's weight. Folding the seam into both weights makes that two
        # blends instead of three; it differs only where the seam fades, the head has
        # uncovered background *and* the person is partly there: by
        # seam * (1 - seam) * alpha * uncovered of (plate - portrait).
        weight = alpha * self._seam
        backdrop = self._base
        if self._plate is not None and uncovered.max() >= UNCOVERED_MIN:
            share = np.where(uncovered >= UNCOVERED_MIN, uncovered, np.float32(0.0))
            backdrop = _blend(self._plate, self._base, share * self._seam)
        frame = self.portrait.copy()
        x0, y0, x1, y1 = self.bounds
        frame[y0:y1, x0:x1] = _blend(person, backdrop, weight)
        mask = None
        if want_alpha:
            mask = np.zeros(self.portrait.shape[:2], np.uint8)
            mask[y0:y1, x0:x1] = np.clip(weight * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return frame, mask
