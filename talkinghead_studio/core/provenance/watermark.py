"""Invisible watermark: a key-derived, tiled, band-limited luma pattern.

How it works
------------
*Embedding.* A 64x64 tile of band-limited noise (``TILE``, wavelengths 4-16 tile pixels)
is derived from a fixed public key. It is the sum of a *sync* pattern, always the same, and
a *payload* pattern: 64 further noise tiles, each multiplied by +1 or -1 (a "chip")
according to a 16-bit message coded with a [64, 16, 24] extended BCH code. The tile is
stretched so that four periods span the frame's shorter side, repeated over the whole
frame, and added with the same value to R, G and B (so only luma changes), about 2 grey
levels RMS (PSNR ~42 dB). The pattern is precomputed once per frame size; embedding is two
saturating uint8 additions.

*Detection.* Each frame's luma is scaled so its shorter side is 256 pixels (four tiles),
high-pass filtered, divided by its local variance (so that flat areas, where the mark
stands out, count more than texture and edges) and summed over frames. Then, for
each candidate scale (0.5x..2x of the expected period, to survive crops, borders and
rescaling), the sum is resampled to put one period on 64 pixels and *folded* (all tiles
added), which makes the search insensitive to crops: a crop only shifts the tile. The fold
is whitened in the Fourier domain (phase only) and correlated with the sync tile over every
cyclic shift. The score is the highest peak in units of the correlation surface's standard
deviation (a z-score). At the winning scale and shift the 64 chips are read and the message
is decoded by maximum likelihood over all 65,536 messages (one fast Walsh-Hadamard
transform).

Why this shape: the transformations we must survive (H.264 at CRF 28, 50 % downscale, 10 %
crop, gamma or colour shifts) all keep low and middle luma frequencies; a pattern defined
relative to the frame's size keeps the same place in the spectrum after rescaling; and
folding plus a shift search replaces block alignment, which crops destroy.

What it is not: the key is public (it ships in this source file), so anyone can detect the
mark and anyone who reads this code can estimate the pattern and subtract it, or forge it.
It is a label that survives ordinary handling, not a security mechanism.
"""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Iterator, Optional

import cv2
import numpy as np

from ... import __version__

#: Tile period in working pixels; the working image has TILES_PER_SHORT_SIDE tiles across
#: its shorter side.
TILE = 64
TILES_PER_SHORT_SIDE = 4
WORKING_SHORT_SIDE = TILE * TILES_PER_SHORT_SIDE

#: Pattern band, as radii on the TILE x TILE FFT grid (cycles per tile): wavelengths of
#: TILE/BAND_HI .. TILE/BAND_LO working pixels. Low enough to survive a 50 % downscale
#: followed by CRF 28, high enough to stay clear of most image energy.
BAND_LO = 4.0
BAND_HI = 16.0

#: RMS amplitude of the embedded pattern in grey levels, before rounding to integers.
#: 2.0 gives a PSNR of about 41-42 dB on typical frames.
DEFAULT_STRENGTH = 2.0

#: Share of the pattern's energy given to the sync part (the rest carries the payload).
SYNC_ENERGY = 0.6

#: Payload: MESSAGE_BITS of information spread over N_CHIPS chips.
MESSAGE_BITS = 16
N_CHIPS = 64
PAYLOAD_BYTES = MESSAGE_BITS // 8

#: Tool identifier carried in the payload's first byte.
TOOL_ID = 0x54  # "T" for Talking-Head Studio

#: Detection threshold on the sync z-score. Calibrated on unwatermarked real clips, their
#: re-encodes and single frames (see benchmarks/watermark_robustness.py): their highest
#: score stays well below this.
DETECTION_THRESHOLD = 8.0

#: The payload is reported only when its maximum-likelihood score reaches this z-score
#: (the best of 65,536 random codewords is about 4.5 under noise alone).
PAYLOAD_THRESHOLD = 6.5

