"""Paste-back: the engine's animated face crop put back into the whole portrait, framed for the call.

Everything outside the face crop is the portrait itself, at its own resolution and never moving; inside,
the engine's output is blended in with a feathered edge, and its colour is matched to the portrait's at
the seam so the pasted square never shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from core.compose.canvas import CALL_SIZE
from core.media.crop import Crop

FITS = ("cover", "contain")


@dataclass(frozen=True)
class OutputSettings:
    """The call picture: ``size`` (width, height); ``fit`` cover crops the portrait to fill it, contain shows
    it whole over a blurred copy of itself. ``feather``: the blend's soft edge, as a fraction of the crop."""

    size: tuple[int, int] = CALL_SIZE
    fit: str = "cover"
    feather: float = 0.14


class Compositor:
    """Prepared once per avatar: the portrait fitted to the output, and where the face crop lands in it."""

    def __init__(self, portrait: np.ndarray, crop: Crop, settings: OutputSettings = OutputSettings()):
        self.settings = settings
        width, height = settings.size
        h, w = portrait.shape[:2]
        scale = (max if settings.fit == "cover" else min)(width / w, height / h)
        centre = np.array([w / 2, h / 2])
        if settings.fit == "cover":
            # The window on the portrait follows the face (a little below it, for the shoulders), inside it.
            half = np.array([width, height]) / scale / 2
            centre = np.clip([crop.cx, crop.cy + 0.15 * crop.size], half, np.array([w, h]) - half)
        to_output = np.array([[scale, 0, width / 2 - scale * centre[0]], [0, scale, height / 2 - scale * centre[1]]])
        self.background = cv2.warpAffine(portrait, to_output, (width, height), flags=cv2.INTER_AREA
                                         if scale < 1 else cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        if settings.fit == "contain":
            blurred = cv2.resize(cv2.resize(portrait, (16, 9), interpolation=cv2.INTER_AREA), (width, height))
            inside = cv2.warpAffine(np.ones((h, w), np.uint8), to_output, (width, height)) > 0
            self.background[~inside] = blurred[~inside]
        # The face crop's square in output pixels, clipped to the picture.
        side = max(2, int(round(crop.size * scale)))
        x0 = int(round(to_output[0, 0] * crop.cx + to_output[0, 2] - side / 2))
        y0 = int(round(to_output[1, 1] * crop.cy + to_output[1, 2] - side / 2))
        self._side, self._origin = side, (x0, y0)
        ox0, oy0, ox1, oy1 = max(x0, 0), max(y0, 0), min(x0 + side, width), min(y0 + side, height)
        self._out = (slice(oy0, oy1), slice(ox0, ox1))
        self._face = (slice(oy0 - y0, oy1 - y0), slice(ox0 - x0, ox1 - x0))
        self._alpha = np.ascontiguousarray(_feathered_square(side, settings.feather)[self._face])
        seam = (self._alpha > 0.05) & (self._alpha < 0.6)
        self._seam = seam
        self._target_colour = self.background[self._out][seam].mean(0) if seam.any() else None

    @property
    def size(self) -> tuple[int, int]:
        return self.settings.size

    def compose(self, face: np.ndarray) -> np.ndarray:
        """The call picture with ``face`` (the engine's square output) pasted into the portrait."""
        picture = self.background.copy()
        if self._out[0].start >= self._out[0].stop or self._out[1].start >= self._out[1].stop:
            return picture
        interpolation = cv2.INTER_CUBIC if self._side > face.shape[0] else cv2.INTER_AREA
        pasted = np.ascontiguousarray(cv2.resize(face, (self._side, self._side), interpolation=interpolation)[self._face])
        if self._target_colour is not None:
            # A colour or brightness drift of the engine shows as a square edge: shift it back at the seam.
            shift = self._target_colour - pasted[self._seam].mean(0)
            pasted = cv2.add(pasted.astype(np.int16), np.round(shift).astype(np.int16), dtype=cv2.CV_8U)
        picture[self._out] = cv2.blendLinear(pasted, picture[self._out], self._alpha, 1 - self._alpha)
        return picture


def _feathered_square(side: int, feather: float) -> np.ndarray:
    """1 inside, falling smoothly to 0 at the square's edge over ``feather`` of its side (round corners)."""
    ramp = max(1.0, feather * side)
    distance = np.minimum(np.arange(side), np.arange(side)[::-1]).astype(np.float32) + 0.5
    edge = np.clip(distance / ramp, 0, 1)
    alpha = np.minimum.outer(edge, edge) * np.sqrt(np.minimum(1, np.multiply.outer(edge, edge) * 2))
    return (alpha * alpha * (3 - 2 * alpha)).astype(np.float32)  # smoothstep: no visible band
