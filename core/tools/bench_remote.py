"""The remote worker on loopback: what the link adds to a frame's time, and what batching gives many clients."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from core.engines.fomm import FommEngine
from core.engines.mesh import MeshEngine
from core.engines.remote import RemoteEngine
from core.face.alignment import FaceAligner
from core.link.pairing import load_or_create_keys
from core.live.builder import prepare_avatar
from core.tools.bench import BENCH_PORTRAIT, _aligned_inputs, camera_frames, machine_info
from core.tools.serve import Worker


def time_remote(engine: FommEngine, frames: int, clients: tuple[int, ...] = (1, 2, 4, 8),
                seconds: float = 5.0) -> dict:
    """Local engine vs the same engine behind a loopback worker (JPEG and lossless), and the worker's frames
    per second with several simulated clients at once (each a thread with its own avatar)."""
    aligner = FaceAligner(engine.resolution)
    inputs = _aligned_inputs(aligner, camera_frames(16))
    aligner.close()
    avatar, _ = prepare_avatar(BENCH_PORTRAIT, engine.resolution)
    engine.set_avatar(avatar)
    engine.calibrate(inputs[0])
    local_ms, local_out = _timed(engine, inputs, frames)

    keys = load_or_create_keys(Path(tempfile.mkdtemp()) / "keys.json")
    worker = Worker(engine, keys, "tcp://127.0.0.1:*")
    stop = threading.Event()
    thread = threading.Thread(target=worker.serve, args=(stop,), daemon=True)
    thread.start()
    pairing = keys.pairing("127.0.0.1", worker.port)
    result = {"engine": engine.name, "device": engine.device, "precision": engine.precision,
              "resolution": engine.resolution, "frames": frames,
              "local_ms_p50": _p(local_ms, 50), "local_ms_p95": _p(local_ms, 95)}
    try:
        for mode, lossless in (("jpeg", False), ("lossless", True)):
            remote = RemoteEngine(pairing, MeshEngine(), lossless=lossless, reply_timeout=30)
            remote.set_avatar(avatar)
            remote.calibrate(inputs[0])
            remote_ms, remote_out = _timed(remote, inputs, frames)
            if not lossless:  # the bench JSON's own names for the default link
                telemetry = remote.telemetry()
                result["rtt_ms"], result["worker_ms"] = telemetry["remote_rtt_ms_p50"], telemetry["remote_worker_ms_p50"]
            remote.close()
            added = [r - l for r, l in zip(sorted(remote_ms), sorted(local_ms))]
            result[f"{mode}_ms_p50"], result[f"{mode}_ms_p95"] = _p(remote_ms, 50), _p(remote_ms, 95)
            result[f"{mode}_added_ms_p50"], result[f"{mode}_added_ms_p95"] = _p(added, 50), _p(added, 95)
            result[f"{mode}_mean_abs_diff"] = round(float(np.mean(
                [np.abs(a.astype(np.float32) - b) / 255 for a, b in zip(remote_out, local_out)])), 6)
        result["batching"] = {str(n): _many_clients(pairing, avatar, inputs, n, seconds, worker) for n in clients}
    finally:
        stop.set()
        thread.join(5)
        worker.close()
    result.update(machine_info(engine.device))
    return result


def _timed(engine, inputs: list, frames: int) -> tuple[list[float], list[np.ndarray]]:
    times, outputs = [], []
    for i in range(frames + 3):
        start = time.perf_counter()
        out = engine.animate(inputs[i % len(inputs)])
        if i >= 3:  # warm-up
            times.append((time.perf_counter() - start) * 1000)
            outputs.append(out)
    return times, outputs


def _many_clients(pairing, avatar, inputs, count: int, seconds: float, worker: Worker) -> dict:
    """``count`` clients animating as fast as answers come for ``seconds``: frames per second in all."""
    done = [0] * count
    ready = threading.Barrier(count + 1)
    stop = threading.Event()

    def client(index: int) -> None:
        remote = RemoteEngine(pairing, MeshEngine(), reply_timeout=30)
        remote.set_avatar(np.roll(avatar, index * 7, axis=1))  # each its own avatar
        remote.calibrate(inputs[0])
        ready.wait()
        while not stop.is_set():
            remote.animate(inputs[done[index] % len(inputs)])
            done[index] += 1
        remote.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    ready.wait()
    batches, rendered = worker.batches, worker.frames_rendered
    start = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    elapsed = time.perf_counter() - start
    for thread in threads:
        thread.join(30)
    batches, rendered = worker.batches - batches, worker.frames_rendered - rendered
    return {"fps": round(sum(done) / elapsed, 2), "fps_per_client": round(sum(done) / elapsed / count, 2),
            "mean_batch": round(rendered / batches, 2) if batches else 0.0}


def _p(values: list[float], percentile: float) -> float:
    return round(float(np.percentile(values, percentile)), 3) if values else 0.0
