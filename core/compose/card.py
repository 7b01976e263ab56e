"""Hide: a still card on the call instead of the live picture (the avatar at rest, softly blurred, one line of
text such as "Be right back"), faded in and out over a fraction of a second."""

from __future__ import annotations

import threading
import time
from typing import Callable

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

DEFAULT_TEXT = "Be right back"
FADE_SECONDS = 0.3
_BLUR = 0.02  # the blur's sigma as a fraction of the picture's width: soft, the portrait still recognisable
_DIM = 0.75  # the blurred portrait is darkened so the white line reads on any portrait
_TEXT_HEIGHT = 0.07  # the line's font size as a fraction of the picture's height


def make_card(rest: np.ndarray, text: str) -> np.ndarray:
    """``rest`` (the avatar at rest, RGB) blurred and dimmed, with ``text`` centred in its lower third."""
    h, w = rest.shape[:2]
    card = (_blurred(rest, max(1.0, _BLUR * w)) * _DIM).astype(np.uint8)
    if not text:
        return card
    image = Image.fromarray(card)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(max(12, round(_TEXT_HEIGHT * h)))  # a scalable font with wide Unicode cover
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    if right - left > 0.9 * w:  # a long line is shrunk to fit rather than cut off
        font = ImageFont.load_default(max(8, round(font.size * 0.9 * w / (right - left))))
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x, y = (w - (right - left)) / 2 - left, 0.72 * h - (bottom - top) / 2 - top
    draw.text((x, y), text, font=font, fill=(255, 255, 255), stroke_width=max(1, font.size // 14),
              stroke_fill=(0, 0, 0))
    return np.asarray(image)


def _blurred(picture: np.ndarray, sigma: float) -> np.ndarray:
    """``picture`` blurred by ``sigma``, the blur made on a picture shrunk to keep it 4 pixels wide: a blur
    that wide keeps nothing a smaller picture loses, and takes 4 ms at 1280x720 instead of 110."""
    h, w = picture.shape[:2]
    shrink = max(1, int(sigma // 4))
    if shrink == 1:
        return cv2.GaussianBlur(picture, (0, 0), sigma)
    small = cv2.resize(picture, (max(1, w // shrink), max(1, h // shrink)), interpolation=cv2.INTER_AREA)
    return cv2.resize(cv2.GaussianBlur(small, (0, 0), sigma / shrink), (w, h), interpolation=cv2.INTER_LINEAR)


class HideCard:
    """Whether the call is hidden, and the picture to send instead: ``cover`` is called for every picture
    on its way out (any thread); ``set`` from any other."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self.hidden = False
        self.text = DEFAULT_TEXT
        self._changed_at = -FADE_SECONDS
        self._cached: tuple[tuple, np.ndarray] | None = None

    def set(self, hidden: bool, text: str | None = None, fade: bool = True) -> None:
        """Hide or show; ``text`` (None: keep it) is the card's line; without ``fade`` at once."""
        with self._lock:
            if text is not None:
                self.text = text
            if hidden != self.hidden:
                now = self._clock()
                weight = self._weight(now)
                self.hidden = hidden
                # How far the new fade has got: from where the picture is (turned back midway), or all the way.
                done = (weight if hidden else 1 - weight) if fade else 1.0
                self._changed_at = now - FADE_SECONDS * done

    def cover(self, picture: np.ndarray, rest: Callable[[], np.ndarray], rest_key: tuple) -> np.ndarray:
        """``picture`` as the call should see it: itself, the card, or on the way from one to the other.
        ``rest()`` gives the avatar at rest (called only when ``rest_key`` changes)."""
        with self._lock:
            weight = self._weight(self._clock())
            text = self.text
        if weight == 0.0:
            return picture
        card = self._card(picture.shape, rest, rest_key, text)
        return card if weight == 1.0 else cv2.addWeighted(card, weight, picture, 1 - weight, 0)

    def prepare(self, rest: Callable[[], np.ndarray], rest_key: tuple, shape: tuple, text: str | None = None) -> None:
        """Make the card for pictures of ``shape`` now, on the caller's thread: blurring a whole picture takes
        0.1 to 0.3 s, which the first covered picture would otherwise wait for (the fade skipped, the call
        frozen meanwhile)."""
        self._card(shape, rest, rest_key, self.text if text is None else text)

    def _card(self, shape: tuple, rest: Callable[[], np.ndarray], rest_key: tuple, text: str) -> np.ndarray:
        key = (rest_key, text, shape)
        cached = self._cached
        if cached is None or cached[0] != key:
            still = rest()
            if still.shape != shape:
                still = cv2.resize(still, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
            cached = self._cached = (key, make_card(still, text))
        return cached[1]

    def _weight(self, now: float) -> float:
        """How much of the card the picture shows: 0 (live) to 1 (the card)."""
        progress = min(1.0, max(0.0, (now - self._changed_at) / FADE_SECONDS))
        return progress if self.hidden else 1 - progress
