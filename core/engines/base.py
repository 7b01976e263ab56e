"""The engine contract every engine keeps, and what the pipeline hands an engine for each frame."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class FrameFeatures:
    """One driving frame as engines see it.

    ``image``: the aligned face crop, RGB uint8, square. ``landmarks``: face-mesh landmarks in the crop's
    pixels, (N, 3) float32 with z in the same scale as x, or None when no face was found or alignment is off.
    """

    image: np.ndarray
    landmarks: np.ndarray | None = None


class Engine(Protocol):
    """Animates an avatar from driving frames. ``resolution`` is the side of the square output."""

    name: str
    device: str
    resolution: int

    def set_avatar(self, rgb: np.ndarray) -> None:
        """Prepare an avatar (RGB uint8, square, framed like the driving crops); cache what depends on it."""

    def calibrate(self, frame: FrameFeatures) -> None:
        """Take this frame as the neutral pose: motion is measured from it."""

    def animate(self, frame: FrameFeatures) -> np.ndarray:
        """The avatar moved as the driver moved since calibration: RGB uint8, resolution x resolution."""
