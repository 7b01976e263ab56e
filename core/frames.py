"""The frames that travel the data flow: captured, then the engine's driving face, then the output."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.media.crop import Crop


@dataclass(frozen=True)
class CapturedFrame:
    """A camera frame as read, RGB uint8."""

    rgb: np.ndarray
    timestamp: float  # time.monotonic() when the frame was read: latency is measured from here
    index: int


@dataclass(frozen=True)
class DrivingFace:
    """One driving frame as engines see it.

    ``image``: the aligned face crop, RGB uint8, square. ``landmarks``: face-mesh landmarks in the crop's
    pixels, (N, 3) float32 with z in the same scale as x, or None when alignment is off.
    """

    image: np.ndarray
    landmarks: np.ndarray | None = None


@dataclass(frozen=True)
class OutputFrame:
    """One rendered frame. ``avatar`` is the engine's square output; ``picture`` the call picture made from
    it (the face pasted back into the portrait), which every sink shows; the camera fields feed previews.
    While the camera is silent the sinks get the avatar at rest: ``index`` -1, no camera fields."""

    avatar: np.ndarray
    captured_at: float  # the capture stamp of the driving frame: latency runs from here to the sink
    index: int
    face_found: bool
    camera: np.ndarray | None = None
    crop: Crop | None = None
    landmarks: np.ndarray | None = None  # in camera pixels
    picture: np.ndarray | None = None  # None: no compositor (--no-align keeps the raw model output)
    alpha: np.ndarray | None = None  # the picture's opacity, uint8 (H, W): a transparent background's; None: opaque
