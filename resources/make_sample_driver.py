"""Build the shipped sample driver from public-domain material only.

    python resources/make_sample_driver.py

1. Speech: espeak-ng (Debian package ``espeak-ng``) speaks a short line to a WAV file.
2. Motion: a procedural performance on top of Grace Hopper's detected landmarks
   (matplotlib's public-domain ``grace_hopper.jpg``): the jaw follows the speech's
   loudness, the eyes blink, the brows lift on stressed words, the head nods and turns.
   Saved as ``resources/drivers/sample_motion.npz`` (a motion track any render accepts).
3. Video: that track animates the Grace Hopper portrait with the shipped generator;
   the speech is muxed in. Saved as ``resources/drivers/sample_driver.mp4``, a talking
   face that MediaPipe tracks like any real driving clip.

Everything is deterministic (fixed seed), so rebuilding gives the same performance.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from talkinghead_studio.core import face_regions as fr  # noqa: E402
from talkinghead_studio.core.motion import axis_angle_matrix  # noqa: E402

FPS = 25.0
LINE = ("Hello! I am a portrait, brought to life by Talking-Head Studio. "
        "Every clip it makes says that it is synthetic.")
PORTRAIT = ROOT / "resources" / "portraits" / "grace_hopper.jpg"
OUT_DIR = ROOT / "resources" / "drivers"


def speak(text: str, wav_path: Path) -> None:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        sys.exit("espeak-ng is needed to rebuild the sample: apt-get install espeak-ng")
    subprocess.run([espeak, "-v", "en-us", "-s", "150", "-w", str(wav_path), text], check=True)


def loudness_per_frame(wav_path: Path, fps: float) -> np.ndarray:
    """(T,) float in [0,1]: smoothed RMS loudness of the speech at each video frame."""
    with wave.open(str(wav_path)) as handle:
        rate = handle.getframerate()
        samples = np.frombuffer(handle.readframes(handle.getnframes()), np.int16)
    samples = samples.astype(np.float32) / 32768.0
    hop = int(rate / fps)
    frames = len(samples) // hop
    rms = np.sqrt(np.array([np.mean(samples[i * hop:(i + 1) * hop] ** 2)
                            for i in range(frames)]))
    rms = np.convolve(rms, np.ones(2) / 2, mode="same")
    return np.clip(rms / max(np.percentile(rms, 95), 1e-6), 0, 1)


def jaw_weights(points: np.ndarray) -> np.ndarray:
    """(478,) how far each landmark travels when the jaw opens (0 above the mouth)."""
    upper_y = points[list(fr.LIPS_INNER_UPPER), 1].mean()
    chin_y = points[fr.CHIN, 1]
    centre_x = points[list(fr.MOUTH_CORNERS), 0].mean()
    half_width = np.ptp(points[list(fr.FACE_OVAL), 0]) / 2
    below = np.clip((points[:, 1] - upper_y) / max(chin_y - upper_y, 1e-6), 0, 1)
    weight = np.where(points[:, 1] > upper_y, 0.55 + 0.45 * below, 0.0)
    side = np.clip(1 - (np.abs(points[:, 0] - centre_x) / half_width) ** 2, 0, 1)
    weight = weight * side
    weight[list(fr.LIPS_INNER_UPPER + fr.LIPS_OUTER_UPPER)] = 0.0
    weight[list(fr.LIPS_INNER_LOWER)] = 0.9
    weight[list(fr.INNER_MOUTH_CORNERS + fr.MOUTH_CORNERS)] = 0.35
    return weight


def blink_curve(count: int, rng: np.random.Generator) -> np.ndarray:
    """(T,) lid closure 0..1 with blinks every 2-4 s, each ~7 frames long."""
    closure = np.zeros(count)
    t = int(rng.integers(15, 40))
    shape = np.array([0.3, 0.75, 1.0, 1.0, 0.7, 0.35, 0.1])
    while t + len(shape) < count:
        closure[t:t + len(shape)] = shape
        t += int(rng.integers(50, 100))
    return closure


def perform(neutral: np.ndarray, loudness: np.ndarray, seed: int = 7) -> np.ndarray:
    """Tx478x3 float32 pixel landmarks: the procedural performance."""
    rng = np.random.default_rng(seed)
    count = len(loudness)
    iod = fr.interocular(neutral)
    jaw = jaw_weights(neutral)
    blinks = blink_curve(count, rng)
    centre = neutral[list(fr.RIGID)].mean(axis=0)
    lid_pairs = [(u, l) for u, l in zip(fr.RIGHT_EYE_UPPER, fr.RIGHT_EYE_LOWER)] + \
                [(u, l) for u, l in zip(fr.LEFT_EYE_UPPER, fr.LEFT_EYE_LOWER)]
    brows = list(fr.RIGHT_BROW + fr.LEFT_BROW)
    t = np.arange(count) / FPS
    brow_lift = np.clip(np.convolve(loudness > 0.85, np.ones(8) / 8, "same"), 0, 1)
    track = np.empty((count, len(neutral), 3), np.float32)
    for i in range(count):
        points = neutral.astype(np.float64).copy()
        points[:, 1] += jaw * loudness[i] * 0.42 * iod
        corners = list(fr.MOUTH_CORNERS)
        points[corners, 0] += np.array([1, -1]) * loudness[i] * 0.04 * iod
        for upper, lower in lid_pairs:
            points[upper, :2] += (points[lower, :2] - points[upper, :2]) * blinks[i] * 0.92
        points[brows, 1] -= brow_lift[i] * 0.09 * iod
        yaw = np.radians(9 * np.sin(2 * np.pi * t[i] / 4.1))
        pitch = np.radians(4 * np.sin(2 * np.pi * t[i] / 2.3 + 0.8))
        roll = np.radians(3 * np.sin(2 * np.pi * t[i] / 5.3 + 1.7))
        rotation = (axis_angle_matrix(np.array([0, 1.0, 0]), yaw)
                    @ axis_angle_matrix(np.array([1.0, 0, 0]), pitch)
                    @ axis_angle_matrix(np.array([0, 0, 1.0]), roll))
        track[i] = (points - centre) @ rotation.T + centre
    return track


def main() -> None:
    from talkinghead_studio.core.images import load_portrait
    from talkinghead_studio.core.landmarks import FaceMeshDetector
    from talkinghead_studio.core.track import MotionTrack
    from talkinghead_studio.cli import main as cli_main

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    portrait = load_portrait(PORTRAIT)
    with FaceMeshDetector(mode="image") as detector:
        neutral = detector.detect(portrait.rgb).points
    with tempfile.TemporaryDirectory() as scratch:
        wav = Path(scratch) / "speech.wav"
        speak(LINE, wav)
        loudness = loudness_per_frame(wav, FPS)
        pad = np.zeros(int(FPS * 0.4))   # a short breath before and after the line
        loudness = np.concatenate([pad, loudness, pad])
        track_points = perform(neutral, loudness)
        height, width = portrait.rgb.shape[:2]
        track = MotionTrack(track_points, np.ones(len(track_points), bool), FPS,
                            (width, height), "procedural performance (grace_hopper.jpg)")
        track_path = track.save(OUT_DIR / "sample_motion.npz")
        silent = Path(scratch) / "silent.mp4"
        status = cli_main(["render", str(PORTRAIT), str(track_path), "-o", str(silent),
                           "--size", "512", "--neutral", "first", "--smoothing", "0",
                           "--quiet"])
        if status != 0:
            sys.exit(status)
        padded_wav = Path(scratch) / "speech_padded.wav"
        from talkinghead_studio.core.video import ffmpeg_exe
        subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(wav), "-af",
                        "adelay=400:all=1,apad=pad_dur=0.4", str(padded_wav)], check=True)
        subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(silent), "-i",
                        str(padded_wav), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
                        "-c:a", "aac", "-b:a", "64k", "-shortest", "-map_metadata", "0",
                        str(OUT_DIR / "sample_driver.mp4")], check=True)
        # The remux above drops the render's content credentials: sign the final file.
        from talkinghead_studio.core import provenance
        record = provenance.ProvenanceRecord.for_export(
            generator_name="Mesh warp", watermark=True, portrait_name=PORTRAIT.name,
            driver_name=track_path.name)
        provenance.finalize_file(OUT_DIR / "sample_driver.mp4", record)
    print(f"wrote {track_path} and {OUT_DIR / 'sample_driver.mp4'} ({len(track)} frames)")


if __name__ == "__main__":
    main()
