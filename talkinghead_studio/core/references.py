"""Few-shot references: extra views of the same face (mouth open, eyes closed, other
photos), used where they match the target expression better than the main portrait.

This is the app-side form of the paper's few-shot idea: more views of a person make a
better result, because real teeth and real closed lids then come from real pixels
instead of being synthesised.

Each reference is aligned once into the main portrait's crop frame (a 2-D similarity
fitted on the rigid landmarks) and colour-matched to it. Per frame, the views are scored
by how close their expression and pose are to the target; the generator warps the best
reference (and the main portrait, which always supplies hair and background), and the
face region is blended between them with weights that change smoothly over time.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from talkinghead_studio.core import face_regions as fr
from talkinghead_studio.core.crop import to_crop_units
from talkinghead_studio.core.images import LoadedImage
from talkinghead_studio.core.landmarks import FaceMeshDetector
from talkinghead_studio.core.motion import fit_similarity, fit_similarity_2d
from talkinghead_studio.core.portrait import PreparedPortrait, find_portrait_face
from talkinghead_studio.errors import NoFaceFound

# Each region is chosen on its own: a view with the right open mouth but closed eyes
# must not give the result closed eyes. Measured on self-reenactment: blending the
# whole face from one choice cut blink correlation from 0.88 to 0.72.
REGION_POINTS = {
    "mouth": np.array(fr.LIPS),
    "eyes": np.array(sorted(set(fr.RIGHT_EYE_UPPER + fr.RIGHT_EYE_LOWER + fr.LEFT_EYE_UPPER
                                + fr.LEFT_EYE_LOWER))),
}
SELECTION_SHARPNESS = 200.0  # larger = prefer the single closest view more strongly;
#                             at 200 a view 0.01 eye-distances closer gets ~88 % weight
PORTRAIT_PREFERENCE = 0.015  # a view must be this much closer (eye distances) to be used:
#                             the portrait is the identity reference, views only help
WEIGHT_SMOOTHING = 0.6       # share of the previous frame's weights kept (no popping)
UNSHOWN_OPENING_COST = 1.0   # per eye distance a view's eyes would have to open wider
#                             than they are in it: lids slide down over a real eye, but
#                             a view never shows what is behind its own lids. Without it a
#                             portrait caught mid-blink (lid gap 0.09 of the eye's width)
#                             kept its shut eyes against an open-eyed view for a driver
#                             whose eyes opened (targets 0.13-0.17): both were about as
#                             far from the target, and the portrait is preferred.
MIN_WEIGHT = 0.08            # views below this share are not generated at all


@dataclass(frozen=True)
class ReferenceView:
    """A reference aligned to the main crop. crop: RxRx3 uint8 RGB; points: 478x3 float32
    crop units (of the main crop frame); name: the file it came from."""

    crop: np.ndarray
    points: np.ndarray
    name: str


def _face_mask(points: np.ndarray, size: int, feather: float = 0.04) -> np.ndarray:
    """RxR float32 in [0,1]: the filled face oval of crop-unit landmarks, feathered."""
    mask = np.zeros((size, size), np.float32)
    hull = cv2.convexHull((points[list(fr.FACE_OVAL), :2] * size).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1.0)
    radius = max(1, int(feather * size))
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=radius // 2)
    return cv2.GaussianBlur(mask, (0, 0), radius / 2)


def _match_colours(crop: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Shift ``crop``'s face colours (Lab mean/std inside ``mask``) to ``target``'s."""
    inside = mask > 0.5
    if inside.sum() < 50:
        return crop
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float32)
    ref = cv2.cvtColor(target, cv2.COLOR_RGB2LAB).astype(np.float32)
    for channel in range(3):
        src_mean, src_std = lab[..., channel][inside].mean(), lab[..., channel][inside].std()
        dst_mean, dst_std = ref[..., channel][inside].mean(), ref[..., channel][inside].std()
        gain = np.clip(dst_std / max(src_std, 1e-3), 0.7, 1.4)
        lab[..., channel] = (lab[..., channel] - src_mean) * gain + dst_mean
    return cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def align_reference(reference: LoadedImage, main: PreparedPortrait, name: str,
                    detector: FaceMeshDetector | None = None) -> ReferenceView:
    """Find the face in ``reference`` and map it into ``main``'s crop frame."""
    found = find_portrait_face(reference.rgb, detector)
    if found is None:
        raise NoFaceFound(f"No face was found in the extra view {name}; remove it or use a "
                          f"clearer picture of the same face.")
    rigid = list(fr.RIGID)
    to_main = fit_similarity_2d(found.points[rigid, :2], main.points[rigid, :2])
    scale = float(np.sqrt(abs(np.linalg.det(to_main[:, :2]))))
    main_points = found.points.astype(np.float64).copy()
    main_points[:, :2] = found.points[:, :2] @ to_main[:, :2].T + to_main[:, 2]
    main_points[:, 2] *= scale
    to_crop = main.box.affine_to_crop(main.size)
    combined = to_crop[:, :2] @ to_main
    combined[:, 2] += to_crop[:, 2]
    crop = cv2.warpAffine(reference.rgb, combined, (main.size, main.size),
                          flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    points = to_crop_units(main_points.astype(np.float32), main.box)
    crop = _match_colours(crop, main.crop, _face_mask(main.crop_points, main.size))
    return ReferenceView(crop, points, name)


def expression_signature(points: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """A face (478x3 crop units) with its pose relative to ``anchor`` (478x3) removed:
    478x2 float64, divided by the anchor's eye distance."""
    rigid = list(fr.RIGID)
    fit = fit_similarity(points[rigid].astype(np.float64), anchor[rigid].astype(np.float64))
    aligned = fit.apply(points.astype(np.float64))
    return aligned[:, :2] / max(fr.interocular(anchor), 1e-6)


class ReferenceSelector:
    """Chooses, per frame and per region, how much each view (main = index 0) supplies."""

    def __init__(self, main_points: np.ndarray, views: list[ReferenceView]) -> None:
        self.anchor = main_points
        self.signatures = [expression_signature(main_points, main_points)] + [
            expression_signature(view.points, main_points) for view in views]
        self.openings = np.array([_eye_openings(s) for s in self.signatures])    # Vx2
        self._previous: dict[str, np.ndarray] = {}

    def reset(self) -> None:
        self._previous = {}

    def weights(self, target: np.ndarray) -> dict[str, np.ndarray]:
        """{region: (V,) float weights summing to 1} for target landmarks (478x3)."""
        signature = expression_signature(target, self.anchor)
        chosen = {}
        for region, points in REGION_POINTS.items():
            distances = np.array([np.abs(signature[points] - s[points]).mean()
                                  for s in self.signatures])
            if region == "eyes":
                wider = np.clip(_eye_openings(signature)[None] - self.openings, 0.0, None)
                distances += UNSHOWN_OPENING_COST * wider.mean(1)
            distances[1:] += PORTRAIT_PREFERENCE
            scores = np.exp(-(distances - distances.min()) * SELECTION_SHARPNESS)
            weights = scores / scores.sum()
            if region in self._previous:
                weights = WEIGHT_SMOOTHING * self._previous[region] + \
                    (1 - WEIGHT_SMOOTHING) * weights
            weights[weights < MIN_WEIGHT] = 0.0
            weights /= weights.sum()
            self._previous[region] = weights
            chosen[region] = weights
        return chosen


def _eye_openings(signature: np.ndarray) -> np.ndarray:
    """(right, left) lid gaps of a 478x2 expression signature, in eye distances."""
    return np.array([fr.eye_opening(signature, fr.RIGHT_EYE_UPPER, fr.RIGHT_EYE_LOWER),
                     fr.eye_opening(signature, fr.LEFT_EYE_UPPER, fr.LEFT_EYE_LOWER)])


def _region_masks(target: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """RxR float32 soft masks of the mouth and eye areas of crop-unit landmarks."""
    masks = {}
    groups = {"mouth": [fr.LIPS_OUTER_UPPER + fr.LIPS_OUTER_LOWER],
              "eyes": [fr.RIGHT_EYE_UPPER + fr.RIGHT_EYE_LOWER + fr.RIGHT_BROW,
                       fr.LEFT_EYE_UPPER + fr.LEFT_EYE_LOWER + fr.LEFT_BROW]}
    grow = max(1, int(0.03 * size))
    for region, contours in groups.items():
        mask = np.zeros((size, size), np.float32)
        for contour in contours:
            hull = cv2.convexHull((target[list(contour), :2] * size).astype(np.int32))
            cv2.fillConvexPoly(mask, hull, 1.0)
        mask = cv2.dilate(mask, np.ones((3, 3), np.uint8), iterations=grow)
        masks[region] = cv2.GaussianBlur(mask, (0, 0), grow / 1.5)
    return masks


def blend_face(main_crop: np.ndarray, view_crops: dict[int, np.ndarray],
               weights: dict[str, np.ndarray], target: np.ndarray) -> np.ndarray:
    """Blend generated crops (RxRx3 uint8) region by region around the target's mouth
    and eyes; main_crop supplies everything else. Index 0 = the main portrait."""
    size = main_crop.shape[0]
    out = main_crop.astype(np.float32)
    for region, mask in _region_masks(target, size).items():
        region_weights = weights[region]
        if region_weights[0] >= 1.0:
            continue
        mixed = np.zeros_like(out)
        for index, weight in enumerate(region_weights):
            if weight > 0:
                crop = main_crop if index == 0 else view_crops[index]
                mixed += weight * crop.astype(np.float32)
        out = out * (1 - mask[..., None]) + mixed * mask[..., None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def load_references(paths: list[Path], main: PreparedPortrait, max_side: int = 2048
                    ) -> list[ReferenceView]:
    from talkinghead_studio.core.images import load_portrait

    views = []
    with FaceMeshDetector(mode="image") as detector:
        for path in paths:
            views.append(align_reference(load_portrait(path, max_side), main, Path(path).name,
                                         detector))
    return views
