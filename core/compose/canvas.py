"""The call picture: the engine's square output framed on a canvas of the call's size."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

CALL_SIZE = (1280, 720)  # width, height: what call apps expect from a camera


def fit_to(picture: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``picture`` at ``size`` (w, h); no copy when it already is."""
    if picture.shape[1::-1] == tuple(size):
        return picture
    shrink = picture.shape[1] > size[0]
    return cv2.resize(picture, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def compose_canvas(avatar: np.ndarray, size: tuple[int, int] = CALL_SIZE, mirror: bool = False) -> np.ndarray:
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


_CHECKER = 16  # the squares' side in pixels
_CHECKER_LEVELS = (102, 153)


@lru_cache(maxsize=2)
def _checkerboard(height: int, width: int) -> np.ndarray:
    ys, xs = np.ogrid[:height, :width]
    board = np.where((ys // _CHECKER + xs // _CHECKER) % 2, *_CHECKER_LEVELS).astype(np.uint8)
    return cv2.merge([board] * 3)


def over_checkerboard(picture: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``picture`` over a grey checkerboard by its ``alpha`` (uint8): how a preview shows transparency."""
    weight = alpha.astype(np.float32) * (1 / 255)
    return cv2.blendLinear(picture, _checkerboard(*alpha.shape), weight, 1 - weight)
