"""Run statistics: what came in, what went out, and how long it took (the stats JSON of the run command)."""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np

_WINDOW = 4096  # recent samples kept for percentiles: bounded memory however long the run
RATE_SECONDS = 5.0  # rates ("dropped per second") are over this recent window, not since the start


class RunStats:
    """Thread-safe counters and recent timings; ``summary`` gives the documented JSON keys."""

    def __init__(self, engine: str, device: str):
        self.engine, self.device = engine, device
        self._lock = threading.Lock()
        self._latency_ms: deque[float] = deque(maxlen=_WINDOW)
        self._engine_ms: deque[float] = deque(maxlen=_WINDOW)
        self._out_times: deque[float] = deque(maxlen=_WINDOW)
        self._dropped: deque[tuple[float, int]] = deque()  # (time, frames dropped so far), recent only
        self.frames_out = 0
        self.frames_failed = 0
        self.frames_no_face = 0

    @property
    def last_output_at(self) -> float | None:
        """Monotonic time of the newest output frame."""
        with self._lock:
            return self._out_times[-1] if self._out_times else None

    def record_output(self, captured_at: float, engine_ms: float | None, dropped_so_far: int = 0) -> None:
        now = time.monotonic()
        with self._lock:
            self.frames_out += 1
            self._dropped.append((now, dropped_so_far))
            while now - self._dropped[0][0] > RATE_SECONDS:
                self._dropped.popleft()
            self._latency_ms.append((now - captured_at) * 1000)
            self._out_times.append(now)
            if engine_ms is not None:
                self._engine_ms.append(engine_ms)

    def record_failure(self) -> None:
        with self._lock:
            self.frames_failed += 1

    def record_no_face(self) -> None:
        with self._lock:
            self.frames_no_face += 1

    def fps_out(self) -> float:
        """Output frames per second over the last few seconds: falls to 0 when the picture stalls."""
        now = time.monotonic()
        with self._lock:
            times = [t for t in self._out_times if now - t <= RATE_SECONDS]
        return (len(times) - 1) / (now - times[0]) if len(times) > 1 and now > times[0] else 0.0

    def dropped_per_second(self) -> float:
        """Frames dropped per second over the last few seconds of output."""
        with self._lock:
            if len(self._dropped) < 2:
                return 0.0
            (t0, d0), (t1, d1) = self._dropped[0], self._dropped[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else 0.0

    def latency_ms(self, percentile: float) -> float:
        with self._lock:
            values = list(self._latency_ms)
        return float(np.percentile(values, percentile)) if values else 0.0

    def summary(self, frames_in: int, frames_dropped: int) -> dict:
        with self._lock:
            engine_ms = list(self._engine_ms)
        return {"frames_in": frames_in, "frames_out": self.frames_out, "frames_dropped": frames_dropped,
                "dropped_per_s": round(self.dropped_per_second(), 2),
                "fps_out": round(self.fps_out(), 2), "latency_ms_p50": round(self.latency_ms(50), 2),
                "latency_ms_p95": round(self.latency_ms(95), 2),
                "engine_ms_p50": round(float(np.median(engine_ms)), 2) if engine_ms else 0.0,
                "engine": self.engine, "device": self.device, "frames_failed": self.frames_failed,
                "frames_no_face": self.frames_no_face}
