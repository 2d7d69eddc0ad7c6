"""Glasses frames that stay rigid with the head.

A warp moves the portrait's pixels with the face mesh, so frames of glasses drawn over
the eyes bend with the lids in a blink. When a portrait wears glasses we therefore
split it, once, into two layers:

* the face with the frames painted out (``inpainted``), which the generator animates;
* the frames themselves (``mask`` over the original crop), laid back on top of every
  generated frame, moved only by the head's rigid motion (a 2-D affine fit to the
  expression-free landmarks, the same fit the generator uses for the face front).

Detection is a heuristic on the crop, guided by the landmarks: frames are thin lines
(a grey-level ridge, dark or bright) around the eyes, and a pair of glasses has a
bridge across the nose between the inner eye corners, where bare skin has none. The
bridge test decides whether there are glasses at all (measured on the 14 portraits we
have: 0.75 and 0.77 for the two with glasses, at most 0.22 for the 12 without); the
ridge pixels around the eyes, minus the eyes and lids themselves, become the mask.
Thin, low-contrast rims may be missed in parts; what is found stays rigid, the rest
warps as before.

Shapes: crop RxRx3 uint8 RGB; landmarks 478x3 float32 in crop units; masks RxR float32.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from talkinghead_studio.core import face_regions as fr
from talkinghead_studio.warpgen.topology import RIGID   # plain Python, no torch

BRIDGE_MIN = 0.4            # share of a bridge-window row covered by ridge pixels
RIDGE_WIDTH = 0.12          # ridge filter size, in eye widths
RIDGE_CONTRAST = (12.0, 4.0)  # grey levels: at least the first, and that many x the nose's
EYE_SURROUND = (1.15, 0.95)   # half-axes of the search ellipse around each eye, eye widths
EYE_EXCLUDE = 0.45            # the eye and its lids, grown by this many eye widths: no frames
                              # are looked for there
OPENING_MARGIN = 0.2          # the eye opening, grown by this many eye widths: never overlaid
BROW_EXCLUDE = 0.2            # the eyebrows, grown by this many eye widths, never rigid
MIN_PIECE = 0.5               # frame pieces shorter than this many eye widths are dropped
EYE_CORNERS = fr.RIGHT_EYE_CORNERS + fr.LEFT_EYE_CORNERS


@dataclass(frozen=True)
class GlassesLayer:
    """mask: RxR float32 [0,1], where the frames are (soft edge); frames: RxRx3 uint8,
    the original crop (the frames' pixels); inpainted: RxRx3 uint8, the crop with the
    frames painted out (what the generator animates)."""

    mask: np.ndarray
    frames: np.ndarray
    inpainted: np.ndarray

    def overlay(self, generated: np.ndarray, source_points: np.ndarray,
                target_points: np.ndarray) -> np.ndarray:
        """Lay the frames, moved rigidly with the head, over a generated RxRx3 uint8 crop.

        source_points / target_points: 478x3 crop units (portrait, frame target)."""
        size = generated.shape[0]
        affine = _rigid_affine(source_points, target_points) * np.array([[1, 1, size]])
        frames = cv2.warpAffine(self.frames, affine, (size, size), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
        weight = cv2.warpAffine(self.mask, affine, (size, size), flags=cv2.INTER_LINEAR)
        return cv2.blendLinear(frames, generated, weight, 1.0 - weight)


def _rigid_affine(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """2x3 float64 affine, crop units, moving the glasses from source to target.

    source, target: 478x3 crop units. The head's motion is a least-squares map from the
    source's 3-D expression-free landmarks (RIGID, the set the generator fits the face
    front's motion to) to their target 2-D positions, taken at the depth of the eye
    corners, where the frames sit: a plain 2-D fit would average the nose tip with the
    cheeks, and in a turn those slide by different amounts."""
    idx = list(RIGID)
    design = np.column_stack([source[idx].astype(np.float64), np.ones(len(idx))])  # Nx4
    solution, *_ = np.linalg.lstsq(design, target[idx, :2].astype(np.float64), rcond=None)
    linear = solution.T                                                           # 2x4
    depth = float(source[list(EYE_CORNERS), 2].mean())
    return np.column_stack([linear[:, :2], linear[:, 3] + linear[:, 2] * depth])


def _ridges(gray: np.ndarray, width: int) -> np.ndarray:
    """Thin dark or bright lines: max of black-hat and top-hat, HxW float32."""
    element = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))
    return np.maximum(cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, element),
                      cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, element))


def find_glasses(crop: np.ndarray, points: np.ndarray) -> GlassesLayer | None:
    """The portrait's glasses frames as a :class:`GlassesLayer`, or None without glasses.

    crop: RxRx3 uint8 RGB; points: 478x3 float32 crop units."""
    size = crop.shape[0]
    pts = points[:, :2].astype(np.float64) * size
    eye_w = 0.5 * (np.linalg.norm(pts[33] - pts[133]) + np.linalg.norm(pts[263] - pts[362]))
    if eye_w < 8:
        return None     # too small to tell frames from skin texture
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    ridges = _ridges(gray, max(3, int(round(eye_w * RIDGE_WIDTH)) | 1))
    nose = pts[1].astype(int)
    reach = max(2, int(0.3 * eye_w))
    skin = np.median(ridges[max(0, nose[1] - reach):nose[1] + reach,
                            max(0, nose[0] - reach):nose[0] + reach])
    strong = ridges > max(RIDGE_CONTRAST[0], RIDGE_CONTRAST[1] * float(skin))

    # The bridge: across the middle half between the inner eye corners, from a little
    # below them to a third of an eye width above.
    inner_r, inner_l = pts[133], pts[362]
    y0 = int(max(0, min(inner_r[1], inner_l[1]) - 0.35 * eye_w))
    y1 = int(min(size, max(inner_r[1], inner_l[1]) + 0.1 * eye_w))
    x0 = int(inner_r[0] + 0.25 * (inner_l[0] - inner_r[0]))
    x1 = int(inner_r[0] + 0.75 * (inner_l[0] - inner_r[0]))
    if y1 <= y0 or x1 <= x0:
        return None
    if strong[y0:y1, x0:x1].mean(1).max() < BRIDGE_MIN:
        return None

    region = np.zeros((size, size), np.uint8)
    for outer, inner in (fr.RIGHT_EYE_CORNERS, fr.LEFT_EYE_CORNERS):
        centre = 0.5 * (pts[outer] + pts[inner])
        angle = float(np.degrees(np.arctan2(*(pts[inner] - pts[outer])[::-1])))
        axes = (int(EYE_SURROUND[0] * eye_w), int(EYE_SURROUND[1] * eye_w))
        cv2.ellipse(region, (int(centre[0]), int(centre[1])), axes, angle, 0, 360, 1, -1)
    region[y0:y1, x0:x1] = 1
    openings = np.zeros((size, size), np.uint8)
    for chain in (fr.RIGHT_EYE_UPPER + fr.RIGHT_EYE_CORNERS + fr.RIGHT_EYE_LOWER,
                  fr.LEFT_EYE_UPPER + fr.LEFT_EYE_CORNERS + fr.LEFT_EYE_LOWER):
        cv2.fillConvexPoly(openings, cv2.convexHull(pts[list(chain)].astype(np.int32)), 1)
    grow = int(EYE_EXCLUDE * eye_w) | 1
    eyes = cv2.dilate(openings, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))
    grow = int(OPENING_MARGIN * eye_w) | 1
    openings = cv2.dilate(openings, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))
    # Eyebrows are long dark ridges too, and they must move with the expression.
    brows = np.zeros((size, size), np.uint8)
    for brow in (fr.RIGHT_BROW, fr.LEFT_BROW):
        cv2.fillConvexPoly(brows, cv2.convexHull(pts[list(brow)].astype(np.int32)), 1)
    grow = int(BROW_EXCLUDE * eye_w) | 1
    eyes |= cv2.dilate(brows, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))

    found = (strong & (region > 0) & (eyes == 0)).astype(np.uint8)
    found = cv2.morphologyEx(found, cv2.MORPH_CLOSE,
                             cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(found)
    long_pieces = [j for j in range(1, count)
                   if max(stats[j, cv2.CC_STAT_WIDTH], stats[j, cv2.CC_STAT_HEIGHT])
                   > MIN_PIECE * eye_w]
    if not long_pieces:
        return None
    frames = np.isin(labels, long_pieces).astype(np.uint8)
    # Paint out a little more than the frames (their anti-aliased edge and shadow); the
    # overlay weight is 1 wherever the painting changed a pixel, so a still frame shows
    # exactly the portrait, and fades out over a pixel or two beyond. Neither may reach
    # into the eye openings, where the lids move: a frame layer there holds the open eye
    # over every blink (a rimless pair's lower rims, 2-3 px under the lashes at 256 px,
    # once grew over the lower half of both eyes, and that portrait's blinks hardly
    # showed: eye-opening gain 0.1-0.3 in the quality benchmark).
    near_openings = cv2.dilate(openings, np.ones((5, 5), np.uint8))
    painted = cv2.dilate(frames, np.ones((5, 5), np.uint8)) & (near_openings == 0)
    inpainted = cv2.inpaint(crop, painted, 5, cv2.INPAINT_TELEA)
    weight = cv2.GaussianBlur(cv2.dilate(painted, np.ones((5, 5), np.uint8)).astype(np.float32),
                              (0, 0), 1.0)
    weight = np.maximum(weight, painted.astype(np.float32)) * (openings == 0)
    return GlassesLayer(np.ascontiguousarray(weight), crop, inpainted)
