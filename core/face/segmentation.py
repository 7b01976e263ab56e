"""The person in a portrait, cut from its background (mediapipe's selfie segmentation, bundled in 0.10.21)."""

from __future__ import annotations

import threading
from functools import cache

import cv2
import numpy as np

from core.face import landmarks as _quiet_logs  # noqa: F401  (sets mediapipe's log level before it loads)

_WORK_SIDE = 512  # the model sees 256x256; a mask computed at this size and scaled up has smooth edges


class PersonSegmenter:
    """The segmentation model kept open, for a mask frame after frame (about 6 ms each); thread-safe."""

    def __init__(self):
        from mediapipe.python.solutions import selfie_segmentation

        self._model = selfie_segmentation.SelfieSegmentation(model_selection=0)
        self._lock = threading.Lock()

    def mask(self, rgb: np.ndarray) -> np.ndarray:
        """How much each pixel of ``rgb`` belongs to the person: float32 in [0, 1], the image's size."""
        h, w = rgb.shape[:2]
        scale = min(1.0, _WORK_SIDE / max(h, w))
        small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        with self._lock:
            mask = self._model.process(np.ascontiguousarray(small)).segmentation_mask
        mask = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 1.5)
        return np.clip(cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR), 0, 1)

    def close(self) -> None:
        self._model.close()


@cache
def live_segmenter() -> PersonSegmenter:
    """The one segmenter that live pictures share: a model per avatar would be a graph left open per switch."""
    return PersonSegmenter()


def person_mask(rgb: np.ndarray) -> np.ndarray:
    """How much each pixel of ``rgb`` belongs to the person: float32 in [0, 1], the image's size."""
    segmenter = PersonSegmenter()
    try:
        return segmenter.mask(rgb)
    finally:
        segmenter.close()
