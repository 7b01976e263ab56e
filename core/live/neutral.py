"""A neutral pose as the pipeline took it at calibration, to take again later: for another avatar, after a restart.

It holds the driving face's landmarks in the engine's crop, where that crop was in the camera's frame (the
crop is locked there, and faces are judged against this one), the frame's size, and the crop's picture.
The picture stays in memory: a photograph of the user is never written to disk, so a pose read back from the
settings has none, and only an engine that calibrates from landmarks alone (mesh) can take it.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass

import numpy as np

from core.frames import DrivingFace
from core.media.crop import Crop
from core.media.images import resize_square

LANDMARKS = 478  # mediapipe's face mesh with the irises
_MAX_SIDE = 16384  # of a camera frame or a crop, in pixels: anything larger was not written by Facade


@dataclass(frozen=True, eq=False)
class NeutralPose:
    """``landmarks``: (478, 3) in the crop's pixels, ``side`` pixels square; ``crop``: where it was in the
    camera frame of ``frame_size`` (width, height); ``image``: the crop's picture, None once read back."""

    landmarks: np.ndarray
    side: int
    crop: Crop
    frame_size: tuple[int, int]
    image: np.ndarray | None = None

    def face(self, resolution: int, frame: np.ndarray) -> DrivingFace:
        """The engine's calibration input at ``resolution``; without its own picture, the crop cut from
        ``frame`` (the camera's frame now) stands in, for an engine that reads only the landmarks."""
        image = (resize_square(self.image, resolution) if self.image is not None
                 else self.crop.extract(frame, resolution))
        return DrivingFace(image, (self.landmarks * (resolution / self.side)).astype(np.float32))

    def frame_points(self) -> np.ndarray:
        """The landmarks in the camera frame's pixels."""
        return self.crop.from_crop(self.landmarks, self.side)

    def stored(self) -> dict:
        """As the settings keep it: numbers and text only, without the picture."""
        return {"landmarks": base64.b64encode(self.landmarks.astype("<f4").tobytes()).decode("ascii"),
                "side": self.side, "crop": [self.crop.cx, self.crop.cy, self.crop.size],
                "frame": list(self.frame_size)}

    @staticmethod
    def from_stored(value) -> NeutralPose | None:
        """The pose ``stored`` wrote, or None if ``value`` is not one (edited, truncated, from elsewhere)."""
        try:
            points = np.frombuffer(base64.b64decode(value["landmarks"], validate=True), "<f4")
            side, (cx, cy, size), (width, height) = value["side"], value["crop"], value["frame"]
            numbers = [float(n) for n in (cx, cy, size)]
            sizes = [side, width, height]
        except (KeyError, TypeError, ValueError, binascii.Error):
            return None
        if (points.size != LANDMARKS * 3 or not np.isfinite(points).all() or not all(map(math.isfinite, numbers))
                or numbers[2] <= 0 or not all(type(n) is int and 0 < n <= _MAX_SIDE for n in sizes)):
            return None
        return NeutralPose(points.reshape(LANDMARKS, 3).astype(np.float32), side, Crop(*numbers), (width, height))