#: Candidate period scales searched at detection (observed period / expected period).
SCALE_MIN = 0.5
SCALE_MAX = 2.0
SCALE_STEP = 1.015

#: Detection pre-filter (working pixels / grey levels squared): high-pass, the window of
#: the local variance estimate, and its floor. Tuned on real clips after CRF 28, 50 %
#: downscale, 10 % crop and a screen-capture chain (benchmarks/watermark_robustness.py).
_HIGHPASS_SIGMA = 3.0
_LOCAL_SIGMA = 4.0
_NOISE_FLOOR = 4.0

#: The public key everything above derives from. Changing it, the tile, the band, the
#: energy split or the code makes every earlier export undetectable or misread: a new
#: scheme needs a new version here and the old detector kept beside it.
_KEY = b"talkinghead-studio/watermark/v1"


def default_payload() -> bytes:
    """The payload for this build: ``bytes([TOOL_ID, major << 5 | minor])``.

    The version byte keeps major (0-7) and minor (0-31); the patch level is not carried.
    """
    parts = [int(p) for p in __version__.split(".")[:2] if p.isdigit()]
    major, minor = (parts + [0, 0])[:2]
    return bytes([TOOL_ID, (min(major, 7) << 5) | min(minor, 31)])


def describe_payload(payload: bytes) -> str:
    """Human-readable payload: ``"Talking-Head Studio 0.1"`` or the raw hex."""
    if len(payload) == PAYLOAD_BYTES and payload[0] == TOOL_ID:
        return f"Talking-Head Studio {payload[1] >> 5}.{payload[1] & 31}"
    return f"unknown tool (payload 0x{payload.hex()})"


# --------------------------------------------------------------------------- patterns


def _rng(label: str) -> np.random.Generator:
    digest = hashlib.sha256(_KEY + b"/" + label.encode()).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest[:16], "little")))


def _band_mask() -> np.ndarray:
    """TILE x TILE bool: FFT bins whose radius lies in [BAND_LO, BAND_HI]."""
    f = np.fft.fftfreq(TILE) * TILE
    radius = np.hypot(f[:, None], f[None, :])
    return (radius >= BAND_LO) & (radius <= BAND_HI)


