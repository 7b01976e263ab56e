"""A square region of a frame, and moving images and landmarks in and out of it."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Crop:
    """A square region of a frame: centre and side in frame pixels."""

    cx: float
    cy: float
    size: float

    def matrix(self, out_size: int) -> np.ndarray:
        scale = out_size / self.size
        return np.array([[scale, 0, out_size / 2 - scale * self.cx],
                         [0, scale, out_size / 2 - scale * self.cy]], dtype=np.float64)

    def extract(self, rgb: np.ndarray, out_size: int) -> np.ndarray:
        """The crop resampled to out_size x out_size; outside the frame the border is replicated."""
        interpolation = cv2.INTER_AREA if self.size > 1.5 * out_size else cv2.INTER_LINEAR
        return cv2.warpAffine(rgb, self.matrix(out_size), (out_size, out_size), flags=interpolation,
                              borderMode=cv2.BORDER_REPLICATE)

    def to_crop(self, points: np.ndarray, out_size: int) -> np.ndarray:
        """Frame-pixel landmarks in the crop's output pixels (z scaled alike)."""
        scale = out_size / self.size
        out = points.astype(np.float32).copy()
        out[:, 0] = (points[:, 0] - self.cx) * scale + out_size / 2
        out[:, 1] = (points[:, 1] - self.cy) * scale + out_size / 2
        out[:, 2] = points[:, 2] * scale
        return out

    def moved_towards(self, other: "Crop", rate: float) -> "Crop":
        return Crop(self.cx + rate * (other.cx - self.cx), self.cy + rate * (other.cy - self.cy),
                    self.size + rate * (other.size - self.size))

    def from_crop(self, points: np.ndarray, out_size: int) -> np.ndarray:
        """The inverse of ``to_crop``: crop-pixel landmarks back in frame pixels."""
        scale = self.size / out_size
        out = points.astype(np.float32).copy()
        out[:, 0] = (points[:, 0] - out_size / 2) * scale + self.cx
        out[:, 1] = (points[:, 1] - out_size / 2) * scale + self.cy
        out[:, 2] = points[:, 2] * scale
        return out
