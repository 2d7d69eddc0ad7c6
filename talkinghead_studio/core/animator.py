"""Animator: one portrait + one generator + motion settings -> frames.

The same object serves the file render, the GUI preview and the webcam: it holds the
per-stream state (driver reference frame, landmark smoothing) and turns one driver
frame's landmarks into one full-resolution output frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from talkinghead_studio.config import MotionSettings
from talkinghead_studio.core import camera as cam
from talkinghead_studio.core.crop import PasteBack
from talkinghead_studio.core.motion import (MotionRetargeter, fit_similarity_2d,
                                            landmark_smoother)
from talkinghead_studio.core.portrait import PreparedPortrait
from talkinghead_studio.core.references import ReferenceSelector, ReferenceView, blend_face
from talkinghead_studio.core import face_regions as fr
from talkinghead_studio.inference.sampling import RegionCompositor
from talkinghead_studio.inference.session import OnnxGenerator


# A driver camera that moves the portrait's frame less than this (px at its corners)
# is a still camera: resampling the whole frame for it would only soften it. Up to
# CAMERA_FULL_PX the motion fades in, so there is no jump where following starts.
CAMERA_STILL_PX = 0.5
CAMERA_FULL_PX = 1.5


def to_tensor(image: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB -> 1x3xHxW float32 in [0,1]."""
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)


@dataclass(frozen=True)
class AnimatedFrame:
    """frame: HxWx3 uint8 RGB at portrait size. crop: RxRx3 uint8. alpha: HxW uint8 or None.
    landmarks: 478x3 float32 target landmarks in crop units."""

    frame: np.ndarray
    crop: np.ndarray
    alpha: np.ndarray | None
    landmarks: np.ndarray


