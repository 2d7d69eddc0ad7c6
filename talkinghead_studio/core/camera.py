"""Following the driver's camera: its pan, zoom and roll, seen in the background.

A driver filmed with a moving camera (handheld, or a slow zoom) moves the face for two
reasons: the head moves, and the camera does. Face landmarks cannot tell them apart,
so with the camera left "fixed" (the default) the portrait's head pans and grows on a
body that stays put. ``MotionSettings.camera`` "steady" and "follow" separate them: the
landmarks are taken back to the neutral frame's camera before retargeting (the head
moves as it moved in the scene); with "follow" the whole output frame then moves as the
driver's camera did (``FrameMover``; core/animator.py does both).

The camera's motion is a 2-D similarity (translation, zoom, roll) of the *background*:
corners outside the person are tracked from frame to frame with pyramidal Lucas-Kanade,
checked backwards, and fitted with RANSAC against where they were in the first frame.
The person is kept out with MediaPipe's selfie segmentation (run only when corners are
chosen, not every frame), and with the face's own landmarks as a second guard.

Plain backgrounds (a wall, a studio backdrop) have too few corners to say anything, and
corners on them drift; there the tracker reports no motion rather than guess: a still
camera is the common case and the safe answer. Measured on the research clips: the
driver clip filmed with a panning, zooming camera gives a steady estimate (palm leaves
behind the speaker); the clips in front of plain walls report identity.
"""
from __future__ import annotations

import logging
import threading

import cv2
import numpy as np

log = logging.getLogger(__name__)

WORK_SIDE = 320             # px: tracking runs on the frame scaled to this long side
MAX_CORNERS = 300
MIN_CORNER_SPACING = 6      # px at WORK_SIDE
MIN_CORNER_STRENGTH = 2e-4  # cornerMinEigenVal on 0..1 grey (block 5): weaker = flat
MIN_INLIERS = 25            # fewer background corners agreeing: no estimate this frame
MIN_SPREAD = 0.12           # inliers' x and y std, in frame sides: not all in one patch
RESEED_BELOW = 0.6          # reseed when fewer than this share of the corners remain
RESEED_EVERY = 12           # frames between seedings that found too few corners to use
FB_TOLERANCE = 0.5          # px at WORK_SIDE: forward-backward tracking disagreement
RANSAC_TOLERANCE = 1.0      # px at WORK_SIDE
FACE_MARGIN = 1.6           # the face hull, grown by this about its centre, is excluded
PERSON_THRESHOLD = 0.2      # selfie-segmentation score above which a pixel is the person


def identity() -> np.ndarray:
    """2x3 float32 identity similarity."""
    return np.array([[1, 0, 0], [0, 1, 0]], np.float32)


def to_3x3(matrix: np.ndarray) -> np.ndarray:
    """2x3 -> 3x3 float64 (homogeneous)."""
    return np.vstack([matrix.astype(np.float64), [0.0, 0.0, 1.0]])


