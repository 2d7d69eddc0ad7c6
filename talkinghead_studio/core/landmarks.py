"""MediaPipe FaceMesh wrapper: RGB frames in, 478 landmarks (irises included) out.

Units: ``478x3 float32`` in *pixels* of the frame that was passed in: x to the right,
y down, z in pixels on the x scale (MediaPipe's normalised z times the frame width),
negative towards the camera. Points 468-477 are the irises (468 and 473 their centres).

Two modes, because they behave differently:
- ``"image"``: every call is independent (portraits, stills). Slower, no temporal prior.
- ``"video"``: MediaPipe tracks the face from the previous frame (driving clips, webcam).
  Faster and steadier, but frames must be fed in order from one stream.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import numpy as np

# MediaPipe logs through glog/absl to stderr; keep the console readable for users.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NUM_LANDMARKS = 478
LEFT_IRIS_CENTER = 473   # subject's left eye
RIGHT_IRIS_CENTER = 468  # subject's right eye


@dataclass(frozen=True)
class FaceDetection:
    """One detected face.

    points: 478x3 float32, pixels (see module docstring).
    faces_in_frame: how many faces MediaPipe saw; this one is the largest.
    """

    points: np.ndarray
    faces_in_frame: int

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the landmarks, pixels."""
        xy = self.points[:, :2]
        x0, y0 = xy.min(axis=0)
        x1, y1 = xy.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)


def face_area(points: np.ndarray) -> float:
    """Area in px^2 of the axis-aligned box around 478x3 (or 478x2) landmarks."""
    span = points[:, :2].max(axis=0) - points[:, :2].min(axis=0)
    return float(span[0] * span[1])


class FaceMeshDetector:
    """Finds the largest face in RGB frames.

    Use ``mode="image"`` for portraits and ``mode="video"`` for a stream of frames.
    Not thread-safe: give each thread its own detector.
    """

    def __init__(
        self,
        mode: Literal["image", "video"] = "image",
        max_faces: int | None = None,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
    ) -> None:
        # Imported lazily so that the GUI shows first, and lightly (see the module).
        from talkinghead_studio.core.mediapipe_solutions import solution

        if mode not in ("image", "video"):
            raise ValueError(f"mode must be 'image' or 'video', not {mode!r}")
        self.mode = mode
        # Still images look for several faces so that we can pick the largest and say so;
        # video tracks one face, which keeps the tracker fast and locked on.
        faces = max_faces if max_faces is not None else (4 if mode == "image" else 1)
        self._mesh = solution("face_mesh").FaceMesh(
            static_image_mode=(mode == "image"),
            max_num_faces=faces,
            refine_landmarks=True,  # adds the 10 iris points: 478 in all
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )

    def detect(self, rgb: np.ndarray) -> FaceDetection | None:
        """Landmarks of the largest face in ``rgb`` (HxWx3 uint8 RGB), or None."""
        faces = self.detect_all(rgb)
        if not faces:
            return None
        largest = max(faces, key=face_area)
        return FaceDetection(points=largest, faces_in_frame=len(faces))

    def detect_all(self, rgb: np.ndarray) -> list[np.ndarray]:
        """Every face found: a list of 478x3 float32 pixel landmark arrays."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected HxWx3 uint8 RGB, got {rgb.shape} {rgb.dtype}")
        height, width = rgb.shape[:2]
        result = self._mesh.process(np.ascontiguousarray(rgb))
        if not result.multi_face_landmarks:
            return []
        scale = np.array([width, height, width], dtype=np.float32)
        return [_landmark_array(face) * scale for face in result.multi_face_landmarks]

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> "FaceMeshDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


#: One NormalizedLandmark as protobuf writes it when only x, y, z are set: the field
#: header (field 1, length 15), then x, y, z each as a tag byte and a little-endian float.
_LANDMARK_WIRE = np.dtype([("head", "u1", 2), ("x_tag", "u1"), ("x", "<f4"), ("y_tag", "u1"),
                           ("y", "<f4"), ("z_tag", "u1"), ("z", "<f4")])
_LANDMARK_TAGS = (0x0D, 0x15, 0x1D)


def _landmark_array(face) -> np.ndarray:
    """A NormalizedLandmarkList as an Nx3 float32 array (normalised units).

    Read from the message's wire bytes in one numpy view (0.01 ms) rather than through
    478 Python attribute reads (0.27 ms a frame, on the driver tracking's critical path);
    any other layout (visibility or presence set, a field missing) takes the slow path."""
    wire = face.SerializeToString()
    if len(wire) % _LANDMARK_WIRE.itemsize == 0:
        records = np.frombuffer(wire, _LANDMARK_WIRE)
        if (np.all(records["head"] == (0x0A, 0x0F))
                and np.all(records["x_tag"] == _LANDMARK_TAGS[0])
                and np.all(records["y_tag"] == _LANDMARK_TAGS[1])
                and np.all(records["z_tag"] == _LANDMARK_TAGS[2])):
            return np.stack([records["x"], records["y"], records["z"]], -1)
    return np.array([(p.x, p.y, p.z) for p in face.landmark], dtype=np.float32)