def _band_noise(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """TILE x TILE float64, zero mean, unit RMS, energy only inside the band (periodic)."""
    spectrum = np.fft.fft2(rng.standard_normal((TILE, TILE))) * mask
    tile = np.fft.ifft2(spectrum).real
    return tile / np.sqrt(np.mean(tile**2))


@dataclass(frozen=True)
class _Patterns:
    mask: np.ndarray  # TILE x TILE bool, the band
    sync: np.ndarray  # TILE x TILE float64, unit RMS
    chips: np.ndarray  # N_CHIPS x TILE x TILE float64, each unit RMS
    sync_spectrum: np.ndarray  # TILE x TILE complex128, conj(FFT(sync)) inside the band
    chip_spectra: np.ndarray  # N_CHIPS x n_band complex128, conj(FFT(chip)) in the band
    code_columns: np.ndarray  # N_CHIPS int64: the generator matrix, one column per chip


@lru_cache(maxsize=1)
def _patterns() -> _Patterns:
    mask = _band_mask()
    sync = _band_noise(_rng("sync"), mask)
    chip_rng = _rng("chips")
    chips = np.stack([_band_noise(chip_rng, mask) for _ in range(N_CHIPS)])
    return _Patterns(
        mask=mask,
        sync=sync,
        chips=chips,
        sync_spectrum=np.conj(np.fft.fft2(sync)) * mask,
        chip_spectra=np.conj(np.fft.fft2(chips)[:, mask]),
        code_columns=_code_columns(),
    )


#: Generator polynomial of the narrow-sense binary BCH code of length 63 and designed
#: distance 23 (product of the minimal polynomials of a^1..a^22 in GF(2^6) built on
#: x^6 + x + 1), lowest degree first. Extended by an overall parity chip it gives a
#: [64, 16, 24] code: two messages differ in at least 24 of the 64 chips.
_BCH_63_16 = "110101001101110010111011110100001100100110110011"


def _code_columns() -> np.ndarray:
    """N_CHIPS int64: column j of the generator matrix as a MESSAGE_BITS-bit mask (bit i
    set when message bit i flips chip j)."""
    g = [int(c) for c in _BCH_63_16]
    columns = []
    for j in range(N_CHIPS - 1):
        columns.append(sum(1 << i for i in range(MESSAGE_BITS) if 0 <= j - i < len(g) and g[j - i]))
    parity = 0
    for column in columns:
        parity ^= column  # the extension chip: parity of the other 63
    return np.array(columns + [parity], dtype=np.int64)


def _popcount_parity(values: np.ndarray) -> np.ndarray:
    """Parity (0/1) of the set bits of each non-negative int64."""
    parity = np.zeros_like(values)
    v = values.copy()
    while np.any(v):
        parity ^= v & 1
        v >>= 1
    return parity


def encode_payload(payload: bytes) -> np.ndarray:
    """N_CHIPS float64 of +-1: the codeword for a PAYLOAD_BYTES-long payload."""
    if len(payload) != PAYLOAD_BYTES:
        raise ValueError(f"watermark payload must be {PAYLOAD_BYTES} bytes, got {len(payload)}")
    message = int.from_bytes(payload, "big")
    parity = _popcount_parity(_patterns().code_columns & message)
    return 1.0 - 2.0 * parity


def _tile_for(payload: bytes) -> np.ndarray:
    """TILE x TILE float32, unit RMS: sync plus coded payload."""
    p = _patterns()
    chips = encode_payload(payload)
    data = np.tensordot(chips, p.chips, axes=1) / math.sqrt(N_CHIPS)
    tile = math.sqrt(SYNC_ENERGY) * p.sync + math.sqrt(1.0 - SYNC_ENERGY) * data
    return (tile / np.sqrt(np.mean(tile**2))).astype(np.float32)


def _frame_pattern(tile: np.ndarray, height: int, width: int) -> np.ndarray:
    """HxW float32: the periodic tile stretched so TILES_PER_SHORT_SIDE periods span the
    shorter side, anchored at the top-left pixel."""
    period = min(height, width) / TILES_PER_SHORT_SIDE  # frame pixels per tile
    step = TILE / period
    xs = ((np.arange(width, dtype=np.float32) + 0.5) * step - 0.5) % TILE
    ys = ((np.arange(height, dtype=np.float32) + 0.5) * step - 0.5) % TILE
    map_x = np.broadcast_to(xs[None, :], (height, width)).astype(np.float32)
    map_y = np.broadcast_to(ys[:, None], (height, width)).astype(np.float32)
    # BORDER_WRAP keeps the interpolation periodic across the tile's edges.
    return cv2.remap(tile, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_WRAP)


# --------------------------------------------------------------------------- embedding


class Watermarker:
    """Adds the invisible watermark to frames. Stateless across frames; thread-safe for
    frames of one size once the first frame of that size has been seen.

    Args:
        payload: PAYLOAD_BYTES bytes carried by the mark (default: tool id and version).
        strength: RMS amplitude in grey levels (default DEFAULT_STRENGTH).
    """

    _CACHE_SIZES = 4

    def __init__(self, payload: Optional[bytes] = None, strength: float = DEFAULT_STRENGTH):
        self.payload = default_payload() if payload is None else bytes(payload)
        self.strength = float(strength)
        self._tile = _tile_for(self.payload) * np.float32(self.strength)
        self._cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def _planes(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """(add, subtract): HxWx3 uint8 each, the positive and negative parts of the
        rounded pattern, so embedding is two saturating uint8 operations."""
        key = (height, width)
        planes = self._cache.get(key)
        if planes is None:
            pattern = np.rint(_frame_pattern(self._tile, height, width))
            pattern = np.clip(pattern, -255, 255).astype(np.int16)
            pos = np.repeat(np.clip(pattern, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
            neg = np.repeat(np.clip(-pattern, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
            if len(self._cache) >= self._CACHE_SIZES:
                self._cache.pop(next(iter(self._cache)))
            planes = (np.ascontiguousarray(pos), np.ascontiguousarray(neg))
            self._cache[key] = planes
        return planes

    def embed(self, frame: np.ndarray) -> np.ndarray:
        """frame: HxWx3 uint8 RGB -> new HxWx3 uint8 RGB with the mark added."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 frame, got {frame.shape} {frame.dtype}")
        pos, neg = self._planes(frame.shape[0], frame.shape[1])
        src = frame if frame.flags.c_contiguous else np.ascontiguousarray(frame)
        return cv2.subtract(cv2.add(src, pos), neg)


# --------------------------------------------------------------------------- detection


@dataclass(frozen=True)
class WatermarkResult:
    """What a detector found.

    found:         True when the sync score reached DETECTION_THRESHOLD.
    confidence:    0..1, 1 minus a (Bonferroni) bound on the chance that unmarked content
                   scores this high; 0 below the threshold.
    payload:       the decoded payload when it decoded reliably, else None.
    frames_used:   frames pooled.
    score:         the sync z-score (unmarked real content stays below ~6.5).
    payload_score: z-score of the decoded payload's codeword (0 when not attempted).
    scale:         the period scale at which the mark was found (1.0 = as embedded).
    mirrored:      the best match was in the horizontally mirrored frames.
    """

    found: bool
    confidence: float
    payload: Optional[bytes]
    frames_used: int
    score: float = 0.0
    payload_score: float = 0.0
    scale: float = 0.0
    mirrored: bool = False


@lru_cache(maxsize=1)
def _scales() -> np.ndarray:
    """Geometric grid of period scales with 1.0 exactly on it (plain re-encodes land there)."""
    low = math.floor(math.log(SCALE_MIN) / math.log(SCALE_STEP))
    high = math.ceil(math.log(SCALE_MAX) / math.log(SCALE_STEP))
    return SCALE_STEP ** np.arange(low, high + 1, dtype=np.float64)


#: Longest side / shortest side kept at detection; a panorama is cut to its middle part
#: so that a 10000x10 image cannot become a 256000x256 working image.
_MAX_ASPECT = 4


def _working_luma(luma: np.ndarray) -> np.ndarray:
    """HxW uint8/float luma -> hxw float32 with min(h, w) == WORKING_SHORT_SIDE."""
    height, width = luma.shape
    if max(height, width) > _MAX_ASPECT * min(height, width):
        keep = _MAX_ASPECT * min(height, width)
        top, left = max(0, (height - keep) // 2), max(0, (width - keep) // 2)
        luma = luma[top:top + keep, left:left + keep]
        height, width = luma.shape
    factor = WORKING_SHORT_SIDE / min(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    return cv2.resize(luma.astype(np.float32, copy=False), size, interpolation=interp)


def _frame_residual(luma: np.ndarray) -> np.ndarray:
    """Working-size luma, high-passed, divided by its local variance (hxw float32).

    Dividing by the local variance is the matched filter for noise whose strength varies
    over the image: the mark has the same amplitude everywhere, so flat areas (walls,
    skin, sky) carry it with little competition and must count for more than hair, foliage
    or edges. The floor is about the mark's own variance, so flat areas do not blow up.
    """
    work = _working_luma(luma)
    residual = work - cv2.GaussianBlur(work, (0, 0), _HIGHPASS_SIGMA)
    local_var = cv2.GaussianBlur(residual * residual, (0, 0), _LOCAL_SIGMA)
    return residual / (local_var + _NOISE_FLOOR)


def _fold(residual: np.ndarray, scale: float) -> np.ndarray:
    """Resample so that a period of `scale`*TILE pixels becomes TILE, then add all tiles.

    residual: hxw float32 -> TILE x TILE float64.
    """
    height, width = residual.shape
    out_h = max(1, int(math.ceil(height / scale)))
    out_w = max(1, int(math.ceil(width / scale)))
    interp = cv2.INTER_AREA if scale > 1 else cv2.INTER_LINEAR
    scaled = cv2.resize(residual, (out_w, out_h), interpolation=interp)
    pad_h, pad_w = (-out_h) % TILE, (-out_w) % TILE
    scaled = np.pad(scaled, ((0, pad_h), (0, pad_w)))
    tiles = scaled.reshape(scaled.shape[0] // TILE, TILE, scaled.shape[1] // TILE, TILE)
    return tiles.sum(axis=(0, 2), dtype=np.float64)


def _whiten(fold: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Phase-only spectrum of a fold, zero outside the band (TILE x TILE complex128)."""
    spectrum = np.fft.fft2(fold)
    return spectrum / (np.abs(spectrum) + 1e-9) * mask


def _walsh_hadamard(values: np.ndarray) -> np.ndarray:
    """Fast Walsh-Hadamard transform of a 2**k float64 vector (natural order)."""
    out = values.astype(np.float64, copy=True)
    n = out.size
    half = 1
    while half < n:
        view = out.reshape(-1, 2, half)
        a, b = view[:, 0, :].copy(), view[:, 1, :]
        view[:, 0, :] += b
        view[:, 1, :] = a - b
        half *= 2
    return out


def _decode_chips(chip_z: np.ndarray) -> tuple[int, float]:
    """Maximum-likelihood message from N_CHIPS chip z-scores -> (message, codeword z)."""
    columns = _patterns().code_columns
    spread = np.zeros(1 << MESSAGE_BITS)
    np.add.at(spread, columns, chip_z)
    # score[m] = sum_k chip_z[k] * (-1)^parity(m & column_k): one Walsh-Hadamard transform.
    scores = _walsh_hadamard(spread)
    best = int(np.argmax(scores))
    return best, float(scores[best] / math.sqrt(N_CHIPS))


def _false_alarm_confidence(score: float) -> float:
    hypotheses = 2 * TILE * TILE * len(_scales())  # shifts x scales x (plain, mirrored)
    tail = 0.5 * math.erfc(score / math.sqrt(2.0))
    return max(0.0, 1.0 - hypotheses * tail)


class WatermarkDetector:
    """Pools frames and looks for the mark. Feed frames with ``add_rgb``/``add_luma``;
    call ``result()`` at any time. Frames of different sizes are pooled at working size."""

    def __init__(self) -> None:
        self._sum: Optional[np.ndarray] = None  # hxw float64, summed residuals
        self.frames_used = 0

    def add_rgb(self, frame: np.ndarray) -> None:
        """frame: HxWx3 uint8 RGB."""
        self.add_luma(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))

    def add_luma(self, luma: np.ndarray) -> None:
        """luma: HxW uint8 (or float) grey."""
        residual = _frame_residual(luma)
        if self._sum is None:
            self._sum = residual.astype(np.float64)
        elif self._sum.shape == residual.shape:
            self._sum += residual
        else:
            self._sum += cv2.resize(residual, self._sum.shape[::-1], interpolation=cv2.INTER_AREA)
        self.frames_used += 1

    def scores_by_scale(self) -> tuple[np.ndarray, np.ndarray]:
        """(scales, best z-score at each scale, unmirrored), for diagnostics."""
        scales = _scales()
        if self._sum is None:
            return scales, np.zeros(len(scales))
        pooled = self._sum.astype(np.float32)
        return scales, np.array([_search(pooled, s)[0] for s in scales])

    def result(self) -> WatermarkResult:
        if self._sum is None:
            return WatermarkResult(False, 0.0, None, 0)
        pooled = self._sum.astype(np.float32)
        # A mirrored copy is searched too: flipping a clip is a common way to dodge
        # matching, and it costs one more pass over the scales.
        candidates = ((pooled, False), (np.ascontiguousarray(pooled[:, ::-1]), True))
        best = max(((*_search(image, s), s, mirrored) for image, mirrored in candidates
                    for s in _scales()), key=lambda r: r[0])
        score, shift, whitened, std, scale, mirrored = best
        payload, payload_score = _read_payload(whitened, shift, std)
        found = score >= DETECTION_THRESHOLD
        return WatermarkResult(
            found=found,
            confidence=_false_alarm_confidence(score) if found else 0.0,
            payload=payload if found else None,
            frames_used=self.frames_used,
            score=score,
            payload_score=payload_score,
            scale=float(scale),
            mirrored=mirrored,
        )


def _search(pooled: np.ndarray, scale: float) -> tuple[float, tuple[int, int], np.ndarray, float]:
    """Best cyclic shift of the sync tile in the pooled residual at one period scale.

    pooled: hxw float32 -> (z-score, (dy, dx), whitened fold TILE x TILE complex, surface
    standard deviation).
    """
    p = _patterns()
    whitened = _whiten(_fold(pooled, scale), p.mask)
    surface = np.fft.ifft2(whitened * p.sync_spectrum).real
    # Median and MAD, so that a strong peak does not inflate its own yardstick.
    centre = float(np.median(surface))
    std = 1.4826 * float(np.median(np.abs(surface - centre))) or 1.0
    peak = int(np.argmax(surface))
    z = float((surface.flat[peak] - centre) / std)
    return z, divmod(peak, TILE), whitened, std


def _read_payload(whitened: np.ndarray, shift: tuple[int, int],
                  std: float) -> tuple[Optional[bytes], float]:
    """Chips at the sync peak -> (payload or None when unreliable, codeword z-score)."""
    p = _patterns()
    f = np.fft.fftfreq(TILE)
    # Correlation at cyclic shift d in the Fourier domain: mean(W * conj(C) * e^{2pi i f.d}).
    phase = np.exp(2j * np.pi * (f[:, None] * shift[0] + f[None, :] * shift[1]))
    shifted = (whitened * phase)[p.mask]
    chip_z = (p.chip_spectra @ shifted).real / (TILE * TILE) / std
    message, payload_score = _decode_chips(chip_z)
    if payload_score < PAYLOAD_THRESHOLD:
        return None, payload_score
    return message.to_bytes(PAYLOAD_BYTES, "big"), payload_score


def detect_frames(frames: Iterable[np.ndarray],
                  max_frames: Optional[int] = None) -> WatermarkResult:
    """frames: HxWx3 uint8 RGB (or HxW uint8 luma), pooled up to max_frames."""
    detector = WatermarkDetector()
    for frame in _limited(frames, max_frames):
        if frame.ndim == 2:
            detector.add_luma(frame)
        else:
            detector.add_rgb(frame)
    return detector.result()


def detect_file(path: "str | os.PathLike[str]", max_seconds: float = 10.0,
                max_frames: int = 300) -> WatermarkResult:
    """Look for the mark in a video (streamed, first ``max_seconds`` only) or a PNG / GIF /
    JPEG still or animation. Raises InputFileError subclasses for unreadable files."""
    from .media import iter_luma

    detector = WatermarkDetector()
    for luma in iter_luma(path, max_seconds=max_seconds, max_frames=max_frames):
        detector.add_luma(luma)
    return detector.result()


def _limited(frames: Iterable[np.ndarray], max_frames: Optional[int]) -> Iterator[np.ndarray]:
    for index, frame in enumerate(frames):
        if max_frames is not None and index >= max_frames:
            return
        yield frame