def relative(camera: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """2x3 float32: maps the reference frame's pixels to this frame's, given both
    frames' cameras (2x3, first-frame pixels -> that frame's pixels)."""
    return (to_3x3(camera) @ np.linalg.inv(to_3x3(reference)))[:2].astype(np.float32)


def apply_to_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Move Nx3 landmarks (x, y px; z in x's units) by a 2x3 similarity. float32 copy."""
    moved = points.astype(np.float32).copy()
    moved[:, :2] = points[:, :2] @ matrix[:, :2].T + matrix[:, 2]
    moved[:, 2] *= np.sqrt(abs(np.linalg.det(matrix[:, :2].astype(np.float64))))
    return moved


def travel(matrix: np.ndarray, size: tuple[int, int]) -> float:
    """How far (px) a 2x3 camera motion moves the corners of a (width, height) frame."""
    width, height = size
    corners = np.array([[0, 0], [width, 0], [0, height], [width, height]], np.float64)
    moved = corners @ matrix[:, :2].T.astype(np.float64) + matrix[:, 2]
    return float(np.abs(moved - corners).max())


#: A driver whose camera moves its frame's corners by more than this share of the long
#: side is worth a hint that the "steady" and "follow" camera modes exist.
NOTABLE_TRAVEL = 0.02


def moves_notably(travel_px: float, size: tuple[int, int]) -> bool:
    """Whether a camera travel (px, :func:`travel`) in a (width, height) frame is
    NOTABLE_TRAVEL or more of its long side."""
    return travel_px > NOTABLE_TRAVEL * max(size)


def invert(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a 2x3 affine, 2x3 float32."""
    return cv2.invertAffineTransform(matrix.astype(np.float64)).astype(np.float32)


class CameraTracker:
    """Feed the driver's frames in order; get each frame's camera motion.

    ``update(frame, face_points)`` returns a 2x3 float32 similarity that maps the first
    frame's pixels to this frame's (identity for the first frame, and whenever the
    background says nothing reliable; a frame with too few agreeing corners holds the
    last good estimate). Not thread-safe: one tracker per stream.
    """

    def __init__(self, segment_person: bool = True) -> None:
        self._segment_person = segment_person
        self._segmenter = None
        self._scale = 1.0
        self._previous: np.ndarray | None = None      # last grey frame at WORK_SIDE
        self._corners = np.zeros((0, 2), np.float32)  # where they are now (work px)
        self._anchors = np.zeros((0, 2), np.float32)  # where they were in frame 0 (work px)
        self._seeded_count = 0
        self._since_seed = 0
        self._camera = identity()                     # in work px
        self.reliable_frames = 0
        self.frames = 0
        self.unavailable = False   # the person could not be segmented: camera = still

    def close(self) -> None:
        if self._segmenter is not None:
            self._segmenter.close()
            self._segmenter = None

    def __enter__(self) -> "CameraTracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ helpers
    def _grey(self, frame: np.ndarray) -> np.ndarray:
        height, width = frame.shape[:2]
        self._scale = min(1.0, WORK_SIDE / max(height, width))
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if self._scale < 1.0:
            size = (round(width * self._scale), round(height * self._scale))
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        return grey

    def _person_mask(self, frame: np.ndarray, grey: np.ndarray,
                     face_points: np.ndarray | None) -> np.ndarray:
        """HxW uint8 at work size: 255 where corners may be chosen (the background)."""
        allowed = np.full(grey.shape, 255, np.uint8)
        if self._segment_person:
            small = cv2.resize(frame, (grey.shape[1], grey.shape[0]),
                               interpolation=cv2.INTER_AREA)
            try:
                if self._segmenter is None:
                    from talkinghead_studio.core.mediapipe_solutions import solution

                    self._segmenter = solution("selfie_segmentation").SelfieSegmentation(
                        model_selection=1)
                scores = self._segmenter.process(np.ascontiguousarray(small)).segmentation_mask
            except Exception as exc:   # MediaPipe's own errors are of many types
                # Without the person kept out, hair and shoulders would pass for the
                # camera: better to say the camera stood still.
                log.warning("cannot tell the person from the background (%s): the "
                            "driver's camera is taken as still", exc)
                self.unavailable = True
                return np.zeros(grey.shape, np.uint8)
            if scores is not None:
                allowed[scores > PERSON_THRESHOLD] = 0
        if face_points is not None:
            hull = cv2.convexHull(face_points[:, :2].astype(np.float32) * self._scale)
            hull = hull.reshape(-1, 2)
            centre = hull.mean(axis=0)
            grown = (hull - centre) * FACE_MARGIN + centre
            cv2.fillConvexPoly(allowed, np.round(grown).astype(np.int32), 0)
        # Corners right at the person's edge flicker with hair and shoulders.
        return cv2.erode(allowed, np.ones((5, 5), np.uint8))

    def _seed(self, frame: np.ndarray, grey: np.ndarray, face_points: np.ndarray | None,
              keep: int) -> None:
        self._since_seed = 0
        mask = self._person_mask(frame, grey, face_points)
        for x, y in self._corners[:keep].astype(int):
            cv2.circle(mask, (int(x), int(y)), MIN_CORNER_SPACING, 0, -1)
        found = cv2.goodFeaturesToTrack(grey, MAX_CORNERS - keep, 0.01, MIN_CORNER_SPACING,
                                        mask=mask, blockSize=5)
        if found is None:
            return
        found = found.reshape(-1, 2)
        # goodFeaturesToTrack's quality level is relative to the strongest corner; on a
        # plain wall every "corner" is compression noise. An absolute floor keeps them out.
        strength = cv2.cornerMinEigenVal(grey.astype(np.float32) / 255.0, 5)
        xs = np.clip(found[:, 0].astype(int), 0, grey.shape[1] - 1)
        ys = np.clip(found[:, 1].astype(int), 0, grey.shape[0] - 1)
        found = found[strength[ys, xs] >= MIN_CORNER_STRENGTH].astype(np.float32)
        if len(found) == 0:
            return
        # Their frame-0 positions: where the current camera estimate says they came from.
        anchors = cv2.transform(found[None], invert(self._camera))[0]
        self._corners = np.vstack([self._corners[:keep], found]).astype(np.float32)
        self._anchors = np.vstack([self._anchors[:keep], anchors]).astype(np.float32)
        self._seeded_count = len(self._corners)

    def _track(self, grey: np.ndarray) -> None:
        """Move the corners to ``grey``; drop those that fail the backward check."""
        if len(self._corners) == 0:
            return
        start = self._corners.reshape(-1, 1, 2)
        params = dict(winSize=(15, 15), maxLevel=3,
                      criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))
        ahead, found, _ = cv2.calcOpticalFlowPyrLK(self._previous, grey, start, None, **params)
        back, found_back, _ = cv2.calcOpticalFlowPyrLK(grey, self._previous, ahead, None,
                                                       **params)
        agree = np.linalg.norm((back - start).reshape(-1, 2), axis=1) < FB_TOLERANCE
        keep = (found.ravel() == 1) & (found_back.ravel() == 1) & agree
        self._corners = ahead.reshape(-1, 2)[keep]
        self._anchors = self._anchors[keep]

    def _fit(self, shape: tuple[int, int]) -> bool:
        """Fit the camera to the corners; keep only its inliers. True if reliable."""
        if len(self._corners) < MIN_INLIERS:
            return False
        matrix, inliers = cv2.estimateAffinePartial2D(
            self._anchors, self._corners, method=cv2.RANSAC,
            ransacReprojThreshold=RANSAC_TOLERANCE, maxIters=500, confidence=0.995)
        if matrix is None:
            return False
        inliers = inliers.ravel() == 1
        points = self._corners[inliers]
        spread = points.std(axis=0) / np.array([shape[1], shape[0]], np.float32)
        if inliers.sum() < MIN_INLIERS or spread.min() < MIN_SPREAD:
            return False
        self._corners, self._anchors = points, self._anchors[inliers]
        self._camera = matrix.astype(np.float32)
        return True

    # -------------------------------------------------------------------- public
    def update(self, frame: np.ndarray, face_points: np.ndarray | None) -> np.ndarray:
        """frame: HxWx3 uint8 RGB; face_points: 478x3 driver px or None.
        Returns 2x3 float32, first-frame px -> this frame's px."""
        grey = self._grey(frame)
        self.frames += 1
        if self.unavailable:
            return identity()
        if self._previous is None or self._previous.shape != grey.shape:
            self._previous = grey
            self._corners = np.zeros((0, 2), np.float32)
            self._anchors = np.zeros((0, 2), np.float32)
            self._seed(frame, grey, face_points, keep=0)
            return identity()
        self._track(grey)
        if self._fit(grey.shape):
            self.reliable_frames += 1
        self._since_seed += 1
        # A background that gave too few corners last time (a plain wall) is not worth
        # segmenting again every frame (~4 ms); a textured one is reseeded as it wears out.
        barren = self._seeded_count < 2 * MIN_INLIERS
        wearing = len(self._corners) < max(RESEED_BELOW * self._seeded_count, 2 * MIN_INLIERS)
        if wearing and (not barren or self._since_seed >= RESEED_EVERY):
            self._seed(frame, grey, face_points, keep=len(self._corners))
        self._previous = grey
        return self.camera()

    def camera(self) -> np.ndarray:
        """The current estimate in the frame's own pixels (2x3 float32)."""
        matrix = self._camera.copy()
        matrix[:, 2] /= self._scale
        return matrix


APRON = 0.25        # of the portrait's long side: how far past its edges the canvas reaches
APRON_FADE = 0.04   # of the long side: from the edge to fully softened


class FrameMover:
    """Moves whole output frames as the driver's camera moved (follow mode).

    A camera that pans or zooms out shows what lies beyond the portrait's edges, which
    a still image does not have. Mirroring the edge there (a collar reflected under the
    collar) or repeating its last row (stripes) both read as glitches; instead the
    portrait is set, once, on a canvas APRON larger on every side whose margin is a soft
    continuation of the portrait's edge colours (normalised convolution, as the
    background plate behind a moving head). Each frame is pasted into that canvas and
    the canvas is moved. Thread-safe (the canvas is built once, under a lock).
    """

    def __init__(self, portrait: np.ndarray) -> None:
        self._portrait = portrait
        self._margin = max(1, round(APRON * max(portrait.shape[:2])))
        self._canvas: np.ndarray | None = None
        self._lock = threading.Lock()

    def _build_canvas(self) -> np.ndarray:
        margin = self._margin
        height, width = self._portrait.shape[:2]
        # The edge row (column) repeated outwards continues whatever crosses the edge
        # (a shirt, a wall's shading) in the right colours, as streaks; blurring those
        # more the further they are from the edge turns them into soft colour.
        repeated = cv2.copyMakeBorder(self._portrait, margin, margin, margin, margin,
                                      cv2.BORDER_REPLICATE)
        full = (repeated.shape[1], repeated.shape[0])
        # A wide blur loses nothing done on an eighth-size copy (~0.05 s at 1145 px).
        shrink = 8
        small = cv2.resize(repeated, (max(1, full[0] // shrink), max(1, full[1] // shrink)),
                           interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), max(height, width) / 24 / shrink)
        soft = cv2.resize(small, full, interpolation=cv2.INTER_LINEAR)
        # Distance to the portrait's rectangle, per axis then combined.
        xs = np.arange(full[0], dtype=np.float32)
        ys = np.arange(full[1], dtype=np.float32)
        out_x = np.maximum(np.maximum(margin - xs, xs - (margin + width - 1)), 0)
        out_y = np.maximum(np.maximum(margin - ys, ys - (margin + height - 1)), 0)
        distance = np.sqrt(out_y[:, None] ** 2 + out_x[None, :] ** 2)
        weight = np.minimum(distance / (APRON_FADE * max(height, width)), 1.0)
        weight = np.ascontiguousarray(weight, dtype=np.float32)
        return cv2.blendLinear(soft, repeated, weight, 1.0 - weight)

    def move(self, frame: np.ndarray, motion: np.ndarray) -> np.ndarray:
        """frame: HxWx3 uint8 at portrait size; motion: 2x3 float32 (portrait px).
        Returns the moved HxWx3 uint8 frame."""
        with self._lock:
            if self._canvas is None:
                self._canvas = self._build_canvas()
        margin = self._margin
        height, width = frame.shape[:2]
        canvas = self._canvas.copy()
        canvas[margin:margin + height, margin:margin + width] = frame
        # Canvas pixels are portrait pixels shifted by the margin.
        on_canvas = motion.astype(np.float64).copy()
        on_canvas[:, 2] -= on_canvas[:, :2] @ np.array([margin, margin], np.float64)
        return cv2.warpAffine(canvas, on_canvas, (width, height), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)

    @staticmethod
    def move_alpha(alpha: np.ndarray, motion: np.ndarray) -> np.ndarray:
        """HxW uint8 alpha moved like its frame; past the edges the edge's alpha
        continues (a person cut by the frame's bottom stays cut there)."""
        height, width = alpha.shape[:2]
        return cv2.warpAffine(alpha, motion, (width, height), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
