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
