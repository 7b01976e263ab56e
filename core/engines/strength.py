"""How strongly the avatar plays the driver's motion: the head's and the expressions', each 0 to 200 %.

A small or cartoon face may want its head to move less than the driver's and its expressions more. The
strength scales the motion measured from the neutral pose: 100 % plays it as it is, 0 % leaves the avatar at
rest, 200 % doubles it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

MAX_PERCENT = 200


@dataclass(frozen=True)
class MotionStrength:
    """``head``: the head's rigid motion from the neutral pose (its turn, shift and change of scale);
    ``expressions``: the rest of the face's motion. Fractions, 1 as the driver moved, 0 to 2."""

    head: float = 1.0
    expressions: float = 1.0

    def __post_init__(self):
        for name in ("head", "expressions"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    math.isfinite(value) and 0 <= value * 100 <= MAX_PERCENT):
                raise ValueError(f"{name} strength {value!r}: must be between 0 and {MAX_PERCENT} %")

    @staticmethod
    def from_percent(head: float = 100, expressions: float = 100) -> "MotionStrength":
        """The strength of ``head`` and ``expressions`` percent; ValueError naming one out of 0 to 200."""
        return MotionStrength(float(head) / 100, float(expressions) / 100)

    @property
    def percent(self) -> tuple[int, int]:
        """(head, expressions) in whole percent, as the window, the settings and the control API show them."""
        return round(self.head * 100), round(self.expressions * 100)

    def head_motion(self, scale: float, rotation: np.ndarray, shift: np.ndarray
                    ) -> tuple[float, np.ndarray, np.ndarray]:
        """A head's 3-D similarity from the neutral pose (``scale``, (3, 3) ``rotation``, ``shift``) at this
        strength: the turn's angle about its own axis, the scale's logarithm and the shift, each times ``head``."""
        if self.head == 1:
            return scale, rotation, shift
        axis_angle, _ = cv2.Rodrigues(np.asarray(rotation, np.float64))
        turned, _ = cv2.Rodrigues(axis_angle * self.head)
        return float(scale) ** self.head, turned, np.asarray(shift) * self.head
