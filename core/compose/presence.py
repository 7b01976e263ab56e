"""Face loss without a frozen face: the call picture eases to the avatar at rest, and back when the face returns.

When the driver's face is lost (they left, turned away, or the detection was implausible) the last animated
frame must not stay on the call. ``Presence`` tracks how much of the animated face to show, from 1 (all) to
0 (the avatar at rest), easing over a fraction of a second each way, for every engine alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np


@dataclass(frozen=True)
class PresenceSettings:
    fade_out: float = 0.35  # seconds from the last animated frame to the avatar at rest
    fade_in: float = 0.25  # seconds back to the animated face once it returns


class Presence:
    """How much of the animated face the picture shows, updated once per frame."""

    def __init__(self, settings: PresenceSettings = PresenceSettings()):
        self.settings = settings
        self.weight = 1.0  # before any face the engine's own output is the avatar at rest anyway
        self._at: float | None = None

    def update(self, face_found: bool, timestamp: float) -> float:
        """The weight of the animated face for a frame at ``timestamp`` (seconds) with or without a face."""
        elapsed = 0.0 if self._at is None else max(timestamp - self._at, 0.0)
        self._at = timestamp
        if face_found:
            self.weight = min(1.0, self.weight + elapsed / self.settings.fade_in)
        else:
            self.weight = max(0.0, self.weight - elapsed / self.settings.fade_out)
        return self.weight

    def blend(self, rest: np.ndarray, animated: np.ndarray,
              ease: Callable[[float], np.ndarray] | None = None) -> np.ndarray:
        """``animated`` eased towards ``rest`` by the current weight (exactly one of them at 0 and 1), at
        ``animated``'s size (an engine may render smaller than the avatar it was given). ``ease(weight)``: an
        engine that can ease its own motion back to rest does so; otherwise the two pictures cross-fade."""
        if self.weight >= 1.0:
            return animated
        if rest.shape != animated.shape:
            rest = cv2.resize(rest, (animated.shape[1], animated.shape[0]), interpolation=cv2.INTER_AREA)
        if self.weight <= 0.0:
            return rest
        if ease is not None:
            return ease(self.weight)
        return cv2.addWeighted(animated, self.weight, rest, 1.0 - self.weight, 0.0)
