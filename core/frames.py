"""What the pipeline hands its sinks for each rendered frame, and the output canvas built from it."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .crop import Crop


@dataclass(frozen=True)
class OutputFrame:
    """One rendered frame. ``avatar`` is the engine's square output; the camera fields feed previews."""

    avatar: np.ndarray
    captured_at: float  # the capture stamp of the driving frame: latency runs from here to the sink
    index: int
    face_found: bool
    camera: np.ndarray | None = None
    crop: Crop | None = None
    landmarks: np.ndarray | None = None  # in camera pixels


def compose_canvas(avatar: np.ndarray, size: tuple[int, int], mirror: bool = False) -> np.ndarray:
    """The square avatar centred on a ``size`` (w, h) canvas over a blurred, stretched copy of itself."""
    width, height = size
    side = min(width, height)
    # Blur at a tiny size and scale up: a soft backdrop for the cost of a few thousand pixels.
    backdrop = cv2.resize(cv2.resize(avatar, (16, 9), interpolation=cv2.INTER_AREA), (width, height),
                          interpolation=cv2.INTER_LINEAR)
    face = cv2.resize(avatar, (side, side), interpolation=cv2.INTER_LINEAR if side > avatar.shape[0]
                      else cv2.INTER_AREA)
    x, y = (width - side) // 2, (height - side) // 2
    backdrop[y:y + side, x:x + side] = face
    return np.ascontiguousarray(backdrop[:, ::-1]) if mirror else backdrop
