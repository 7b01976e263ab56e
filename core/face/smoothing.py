"""The One Euro filter (Casiez et al., CHI 2012): little jitter when still, little lag when moving."""

from __future__ import annotations

import math

import numpy as np


class OneEuroFilter:
    """Smooths an array signal sample by sample; ``min_cutoff`` (Hz) sets stillness, ``beta`` the speed response."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None
        self._time: float | None = None

    def reset(self) -> None:
        self._value = self._speed = self._time = None

    def __call__(self, value: np.ndarray, timestamp: float) -> np.ndarray:
        value = np.asarray(value, dtype=np.float64)
        if self._value is None or self._time is None or timestamp <= self._time:
            self._value, self._speed, self._time = value, np.zeros_like(value), timestamp
            return value.copy()
        dt = timestamp - self._time
        speed = (value - self._value) / dt
        self._speed = self._speed + _alpha(self.d_cutoff, dt) * (speed - self._speed)
        cutoff = self.min_cutoff + self.beta * np.abs(self._speed)
        self._value = self._value + _alpha(cutoff, dt) * (value - self._value)
        self._time = timestamp
        return self._value.copy()


def _alpha(cutoff, dt: float):
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)