class Animator:
    def __init__(self, portrait: PreparedPortrait, generator: OnnxGenerator,
                 motion: MotionSettings = MotionSettings(), fps: float = 25.0,
                 references: list[ReferenceView] | tuple = ()) -> None:
        if not generator.info.supports(portrait.size):
            raise ValueError(
                f"generator supports {generator.info.resolutions}, portrait prepared at "
                f"{portrait.size}")
        self.portrait = portrait
        self.generator = generator
        self.motion = motion
        self.fps = fps
        self.retargeter = MotionRetargeter(portrait.crop_points, motion)
        self.paste = PasteBack(portrait.image.rgb, portrait.box, portrait.size)
        self._mover = cam.FrameMover(portrait.image.rgb)   # camera "follow" only
        # With glasses, the generator animates the face with the frames painted out, and
        # the frames go back on top of each frame, moved rigidly (core/glasses.py).
        self._source_crop = (portrait.crop if portrait.glasses is None
                             else portrait.glasses.inpainted)
        self._static_feeds = self._make_static_feeds()
        self._region = self._make_region_compositor()
        self._smoother = None
        self._reference_camera: np.ndarray | None = None   # 2x3, the neutral frame's
        self._driver_to_portrait: np.ndarray | None = None  # 3x3, neutral driver px -> portrait px
        self.set_references(references)

    def _make_static_feeds(self) -> dict[str, np.ndarray]:
        feeds = {"source_image": to_tensor(self._source_crop),
                 "source_landmarks": self.portrait.crop_points[None].astype(np.float32)}
        wanted = self.generator.optional_inputs
        if "source_matte" in wanted:
            matte = self.portrait.matte
            if matte is None:
                matte = np.ones(self.portrait.crop.shape[:2], np.float32)
            feeds["source_matte"] = matte[None, None].astype(np.float32)
        if "background_image" in wanted:
            plate = self.portrait.background
            feeds["background_image"] = to_tensor(plate if plate is not None
                                                  else self.portrait.crop)
        return feeds

    def _make_region_compositor(self) -> RegionCompositor | None:
        """What finishes frames straight into the portrait (inference/sampling.py
        RegionCompositor); None where frames take the crop path: no sampling companion,
        glasses (laid over the crop), or a face box spanning more portrait pixels than
        the crop has.

        A box larger than the crop costs more to compose pixel by pixel than to paste
        (a 531 px box at 256 px: 25 against 15 ms a frame), and the working size the
        user chose is then the detail they asked for."""
        coarse = self.generator.sampling_coarse
        if coarse is None or self.portrait.glasses is not None \
                or self.portrait.box.side > self.portrait.size:
            return None
        plate = self.portrait.background
        return RegionCompositor(self.portrait.image.rgb, self.paste.bounds,
                                self.paste.region_to_crop, self.portrait.size, coarse,
                                self.paste.seam,
                                None if plate is None else self.paste.to_region(plate))

    @property
    def composes_in_portrait(self) -> bool:
        """Whether :meth:`frame_with` finishes frames straight into the portrait rather
        than generating a crop and pasting it back."""
        return self._region is not None and not self.references

    def set_references(self, references) -> None:
        """Use these extra views of the same face (aligned ReferenceView objects)."""
        self.references = list(references)
        self._view_feeds = []
        for view in self.references:
            feeds = dict(self._static_feeds)
            feeds["source_image"] = to_tensor(view.crop)
            feeds["source_landmarks"] = view.points[None].astype(np.float32)
            self._view_feeds.append((feeds, view.crop))
        self._selector = (ReferenceSelector(self.portrait.crop_points, self.references)
                          if self.references else None)
        self.last_view_weights = np.ones(1 + len(self.references)) / (1 + len(self.references))
        self.last_region_weights: dict[str, np.ndarray] = {}

    # -------------------------------------------------------------------- settings
    def set_driver_reference(self, driver_points: np.ndarray,
                             camera: np.ndarray | None = None) -> None:
        """Use these driver landmarks (478x3, driver pixels) as the neutral pose;
        ``camera``: that frame's camera motion (2x3, core/camera.py), if known."""
        self.retargeter.set_reference(driver_points)
        self._reference_camera = camera
        self._driver_to_portrait = cam.to_3x3(fit_similarity_2d(driver_points[:, :2],
                                                                self.portrait.points[:, :2]))
        self._smoother = None   # restart smoothing from the new reference

    @property
    def reference_camera(self) -> np.ndarray | None:
        """The neutral frame's camera motion (2x3), when it was given."""
        return self._reference_camera

    @property
    def has_reference(self) -> bool:
        return self.retargeter.reference is not None

    def update_motion(self, motion: MotionSettings) -> None:
        if motion.smoothing != self.motion.smoothing:
            self._smoother = None
        self.motion = motion
        self.retargeter.update_settings(motion)

    def reset_stream(self) -> None:
        """Forget temporal state (call when seeking or switching drivers)."""
        self._smoother = None
        if self._selector is not None:
            self._selector.reset()

    # ---------------------------------------------------------------------- frames
    def smooth(self, driver_points: np.ndarray) -> np.ndarray:
        if self.motion.smoothing <= 0:
            return driver_points
        if self._smoother is None:
            face_size = fr.interocular(driver_points) * 2.5
            self._smoother = landmark_smoother(self.motion.smoothing, self.fps, face_size)
        return self._smoother(driver_points)

    def frame_motion(self, camera: np.ndarray | None) -> np.ndarray | None:
        """How the whole output frame moves for a driver frame whose camera motion is
        ``camera`` (2x3, core/camera.py): 2x3 float32 in portrait pixels, or None when
        it stays put (camera not "follow", no camera known, or a still camera)."""
        if self.motion.camera != "follow":
            return None
        return self._camera_in_portrait(camera)

    def _camera_in_portrait(self, camera: np.ndarray | None) -> np.ndarray | None:
        """The driver's camera motion since the neutral frame, in portrait pixels (2x3
        float32), or None (not known, or a still camera)."""
        if camera is None or self._reference_camera is None \
                or self._driver_to_portrait is None:
            return None
        since_neutral = cam.to_3x3(cam.relative(camera, self._reference_camera))
        to_portrait = self._driver_to_portrait
        warp = (to_portrait @ since_neutral @ np.linalg.inv(to_portrait))[:2]
        height, width = self.portrait.image.rgb.shape[:2]
        shift = cam.travel(warp, (width, height))
        if shift <= CAMERA_STILL_PX:
            return None
        fade = min(1.0, (shift - CAMERA_STILL_PX) / (CAMERA_FULL_PX - CAMERA_STILL_PX))
        still = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        return (still + fade * (warp - still)).astype(np.float32)

    def target_landmarks(self, driver_points: np.ndarray,
                         camera: np.ndarray | None = None) -> np.ndarray:
        """Driver landmarks (478x3 px) -> portrait target landmarks (478x3 crop units).

        With camera "steady" or "follow", ``camera`` (2x3) is this frame's camera motion:
        the landmarks are first taken back to the neutral frame's camera, so that only the
        head's own motion moves the head (when following, the frame then moves by
        :meth:`frame_motion`)."""
        if self.motion.camera != "fixed" and camera is not None:
            if not self.has_reference:   # neutral "first": this frame is the reference
                self.set_driver_reference(driver_points, camera)
            # The same (faded) motion the frame follows, so head and frame agree.
            warp = self._camera_in_portrait(camera)
            if warp is not None:
                to_portrait = self._driver_to_portrait
                in_driver = np.linalg.inv(to_portrait) @ cam.to_3x3(warp) @ to_portrait
                driver_points = cam.apply_to_points(cam.invert(in_driver[:2]), driver_points)
        return self.retargeter.retarget(self.smooth(driver_points))

    def _run(self, feeds: dict, portrait: np.ndarray, target: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray | None]:
        """feeds: contract inputs; portrait: RxRx3 uint8 behind feeds["source_image"]."""
        feeds = dict(feeds)
        feeds["driving_landmarks"] = target[None].astype(np.float32)
        return self.generator.render(feeds, portrait, self.portrait.background)

    def view_weights(self, target: np.ndarray) -> dict[str, np.ndarray] | None:
        """{region: (V,) weights} for this frame (index 0 = the portrait), or None without
        extra views. Stateful (weights are smoothed over time): call once per frame, in
        order; :meth:`generate_with` may then run frames concurrently.

        ``last_view_weights`` keeps the regions' mean, (V,), for display."""
        if self._selector is None:
            return None
        weights = self._selector.weights(target)
        self.last_region_weights = weights
        self.last_view_weights = np.mean(list(weights.values()), axis=0)
        return weights

    def generate(self, target: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Run the generator: (RxRx3 uint8 crop, RxR float32 mask or None).

        With extra views, the main portrait still supplies hair and background, and the
        face is blended from the views whose expression is closest to the target.
        """
        return self.generate_with(target, self.view_weights(target))

    def generate_with(self, target: np.ndarray, weights: dict[str, np.ndarray] | None
                      ) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`generate` with the view weights already chosen. Keeps no state, so
        several frames may run at once from different threads (onnxruntime sessions
        accept concurrent runs)."""
        crop, mask = self._run(self._static_feeds, self._source_crop, target)
        if weights is not None:
            needed = np.max(list(weights.values()), axis=0)   # (V,): views any region uses
            if needed[1:].max(initial=0.0) > 0:
                view_crops = {index: self._run(*self._view_feeds[index - 1], target)[0]
                              for index in np.flatnonzero(needed[1:] > 0) + 1}
                crop = blend_face(crop, view_crops, weights, target)
        if self.portrait.glasses is not None:
            crop = self.portrait.glasses.overlay(crop, self.portrait.crop_points, target)
        return crop, mask

    def frame_with(self, target: np.ndarray, weights: dict[str, np.ndarray] | None,
                   want_alpha: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """The whole frame for ``target`` (478x3 crop units), before the camera's motion:
        (HxWx3 uint8 RGB at portrait size, HxW uint8 alpha when ``want_alpha`` and the
        generator gives one, else None). Stateless, like :meth:`generate_with`.

        Without extra views, a generator running through a sampling companion is
        finished straight into the portrait, at the portrait's resolution (no crop is
        made); otherwise the crop is generated and pasted back. With extra views every
        frame takes the crop path, even one that uses none of them: switching finishes
        as views fade in and out would switch the face's sharpness with them."""
        if self.composes_in_portrait:
            feeds = dict(self._static_feeds)
            feeds["driving_landmarks"] = target[None].astype(np.float32)
            return self._region.compose(self.generator.sampling_outputs(feeds), want_alpha)
        crop, mask = self.generate_with(target, weights)
        return self.compose(crop, mask, want_alpha)

    def compose(self, crop: np.ndarray, mask: np.ndarray | None,
                want_alpha: bool = False, motion: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray | None]:
        """Paste the generated crop into the portrait; ``motion``: frame_motion()'s
        result for this frame (None: the frame stays put)."""
        frame = self.paste.paste(crop)
        alpha = self.paste.paste_alpha(mask) if (want_alpha and mask is not None) else None
        return self.move(frame, alpha, motion)

    def move(self, frame: np.ndarray, alpha: np.ndarray | None, motion: np.ndarray | None
             ) -> tuple[np.ndarray, np.ndarray | None]:
        """A whole frame (and its alpha) moved as the driver's camera moved: ``motion``
        is frame_motion()'s result (None: the frame stays put)."""
        if motion is None:
            return frame, alpha
        frame = self._mover.move(frame, motion)
        return frame, (None if alpha is None else self._mover.move_alpha(alpha, motion))

    def animate(self, driver_points: np.ndarray, want_alpha: bool = False,
                camera: np.ndarray | None = None) -> AnimatedFrame:
        """One driver frame's landmarks (and camera motion) -> one full-resolution
        output frame, with the crop it was pasted from (always the crop path: callers
        that want the frame exactly as a render finishes it use :meth:`frame_with`)."""
        target = self.target_landmarks(driver_points, camera)
        crop, mask = self.generate(target)
        frame, alpha = self.compose(crop, mask, want_alpha, self.frame_motion(camera))
        return AnimatedFrame(frame, crop, alpha, target)

