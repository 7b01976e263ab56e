"""The person in a portrait, cut from its background (mediapipe's selfie segmentation, bundled in 0.10.21)."""

from __future__ import annotations

import cv2
import numpy as np

from core.face import landmarks as _quiet_logs  # noqa: F401  (sets mediapipe's log level before it loads)

_WORK_SIDE = 512  # the model sees 256x256; a mask computed at this size and scaled up has smooth edges


def person_mask(rgb: np.ndarray) -> np.ndarray:
    """How much each pixel of ``rgb`` belongs to the person: float32 in [0, 1], the image's size."""
    from mediapipe.python.solutions import selfie_segmentation

    h, w = rgb.shape[:2]
    scale = min(1.0, _WORK_SIDE / max(h, w))
    small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    with selfie_segmentation.SelfieSegmentation(model_selection=0) as model:
        mask = model.process(np.ascontiguousarray(small)).segmentation_mask
    mask = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 1.5)
    return np.clip(cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR), 0, 1)
