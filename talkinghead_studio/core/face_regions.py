"""Named groups of MediaPipe face-mesh landmark indices and simple face measurements.

"Right" and "left" are the *subject's*: the right eye is on the image's left.
All measurement functions take Nx3 (or Nx2) float arrays of one face, any units,
and return values in those units (or unitless ratios).
"""
from __future__ import annotations

import numpy as np

LIPS_OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIPS_OUTER_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIPS_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
LIPS = tuple(sorted(set(LIPS_OUTER_UPPER + LIPS_OUTER_LOWER + LIPS_INNER_UPPER
                        + LIPS_INNER_LOWER)))

RIGHT_EYE_UPPER = (246, 161, 160, 159, 158, 157, 173)
RIGHT_EYE_LOWER = (7, 163, 144, 145, 153, 154, 155)
RIGHT_EYE_CORNERS = (33, 133)    # outer, inner
LEFT_EYE_UPPER = (466, 388, 387, 386, 385, 384, 398)
LEFT_EYE_LOWER = (249, 390, 373, 374, 380, 381, 382)
LEFT_EYE_CORNERS = (263, 362)    # outer, inner
RIGHT_IRIS = (468, 469, 470, 471, 472)
LEFT_IRIS = (473, 474, 475, 476, 477)

RIGHT_BROW = (46, 53, 52, 65, 55, 70, 63, 105, 66, 107)
LEFT_BROW = (276, 283, 282, 295, 285, 300, 293, 334, 296, 336)

FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378,
             400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54,
             103, 67, 109)

# Points that move little with expression: forehead, nose bridge and tip, eye corners,
# cheekbones, temples. Used to estimate head pose.
RIGID = (10, 338, 297, 332, 109, 67, 103, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 19, 2, 98, 327,
         234, 454, 127, 356, 93, 323, 116, 345, 123, 352, 33, 263, 133, 362)

NOSE_TIP = 1
NOSE_BOTTOM = 2
CHIN = 152
FOREHEAD = 10
CHEEK_RIGHT = 234
CHEEK_LEFT = 454
MOUTH_CORNERS = (61, 291)
INNER_MOUTH_CORNERS = (78, 308)
INNER_LIP_MID = (13, 14)   # upper, lower

# Paired inner-lip points (upper, lower) from one mouth corner to the other.
INNER_LIP_PAIRS = tuple(zip(LIPS_INNER_UPPER[1:-1], LIPS_INNER_LOWER[1:-1]))


def eye_centers(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(right, left) eye centres as the midpoints of the eye corners. Each shape (D,)."""
    right = points[list(RIGHT_EYE_CORNERS)].mean(axis=0)
    left = points[list(LEFT_EYE_CORNERS)].mean(axis=0)
    return right, left


def interocular(points: np.ndarray) -> float:
    """2-D distance between the eye centres."""
    right, left = eye_centers(points)
    return float(np.linalg.norm(left[:2] - right[:2]))


def roll_angle(points: np.ndarray) -> float:
    """In-plane head rotation (radians) of the eye line; 0 when the eyes are level."""
    right, left = eye_centers(points)
    dx, dy = left[:2] - right[:2]
    return float(np.arctan2(dy, dx))


def eye_opening(points: np.ndarray, upper, lower) -> float:
    """Mean 2-D gap between an eye's upper and lower lid points (middle five pairs)."""
    up = points[list(upper[1:-1])][:, :2]
    low = points[list(lower[1:-1])][:, :2]
    return float(np.linalg.norm(up - low, axis=1).mean())


def eye_aspect_ratios(points: np.ndarray) -> tuple[float, float]:
    """(right eye, left eye) lid gap / eye width: ~0.25-0.35 open, < 0.1 closed."""
    ratios = []
    for upper, lower, corners in ((RIGHT_EYE_UPPER, RIGHT_EYE_LOWER, RIGHT_EYE_CORNERS),
                                  (LEFT_EYE_UPPER, LEFT_EYE_LOWER, LEFT_EYE_CORNERS)):
        width = np.linalg.norm(points[corners[0], :2] - points[corners[1], :2])
        ratios.append(eye_opening(points, upper, lower) / max(width, 1e-6))
    return float(ratios[0]), float(ratios[1])


def eye_aspect_ratio(points: np.ndarray) -> float:
    """Mean over both eyes of lid gap / eye width: ~0.25-0.35 open, < 0.1 closed."""
    return float(np.mean(eye_aspect_ratios(points)))


def mouth_width(points: np.ndarray) -> float:
    a, b = MOUTH_CORNERS
    return float(np.linalg.norm(points[a, :2] - points[b, :2]))


def mouth_gap(points: np.ndarray) -> float:
    """Mean 2-D distance between paired inner-lip points (0 when the lips touch)."""
    pairs = np.array(INNER_LIP_PAIRS)
    return float(np.linalg.norm(points[pairs[:, 0], :2] - points[pairs[:, 1], :2], axis=1).mean())


def mouth_aspect_ratio(points: np.ndarray) -> float:
    """Inner-lip gap at the middle / inner mouth width: 0 closed, ~0.5+ wide open."""
    up, low = INNER_LIP_MID
    a, b = INNER_MOUTH_CORNERS
    gap = np.linalg.norm(points[up, :2] - points[low, :2])
    width = np.linalg.norm(points[a, :2] - points[b, :2])
    return float(gap / max(width, 1e-6))


def lower_face_height(points: np.ndarray) -> float:
    """Nose bottom to chin distance (2-D): the span the jaw and mouth move in."""
    return float(np.linalg.norm(points[CHIN, :2] - points[NOSE_BOTTOM, :2]))


def yaw_pitch_proxies(points: np.ndarray) -> tuple[float, float]:
    """Unitless head-turn indicators from 2-D geometry; both ~0 for a frontal face.

    yaw: where the nose tip sits between the two cheeks (-1..1).
    pitch: nose-tip height between the eye line and the mouth, minus a typical 0.5.
    """
    right, left = points[CHEEK_RIGHT, :2], points[CHEEK_LEFT, :2]
    span = max(np.linalg.norm(left - right), 1e-6)
    axis = (left - right) / span
    yaw = float(np.dot(points[NOSE_TIP, :2] - (left + right) / 2, axis) / (span / 2))
    eyes_mid = np.mean(eye_centers(points), axis=0)[:2]
    mouth_mid = points[list(MOUTH_CORNERS), :2].mean(axis=0)
    down = mouth_mid - eyes_mid
    length = max(np.linalg.norm(down), 1e-6)
    pitch = float(np.dot(points[NOSE_TIP, :2] - eyes_mid, down) / length ** 2 - 0.5)
    return yaw, pitch
