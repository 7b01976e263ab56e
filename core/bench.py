"""Engine benchmarks: median milliseconds per frame, as the bench command's JSON reports them."""

from __future__ import annotations

import platform
import statistics
import time
from datetime import datetime, timezone

import numpy as np
import torch

from .engines.base import Engine, FrameFeatures


def _synthetic_frames(size: int, count: int, seed: int = 0) -> list[FrameFeatures]:
    """Smooth random images: timing does not depend on content, and no file is needed."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
    frames = []
    for i in range(count):
        shifted = np.roll(base, i % (size // 8), axis=1)
        frames.append(FrameFeatures(image=np.kron(shifted, np.ones((8, 8, 1), np.uint8))))
    return frames


def time_engine(engine: Engine, frames: int, warmup: int = 3) -> dict:
    """Per-frame timings of ``engine.animate`` after warm-up: medians of the total and of reported parts."""
    inputs = _synthetic_frames(engine.resolution, 8)
    engine.set_avatar(inputs[0].image)
    engine.calibrate(inputs[0])
    totals, parts = [], {}
    for i in range(warmup + frames):
        start = time.perf_counter()
        engine.animate(inputs[i % len(inputs)])
        _synchronize(engine.device)
        if i >= warmup:
            totals.append((time.perf_counter() - start) * 1000)
            for key, value in getattr(engine, "timings", {}).items():
                parts.setdefault(key, []).append(value)
    ms = statistics.median(totals)
    result = {"engine": engine.name, "device": engine.device, "precision": getattr(engine, "precision", "fp32"),
              "frames": frames, "ms_per_frame": round(ms, 3), "fps": round(1000 / ms, 2),
              "resolution": engine.resolution}
    result.update({key: round(statistics.median(values), 3) for key, values in parts.items()})
    result.update(machine_info(engine.device))
    return result


def machine_info(device: str) -> dict:
    """What the numbers came from."""
    info = {"torch": torch.__version__, "cpu_threads": torch.get_num_threads(), "machine": platform.machine(),
            "python": platform.python_version(), "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(torch.device(device))
