"""Engine benchmarks: median milliseconds per frame, as the bench command's JSON reports them."""

from __future__ import annotations

import platform
import statistics
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from core.face.alignment import FaceAligner
from core.engines.base import Engine
from core.live.builder import prepare_avatar
from core.live.capture import CaptureSettings
from core.media.images import read_image
from core.paths import BUNDLED_AVATARS

if TYPE_CHECKING:
    from core.engines.fomm import FommEngine

BENCH_PORTRAIT = BUNDLED_AVATARS / "astronaut.png"
_CAMERA = (CaptureSettings.width, CaptureSettings.height)


def camera_frames(count: int) -> list[np.ndarray]:
    """Camera-sized frames of a real face swaying and tilting: what the live loop sees from a webcam."""
    face = read_image(BENCH_PORTRAIT)
    frames = []
    for i in range(count):
        canvas = np.full((_CAMERA[1], _CAMERA[0], 3), 190, np.uint8)
        m = cv2.getRotationMatrix2D((face.shape[1] / 2, face.shape[0] / 2), 6 * np.sin(i / 6), 1.0)
        m[:, 2] += (_CAMERA[0] / 2 - face.shape[1] / 2 + 25 * np.sin(i / 9), _CAMERA[1] / 2 - face.shape[0] / 2)
        frames.append(cv2.warpAffine(face, m, _CAMERA, dst=canvas, borderMode=cv2.BORDER_TRANSPARENT))
    return frames


def time_engine(engine: Engine, frames: int, warmup: int = 3) -> dict:
    """Median ms per frame of ``engine.animate`` alone, of its reported parts, of face alignment, and of the
    live loop (face alignment of a camera frame, the engine, and pasting the face back into the call picture)."""
    camera = camera_frames(16)
    aligner = FaceAligner(engine.resolution)
    inputs = aligned_inputs(aligner, camera)
    avatar, compositor = prepare_avatar(BENCH_PORTRAIT, engine.resolution)  # as the live pipeline does
    engine.set_avatar(avatar)
    engine.calibrate(inputs[0])
    totals, live, aligns, parts, composites = [], [], [], {}, []
    for i in range(warmup + frames):
        start = time.perf_counter()
        engine.animate(inputs[i % len(inputs)])
        _synchronize(engine.device)
        end = time.perf_counter()
        result = aligner.process(camera[i % len(camera)], (len(camera) + i) / 30)
        aligned = time.perf_counter()
        if result is not None:
            face = engine.animate(result.face)
            _synchronize(engine.device)
            composite_start = time.perf_counter()
            compositor.compose(face, blend=not engine.pinned_border)
            composites.append((time.perf_counter() - composite_start) * 1000)
        if i >= warmup:
            totals.append((end - start) * 1000)
            live.append((time.perf_counter() - end) * 1000)
            aligns.append((aligned - end) * 1000)
            for key, value in getattr(engine, "timings", {}).items():
                parts.setdefault(key, []).append(value)
    aligner.close()
    ms = statistics.median(totals)
    result = {"engine": engine.name, "device": engine.device, "precision": getattr(engine, "precision", "fp32"),
              "frames": frames, "ms_per_frame": round(ms, 3), "fps": round(1000 / ms, 2),
              "live_ms_per_frame": round(statistics.median(live), 3), "align_ms": round(statistics.median(aligns), 3),
              "resolution": engine.resolution,
              "composite_ms": round(statistics.median(composites), 3) if composites else None,
              "output_size": "x".join(map(str, compositor.size)), "face_side": avatar.shape[0]}
    if composites:  # the call picture's rate: the engine and the paste-back, without face tracking
        result["call_fps"] = round(1000 / (ms + result["composite_ms"]), 2)
    result.update({key: round(statistics.median(values), 3) for key, values in parts.items()})
    result.update(machine_info(engine.device))
    return result


def aligned_inputs(aligner: FaceAligner, camera: list[np.ndarray]) -> list:
    """Engine inputs cut from camera frames, as the live loop cuts them (frames without a face skipped)."""
    aligned = (aligner.process(rgb, i / 30) for i, rgb in enumerate(camera))
    return [a.face for a in aligned if a is not None]


def machine_info(device: str) -> dict:
    """What the numbers came from."""
    info = {"torch": torch.__version__, "cpu_threads": torch.get_num_threads(), "cpu": platform.processor()
            or platform.machine(), "python": platform.python_version(),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(torch.device(device))


def compare_fomm(fast: FommEngine, frames: int) -> dict:
    """Time the optimised FOMM engine and the plain eager fp32 one on the same weights and frames, and report
    the speed-up and how far the optimised outputs are from the plain ones (in [0, 1] pixel units)."""
    from dataclasses import replace

    from models.inference import PLAIN

    from core.engines.fomm import FommEngine

    engines = {}
    for name, choice, inference in (("plain", replace(fast.choice, precision="fp32"), PLAIN),
                                    ("fast", fast.choice, fast.inference)):
        torch.manual_seed(0)  # random weights (no checkpoint) come out the same for both
        engines[name] = FommEngine(choice, fast.checkpoint, inference, profile=True)
    result = time_engine(engines["fast"], frames)
    plain = time_engine(engines["plain"], frames)
    result["plain_ms_per_frame"] = plain["ms_per_frame"]
    result["plain_precision"] = "fp32"
    result["speedup"] = round(plain["ms_per_frame"] / result["ms_per_frame"], 3)
    aligner = FaceAligner(engines["fast"].resolution)
    inputs = aligned_inputs(aligner, camera_frames(8))
    aligner.close()
    diffs = []
    for engine in engines.values():
        engine.calibrate(inputs[0])
    for frame in inputs:
        a = engines["fast"].animate(frame).astype(np.float32)
        b = engines["plain"].animate(frame).astype(np.float32)
        diffs.append(np.abs(a - b) / 255)
    result["max_abs_diff"] = round(float(max(d.max() for d in diffs)), 5)
    result["mean_abs_diff"] = round(float(np.mean([d.mean() for d in diffs])), 6)
    return result
