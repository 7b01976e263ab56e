"""What the camera preview shows on top of the picture: the alignment crop, landmarks, an onion skin."""

from __future__ import annotations

import cv2
import numpy as np

from core.frames import OutputFrame

_LOW_LIGHT_LUMA = 55  # mean luma under this (0-255) makes landmarks jittery: tell the user


def camera_view(frame: OutputFrame, landmarks: bool = False, onion: np.ndarray | None = None,
                onion_alpha: float = 0.4) -> np.ndarray | None:
    """The camera frame with the crop box, optionally landmarks, and optionally the avatar laid over the
    crop at ``onion_alpha`` so the user can match its pose before calibrating."""
    if frame.camera is None:
        return None
    view = frame.camera.copy()
    crop = frame.crop
    if crop is not None:
        side = int(round(crop.size))
        x0, y0 = int(round(crop.cx - crop.size / 2)), int(round(crop.cy - crop.size / 2))
        if onion is not None:
            _blend_into(view, cv2.resize(onion, (side, side)), x0, y0, onion_alpha)
        cv2.rectangle(view, (x0, y0), (x0 + side, y0 + side), (80, 200, 255), 2, cv2.LINE_AA)
    if landmarks and frame.landmarks is not None:
        for x, y in frame.landmarks[::3, :2].astype(int):
            cv2.circle(view, (x, y), 1, (120, 255, 120), -1, cv2.LINE_AA)
    return view


def is_low_light(rgb: np.ndarray) -> bool:
    small = cv2.resize(rgb, (64, 36), interpolation=cv2.INTER_AREA)
    return float(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).mean()) < _LOW_LIGHT_LUMA


def _blend_into(view: np.ndarray, layer: np.ndarray, x0: int, y0: int, alpha: float) -> None:
    h, w = view.shape[:2]
    x1, y1 = max(x0, 0), max(y0, 0)
    x2, y2 = min(x0 + layer.shape[1], w), min(y0 + layer.shape[0], h)
    if x2 <= x1 or y2 <= y1:
        return
    part = layer[y1 - y0:y2 - y0, x1 - x0:x2 - x0]
    view[y1:y2, x1:x2] = cv2.addWeighted(view[y1:y2, x1:x2], 1 - alpha, part, alpha, 0)
