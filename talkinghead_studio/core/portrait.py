"""Portrait preparation, done once per portrait: find the face, crop, matte, plate.

Everything per-frame work needs about the portrait is computed here so that the frame
loop only retargets landmarks, runs the generator and pastes the result back.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from talkinghead_studio.core import face_regions as fr
from talkinghead_studio.core.crop import CropBox, crop_image, face_crop_box, to_crop_units
from talkinghead_studio.core.glasses import GlassesLayer, find_glasses
from talkinghead_studio.core.images import LoadedImage
from talkinghead_studio.core.landmarks import FaceDetection, FaceMeshDetector
from talkinghead_studio.errors import NoFaceFound

log = logging.getLogger(__name__)

#: An eye whose lid gap is under this share of its width counts as closed: the warp then
#: has no open eye to show. Measured per eye on 21 portraits and clip frames with open
#: eyes: 0.12 (a terracotta warrior's narrow sculpted eyes), else 0.17 to 0.4; the eye of
#: a frame caught mid-blink 0.055.
CLOSED_EYE_EAR = 0.10


@dataclass(frozen=True)
class PreparedPortrait:
    """A portrait ready to animate at one working size.

    image: the loaded portrait (HxWx3 uint8 RGB). points: 478x3 float32, portrait pixels.
    crop: RxRx3 uint8 RGB. crop_points: 478x3 float32, crop units.
    matte: RxR float32 [0,1] person matte of the crop, or None.
    background: RxRx3 uint8 RGB crop with the person inpainted away, or None.
    notes: remarks for the user (several faces, downscaled, ...).
    glasses: the glasses frames as a rigid layer (core/glasses.py), or None.
    """

    image: LoadedImage
    points: np.ndarray
    faces_found: int
    box: CropBox
    size: int
    crop: np.ndarray
    crop_points: np.ndarray
    matte: np.ndarray | None
    background: np.ndarray | None
    notes: tuple[str, ...]
    glasses: GlassesLayer | None = None


def _tiles(width: int, height: int) -> list[tuple[int, int, int]]:
    """Overlapping square windows (x, y, side) for finding small faces in big images."""
    windows = []
    for divisions in (2, 3):
        side = min(int(max(width, height) / divisions * 1.5), width, height)
        xs = np.linspace(0, max(0, width - side), divisions + 1).astype(int)
        ys = np.linspace(0, max(0, height - side), divisions + 1).astype(int)
        windows += [(int(x), int(y), side) for y in ys for x in xs]
    return windows


def find_portrait_face(rgb: np.ndarray, detector: FaceMeshDetector | None = None
                       ) -> FaceDetection | None:
    """Largest face in a still image. Tries the whole image, then overlapping windows,
    because MediaPipe's short-range detector misses faces that fill little of a frame.

    Without a ``detector`` a still-image one is opened for this call and closed after.
    """
    if detector is None:
        with FaceMeshDetector(mode="image") as own_detector:
            return find_portrait_face(rgb, own_detector)
    found = detector.detect(rgb)
    if found is not None:
        return found
    height, width = rgb.shape[:2]
    best: FaceDetection | None = None
    for x, y, side in _tiles(width, height):
        window = np.ascontiguousarray(rgb[y:y + side, x:x + side])
        hit = detector.detect(window)
        if hit is None:
            continue
        points = hit.points + np.array([x, y, 0], np.float32)
        candidate = FaceDetection(points=points, faces_in_frame=hit.faces_in_frame)
        if best is None or np.ptp(points[:, 0]) > np.ptp(best.points[:, 0]):
            best = candidate
    return best


def person_matte(crop: np.ndarray) -> np.ndarray:
    """RxR float32 [0,1] matte of the person in an RxRx3 uint8 RGB crop.

    MediaPipe's selfie-segmentation model ships inside the mediapipe 0.10.21 wheel.
    """
    from talkinghead_studio.core.mediapipe_solutions import solution

    with solution("selfie_segmentation").SelfieSegmentation(model_selection=0) as segmenter:
        result = segmenter.process(np.ascontiguousarray(crop))
    matte = result.segmentation_mask
    if matte is None:
        return np.zeros(crop.shape[:2], np.float32)
    matte = cv2.GaussianBlur(matte.astype(np.float32), (0, 0), crop.shape[0] / 256)
    return np.clip(matte, 0, 1)


def background_plate(crop: np.ndarray, matte: np.ndarray) -> np.ndarray:
    """The crop with the person removed and the hole filled (RxRx3 uint8 RGB).

    The hole is filled by normalised convolution over a pyramid of blur radii: each
    hole pixel takes the average colour of the *background* pixels around it, from the
    finest scale that has enough background nearby. Unlike diffusion inpainting this
    cannot drag a streak of one bright detail across the hole; the result is a soft,
    plausible continuation of the surrounding background, which is what a viewer sees
    in the thin strip a moving head uncovers.
    """
    size = crop.shape[0]
    # Generous margin: the matte's soft edge still holds hair and shoulder colours,
    # which would otherwise bleed into the fill as a dark ghost of the person.
    hole = (matte > 0.1).astype(np.uint8)
    hole = cv2.dilate(hole, np.ones((3, 3), np.uint8), iterations=max(3, size // 28))
    image = crop.astype(np.float32)
    filled = fill_from_surroundings(image, hole.astype(bool), size)
    return _mirror_band(image, hole.astype(bool), filled, band=0.08 * size)


def fill_from_surroundings(image: np.ndarray, hole: np.ndarray, size: float) -> np.ndarray:
    """HxWx3 float32 ``image`` with its ``hole`` (HxW bool) filled by normalised
    convolution over a pyramid of blur radii (``size``/128 .. ``size``/4 px): each hole
    pixel takes the mean colour of the known pixels around it, from the finest scale
    that has enough of them nearby. Known pixels are returned unchanged (float32)."""
    known = (~hole).astype(np.float32)
    filled = image * known[..., None]
    remaining = hole.copy()
    known_colour = image * known[..., None]
    for sigma in (size / 128, size / 64, size / 32, size / 16, size / 8, size / 4):
        weight = _wide_blur(known, sigma)
        colour = _wide_blur(known_colour, sigma)
        usable = remaining & (weight > 0.15)
        filled[usable] = colour[usable] / weight[usable][:, None]
        remaining &= ~usable
    if remaining.any():   # nothing known anywhere near: use the mean known colour
        mean = (image * known[..., None]).sum(axis=(0, 1)) / max(known.sum(), 1.0)
        filled[remaining] = mean if known.sum() > 0 else image[remaining]
    # Soften scale boundaries inside the hole, keep the known pixels sharp.
    soft = cv2.GaussianBlur(filled, (0, 0), size / 96)
    return np.where(hole[..., None], soft, image)


def _wide_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of an HxW[xC] float32 image; wide ones on a smaller copy.

    A blur of sigma s loses nothing when done at 1/f size with sigma s/f while s/f stays
    >= 2 px, and a 512 px plate's widest blurs (sigma 64 and 128 px) took most of the
    portrait's preparation time at full size."""
    factor = 1
    while factor < 8 and sigma / (factor * 2) >= 2.0:
        factor *= 2
    if factor == 1:
        return cv2.GaussianBlur(image, (0, 0), sigma)
    height, width = image.shape[:2]
    small = cv2.resize(image, (max(1, width // factor), max(1, height // factor)),
                       interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / factor)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def _mirror_band(image: np.ndarray, hole: np.ndarray, smooth: np.ndarray, band: float
                 ) -> np.ndarray:
    """Give the part of the hole next to its edge real background texture.

    A moving head uncovers a thin strip along its outline, and a smooth fill there reads
    as a halo. Each hole pixel within ``band`` px of the edge takes the background pixel
    mirrored across the nearest edge point (flag stripes, curtain folds, foliage continue
    into the strip), fading into the smooth fill deeper inside.

    image: HxWx3 float32; hole: HxW bool; smooth: HxWx3 float32 filled image.
    Returns HxWx3 uint8.
    """
    height, width = hole.shape
    distance, labels = cv2.distanceTransformWithLabels(
        hole.astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    known_y, known_x = np.nonzero(~hole)
    nearest = np.zeros((labels.max() + 1, 2), np.int32)
    nearest[labels[known_y, known_x]] = np.column_stack([known_x, known_y])
    ys, xs = np.nonzero(hole & (distance < band))
    edge = nearest[labels[ys, xs]]
    mirror_x, mirror_y = 2 * edge[:, 0] - xs, 2 * edge[:, 1] - ys
    usable = (mirror_x >= 0) & (mirror_x < width) & (mirror_y >= 0) & (mirror_y < height)
    usable[usable] &= ~hole[mirror_y[usable], mirror_x[usable]]
    mirrored = smooth.copy()
    values = mirrored[ys, xs]
    values[usable] = image[mirror_y[usable], mirror_x[usable]]
    mirrored[ys, xs] = values
    mirrored = cv2.GaussianBlur(mirrored, (0, 0), 1.2)     # hide single-pixel seams
    weight = np.sqrt(np.clip(1 - distance / band, 0, 1)) * hole
    weight = cv2.GaussianBlur(weight.astype(np.float32), (0, 0), 2)[..., None]
    out = np.where(hole[..., None], mirrored * weight + smooth * (1 - weight), image)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def prepare_portrait(loaded: LoadedImage, size: int, with_matte: bool = True,
                     detector: FaceMeshDetector | None = None,
                     rigid_glasses: bool = True) -> PreparedPortrait:
    """Find the face, crop it at ``size`` and compute matte and background plate, and
    (``rigid_glasses``) look for glasses frames to keep rigid.

    Raises NoFaceFound with advice when no face can be found.
    """
    found = find_portrait_face(loaded.rgb, detector)
    if found is None:
        raise NoFaceFound(
            "No face was found in the portrait. Use an image where one face is clearly "
            "visible, roughly frontal and not too small (at least ~100 px across); "
            "heavily stylised faces may not be recognised."
        )
    notes = list(loaded.notes)
    if found.faces_in_frame > 1:
        notes.append(f"{found.faces_in_frame} faces found in the portrait; animating the "
                     f"largest one.")
    box = face_crop_box(found.points)
    crop = crop_image(loaded.rgb, box, size)
    crop_points = to_crop_units(found.points, box)
    matte = background = None
    if with_matte:
        matte = person_matte(crop)
        background = background_plate(crop, matte)
    glasses = find_glasses(crop, crop_points) if rigid_glasses else None
    if glasses is not None:
        notes.append("Glasses found in the portrait: their frames move rigidly with the head.")
    if min(fr.eye_aspect_ratios(found.points)) < CLOSED_EYE_EAR:
        notes.append("The portrait's eyes look closed: the animation cannot open them, since "
                     "the picture never shows them open. A picture of the same face with open "
                     "eyes, added as an extra view (--reference, or Extra views in the app), "
                     "supplies them.")
    return PreparedPortrait(loaded, found.points, found.faces_in_frame, box, size, crop,
                            crop_points, matte, background, tuple(notes), glasses)
