"""The mesh warp on real driving clips and portraits from ../shared/data (research data,
never copied into the repository; skipped when the folder is absent)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from talkinghead_studio.core import face_regions as fr
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.shared_data


def clip_frames(name: str, indices: list[int]) -> dict[int, np.ndarray]:
    """RGB frames of a driving clip at the given indices."""
    capture = cv2.VideoCapture(str(SHARED_DATA / "driving" / name))
    frames, index = {}, 0
    while index <= max(indices):
        ok, frame = capture.read()
        if not ok:
            break
        if index in indices:
            frames[index] = np.ascontiguousarray(frame[:, :, ::-1])
        index += 1
    capture.release()
    return frames


def portrait_crop(name: str, size: int):
    from talkinghead_studio.core.crop import crop_image, face_crop_box
    from talkinghead_studio.core.images import load_portrait
    from talkinghead_studio.core.landmarks import FaceMeshDetector

    image = load_portrait(SHARED_DATA / "portraits" / name).rgb
    with FaceMeshDetector("image") as detector:
        crop = crop_image(image, face_crop_box(detector.detect(image).points), size)
        points = detector.detect(crop).points
    return crop, (points / size).astype(np.float32)


def drive(shipped_model, portrait: str, clip: str, reference: int, frames: list[int],
          size: int = 256) -> tuple[np.ndarray, dict[int, np.ndarray], dict[int, np.ndarray]]:
    """(portrait crop, {frame: generated uint8 RGB}, {frame: driving landmarks})."""
    from talkinghead_studio.core.landmarks import FaceMeshDetector
    from talkinghead_studio.core.motion import MotionRetargeter
    from talkinghead_studio.inference.session import OnnxGenerator, SessionOptions
    from talkinghead_studio.warpgen import samples

    crop, lm = portrait_crop(portrait, size)
    retarget = MotionRetargeter(lm)
    generator = OnnxGenerator(shipped_model, SessionOptions(provider="cpu", intra_op_threads=1))
    images = clip_frames(clip, [reference] + frames)
    with FaceMeshDetector("image") as detector:
        points = {i: detector.detect(rgb).points for i, rgb in images.items()}
    retarget.set_reference(points[reference])
    outputs, drivers = {}, {}
    for i in frames:
        drivers[i] = retarget.retarget(points[i])
        image = generator.animate(samples.feeds(crop, lm, drivers[i]))["image"][0]
        outputs[i] = (np.clip(image.transpose(1, 2, 0), 0, 1) * 255 + 0.5).astype(np.uint8)
    return crop, outputs, drivers


def test_a_wide_yawn_gives_a_dark_mouth_on_a_closed_mouth_painting(shipped_model):
    from tests.models.test_mesh_warp import inner_lip_mask

    crop, outputs, drivers = drive(shipped_model, "lp_s9.jpg", "lp_d18.mp4", 0, [80])
    image = outputs[80].astype(np.float32) / 255
    inside = inner_lip_mask(drivers[80], 256, erode_px=2)
    assert inside.sum() > 100
    assert np.mean(image[inside] @ np.array([0.30, 0.59, 0.11]) < 0.3) > 0.4


def test_driver_blinks_close_the_portraits_eyes(shipped_model):
    from talkinghead_studio.core.landmarks import FaceMeshDetector

    crop, outputs, _ = drive(shipped_model, "sadtalker_people_0.png",
                             "xportrait_driving.mp4", 9, [12, 45])
    with FaceMeshDetector("image") as detector:
        ear = {i: fr.eye_aspect_ratio(detector.detect(o).points) for i, o in outputs.items()}
    assert ear[45] < 0.6 * ear[12], ear
