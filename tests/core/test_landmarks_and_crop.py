"""Face landmarks and the crop/paste-back round trip on the shipped sample portraits."""
from __future__ import annotations

import numpy as np
import pytest

from talkinghead_studio.core.crop import (PasteBack, crop_image, face_crop_box,
                                          from_crop_units, to_crop_units)
from talkinghead_studio.core.images import load_portrait
from talkinghead_studio.core.landmarks import FaceMeshDetector
from talkinghead_studio.core.portrait import prepare_portrait
from talkinghead_studio.errors import NoFaceFound


@pytest.fixture(scope="module")
def astronaut(astronaut_path):
    return load_portrait(astronaut_path)


def test_finds_478_points_with_irises_inside_the_face(astronaut):
    with FaceMeshDetector(mode="image") as detector:
        found = detector.detect(astronaut.rgb)
    assert found is not None and found.points.shape == (478, 3)
    assert found.points.dtype == np.float32
    x0, y0, x1, y1 = found.bbox
    # The astronaut's face sits in the upper middle of the 512x512 image.
    assert 120 < x0 < x1 < 330 and 40 < y0 < y1 < 280
    iris_right, iris_left = found.points[468, :2], found.points[473, :2]
    assert iris_right[0] < iris_left[0]      # subject's right eye is on the image left


def test_no_face_gives_none_not_a_crash():
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)
    with FaceMeshDetector(mode="image") as detector:
        assert detector.detect(noise) is None


def test_prepare_portrait_without_face_raises_clear_error(tmp_path):
    from talkinghead_studio.core.images import LoadedImage

    flat = LoadedImage(np.full((300, 300, 3), 120, np.uint8), None, (300, 300))
    with pytest.raises(NoFaceFound, match="No face was found in the portrait"):
        prepare_portrait(flat, 256, with_matte=False)


def test_crop_units_round_trip(astronaut):
    with FaceMeshDetector(mode="image") as detector:
        points = detector.detect(astronaut.rgb).points
    box = face_crop_box(points)
    back = from_crop_units(to_crop_units(points, box), box)
    assert np.allclose(back, points, atol=1e-3)
    units = to_crop_units(points, box)
    # The face fills about the middle half of the crop, leaving room for hair.
    assert 0.15 < units[:, 0].min() and units[:, 0].max() < 0.85
    assert 0.15 < units[:, 1].min() and units[:, 1].max() < 0.9


def test_paste_back_of_unchanged_crop_restores_portrait(astronaut):
    with FaceMeshDetector(mode="image") as detector:
        points = detector.detect(astronaut.rgb).points
    box = face_crop_box(points)
    crop = crop_image(astronaut.rgb, box, 512)
    frame = PasteBack(astronaut.rgb, box, 512).paste(crop)
    assert frame.shape == astronaut.rgb.shape
    diff = np.abs(frame.astype(int) - astronaut.rgb.astype(int))
    assert diff.mean() < 2.0


def test_paste_back_changes_only_the_crop_region(astronaut):
    with FaceMeshDetector(mode="image") as detector:
        points = detector.detect(astronaut.rgb).points
    box = face_crop_box(points, scale=1.2)
    paste = PasteBack(astronaut.rgb, box, 256)
    frame = paste.paste(np.zeros((256, 256, 3), np.uint8))
    x0, y0, x1, y1 = paste.bounds
    outside = np.ones(astronaut.rgb.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(frame[outside], astronaut.rgb[outside])
    centre = frame[int(box.cy), int(box.cx)]
    assert centre.max() == 0                         # centre fully replaced


def test_landmarks_read_from_wire_bytes_equal_the_messages_own_fields():
    """The fast reader of MediaPipe's landmark lists must give exactly the message's
    x, y, z, and fall back to the fields when the message carries more than x, y, z."""
    from mediapipe.framework.formats import landmark_pb2

    from talkinghead_studio.core.landmarks import _landmark_array

    rng = np.random.default_rng(1)
    values = rng.normal(0.5, 0.3, (478, 3)).astype(np.float32)
    values[7] = 0.0                      # zeros are still written (the message is proto2)
    plain = landmark_pb2.NormalizedLandmarkList()
    for x, y, z in values:
        plain.landmark.add(x=x, y=y, z=z)
    assert np.array_equal(_landmark_array(plain), values)
    richer = landmark_pb2.NormalizedLandmarkList()
    for index, (x, y, z) in enumerate(values):
        point = richer.landmark.add(x=x, y=y, z=z)
        if index % 50 == 0:
            point.visibility = 0.9       # another layout: read field by field
    assert np.array_equal(_landmark_array(richer), values)


def test_a_portrait_with_open_eyes_gets_no_closed_eye_note(astronaut):
    prepared = prepare_portrait(astronaut, 256, with_matte=False)
    assert not any("eyes look closed" in note for note in prepared.notes)


def test_a_portrait_with_closed_eyes_is_told_to_add_an_open_eyed_view(astronaut,
                                                                     monkeypatch):
    """Lids that meet in the portrait can only be warped, never opened: the user hears so,
    with the way out (an extra view with open eyes)."""
    from talkinghead_studio.core import face_regions as fr
    from talkinghead_studio.core import portrait as portrait_module
    from talkinghead_studio.core.landmarks import FaceDetection

    with FaceMeshDetector(mode="image") as detector:
        points = detector.detect(astronaut.rgb).points.copy()
    for upper, lower in ((fr.RIGHT_EYE_UPPER, fr.RIGHT_EYE_LOWER),
                         (fr.LEFT_EYE_UPPER, fr.LEFT_EYE_LOWER)):
        # Both lids onto the line between them, as on a closed eye.
        middle = (points[list(upper)] + points[list(lower)]) / 2
        points[list(upper)] = middle
        points[list(lower)] = middle
    monkeypatch.setattr(portrait_module, "find_portrait_face",
                        lambda rgb, detector=None: FaceDetection(points, 1))
    prepared = prepare_portrait(astronaut, 256, with_matte=False)
    assert any("eyes look closed" in note and "--reference" in note for note in prepared.notes)


@pytest.mark.shared_data
def test_a_portrait_caught_mid_blink_is_told_its_eyes_look_closed(tmp_path):
    """xportrait_driving's first frame is mid-blink; the eyes stay shut in every frame
    animated from it (self-reenactment, benchmarks/self_error.py)."""
    import cv2

    from talkinghead_studio.core.video import iter_frames
    from tests.conftest import SHARED_DATA

    frame = next(iter(iter_frames(SHARED_DATA / "driving" / "xportrait_driving.mp4")))
    path = tmp_path / "frame0.png"
    cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    prepared = prepare_portrait(load_portrait(path), 256, with_matte=False)
    assert any("eyes look closed" in note for note in prepared.notes)
