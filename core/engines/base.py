"""The contract every engine keeps."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from core.engines.strength import MotionStrength
from core.frames import DrivingFace


class Engine(Protocol):
    """Animates an avatar from driving faces. ``resolution`` is the side of the driving face crops it reads
    (and of a network's own output); the avatar may be any square size.

    An engine may also offer ``ease(weight) -> rgb``: its last picture with the motion eased towards the
    avatar at rest (0 at rest, 1 as animated), used when the face is lost; without it the two cross-fade. And
    ``calibrates_from_landmarks = True`` when ``calibrate`` reads only the frame's landmarks, not its picture:
    then a neutral pose kept without its picture (across restarts) serves it too."""

    name: str
    device: str
    resolution: int
    pinned_border: bool  # the output equals the avatar along its border: it is pasted back without a blend

    def set_avatar(self, rgb: np.ndarray) -> None:
        """Prepare an avatar (RGB uint8, square, any size, framed like the driving crops); cache what depends
        on it."""

    def calibrate(self, frame: DrivingFace) -> None:
        """Take this frame as the neutral pose: motion is measured from it."""

    def set_motion(self, strength: MotionStrength) -> None:
        """Play the motion from the neutral pose this strongly from the next frame on: the head's rigid motion
        and the expressions each scaled (0 at rest, 1 as the driver moved, 2 twice as far). Motion that is
        not measured from a neutral pose (FOMM's absolute keypoints) is played as it is."""

    def close(self) -> None:
        """Release what the engine holds beyond memory (face models, a network link)."""

    def animate(self, frame: DrivingFace) -> np.ndarray:
        """The avatar moved as the driver moved since calibration: RGB uint8, square, at the avatar's size
        (the mesh warp) or at ``resolution`` (a network)."""
