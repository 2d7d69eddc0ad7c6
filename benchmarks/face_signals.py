"""Per-frame face signals from MediaPipe landmarks, for picking benchmark frames.

numpy only. Input everywhere: landmarks ``...x478x3 float32`` in pixels (x right, y down,
z in pixels on the x scale, negative towards the camera), as in docs/ARCHITECTURE.md.
Deliberately independent of talkinghead_studio.core so that the benchmark does not judge
the app with the app's own measuring sticks.
"""
from __future__ import annotations

import numpy as np

# MediaPipe face-mesh indices (subject's right = image left for a frontal face).
INNER_LIP = (13, 14)                  # upper / lower inner lip, centre
INNER_MOUTH_CORNERS = (78, 308)
OUTER_MOUTH_CORNERS = (61, 291)
EYE_RIGHT = (33, 160, 158, 133, 153, 144)   # p1..p6 for the eye aspect ratio
EYE_LEFT = (362, 385, 387, 263, 373, 380)
EYE_CORNERS = ((33, 133), (263, 362))       # (outer, inner) per eye
CHEEKS = (234, 454)                   # face contour at the cheekbones
FOREHEAD_TOP, CHIN = 10, 152
NASION, NOSE_TIP, SUBNASALE, UPPER_LIP_TOP = 168, 1, 2, 0


def _dist(points: np.ndarray, a: int, b: int) -> np.ndarray:
    """2-D distance between landmarks a and b: ...x478x3 -> ... float."""
    return np.linalg.norm(points[..., a, :2] - points[..., b, :2], axis=-1)


def interocular(points: np.ndarray) -> np.ndarray:
    """Distance between the two eye centres (corner midpoints), pixels: ... float."""
    right = points[..., EYE_CORNERS[0], :2].mean(axis=-2)
    left = points[..., EYE_CORNERS[1], :2].mean(axis=-2)
    return np.linalg.norm(right - left, axis=-1)


def mouth_opening(points: np.ndarray) -> np.ndarray:
    """Inner-lip gap / inner mouth width: 0 closed, ~0.5+ wide open. ... float."""
    gap = _dist(points, *INNER_LIP)
    width = _dist(points, *INNER_MOUTH_CORNERS)
    return gap / np.maximum(width, 1e-6)


def eye_aspect_ratio(points: np.ndarray) -> np.ndarray:
    """Mean of both eyes' EAR (Soukupova & Cech): ~0.3 open, <0.15 closed. ... float."""
    def one(p):
        vertical = _dist(points, p[1], p[5]) + _dist(points, p[2], p[4])
        return vertical / np.maximum(2.0 * _dist(points, p[0], p[3]), 1e-6)
    return (one(EYE_RIGHT) + one(EYE_LEFT)) / 2.0


def yaw_degrees(points: np.ndarray) -> np.ndarray:
    """Head yaw from the depth difference between the cheeks, degrees (0 = frontal).

    Uses MediaPipe's z (same scale as x); the in-plane cheek distance is used as the
    other leg so that head roll does not read as yaw. ... float."""
    a, b = points[..., CHEEKS[0], :], points[..., CHEEKS[1], :]
    in_plane = np.linalg.norm(b[..., :2] - a[..., :2], axis=-1)
    return np.degrees(np.arctan2(b[..., 2] - a[..., 2], in_plane))


def proportions(points: np.ndarray) -> np.ndarray:
    """Scale-free face proportions, each a distance / inter-ocular distance.

    points: 478x3 (best a neutral frontal frame). Returns (6,) float64: mouth width, face
    height, face width, nose length, nose-to-lip, eye width."""
    iod = float(interocular(points))
    parts = [
        _dist(points, *OUTER_MOUTH_CORNERS),
        _dist(points, FOREHEAD_TOP, CHIN),
        _dist(points, *CHEEKS),
        _dist(points, NASION, NOSE_TIP),
        _dist(points, SUBNASALE, UPPER_LIP_TOP),
        (_dist(points, *EYE_CORNERS[0]) + _dist(points, *EYE_CORNERS[1])) / 2.0,
    ]
    return np.array([float(p) / max(iod, 1e-6) for p in parts])


def proportion_distance(a: np.ndarray, b: np.ndarray) -> float:
    """How different two faces' proportions are: RMS of log ratios (0 = same shape)."""
    return float(np.sqrt(np.mean(np.log(a / b) ** 2)))


def _spread(x: np.ndarray) -> float:
    """5-95 percentile range, never 0 (used to put signals on a common scale)."""
    lo, hi = np.percentile(x, [5, 95])
    return float(max(hi - lo, 1e-6))


def neutral_scores(points: np.ndarray) -> np.ndarray:
    """Lower = more neutral: mouth closed, eyes at their usual opening, head at its usual
    yaw. points: Tx478x3 of detected frames only. Returns (T,) float64."""
    mouth, eyes, yaw = mouth_opening(points), eye_aspect_ratio(points), yaw_degrees(points)
    return ((mouth - mouth.min()) / _spread(mouth)
            + np.abs(eyes - np.median(eyes)) / _spread(eyes)
            + np.abs(yaw - np.median(yaw)) / _spread(yaw))


HARD_FRAME_KINDS = ("mouth open", "eyes closed", "head turned", "neutral")


def pick_hard_frames(points: np.ndarray, detected: np.ndarray | None = None,
                     min_gap: int = 3) -> dict[str, int]:
    """Frame indices that stress a reenactment model, one per HARD_FRAME_KINDS entry.

    points: Tx478x3 pixels; detected: (T,) bool (frames without a face are never picked).
    "head turned" is measured from the clip's median yaw (the pose the driver mostly
    holds), not from the camera axis. Frames within `min_gap` of an earlier pick are
    skipped so that each column shows something different, when the clip allows."""
    valid = np.ones(len(points), bool) if detected is None else np.asarray(detected, bool)
    index = np.flatnonzero(valid)
    if len(index) == 0:
        raise ValueError("no frame with a face to pick hard frames from")
    face = points[index]
    yaw = yaw_degrees(face)
    # Sort keys: larger = harder (the neutral key is negated so the same rule applies).
    keys = {
        "mouth open": mouth_opening(face),
        "eyes closed": -eye_aspect_ratio(face),
        "head turned": np.abs(yaw - np.median(yaw)),
        "neutral": -neutral_scores(face),
    }
    chosen: dict[str, int] = {}
    for kind in HARD_FRAME_KINDS:
        order = index[np.argsort(-keys[kind], kind="stable")]
        free = [i for i in order if all(abs(i - j) > min_gap for j in chosen.values())]
        chosen[kind] = int(free[0] if free else order[0])
    return chosen
