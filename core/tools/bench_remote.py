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
from core.tools.bench import BENCH_PORTRAIT, aligned_inputs, camera_frames, machine_info
from core.tools.serve import Worker


def time_remote(engine: FommEngine, frames: int, clients: tuple[int, ...] = (1, 2, 4, 8),
                seconds: float = 5.0) -> dict:
    """Local engine vs the same engine behind a loopback worker (JPEG and lossless), and the worker's frames
    per second with several simulated clients at once (each a thread with its own avatar)."""
    aligner = FaceAligner(engine.resolution)
    inputs = aligned_inputs(aligner, camera_frames(16))
    aligner.close()
    avatar, _ = prepare_avatar(BENCH_PORTRAIT, engine.resolution)
    engine.set_avatar(avatar)
    engine.calibrate(inputs[0])

    keys = load_or_create_keys(Path(tempfile.mkdtemp()) / "keys.json")
    worker = Worker(engine, keys, "tcp://127.0.0.1:*")
    stop = threading.Event()
    thread = threading.Thread(target=worker.serve, args=(stop,), daemon=True)
    thread.start()
    pairing = keys.pairing("127.0.0.1", worker.port)
    result = {"engine": engine.name, "config": engine.config.name, "device": engine.device,
              "precision": engine.precision, "resolution": engine.resolution, "frames": frames}
    try:
        remotes = {mode: RemoteEngine(pairing, MeshEngine(), lossless=mode == "lossless", reply_timeout=30)
                   for mode in ("jpeg", "lossless")}
        for remote in remotes.values():
            remote.set_avatar(avatar)
            remote.calibrate(inputs[0])
        # Interleaved, frame by frame: the local engine, then the same frame through each link, so that
        # what the link adds is measured against the same moment's local time.
        times = {"local": [], "jpeg": [], "lossless": []}
        differences = {"jpeg": [], "lossless": []}
        for i in range(frames + 3):
            face = inputs[i % len(inputs)]
            local = _timed(engine.animate, face)
            outputs = {mode: _timed(remote.animate, face) for mode, remote in remotes.items()}
            if i < 3:  # warm-up
                continue
            times["local"].append(local[0])
            for mode, (ms, out) in outputs.items():
                times[mode].append(ms)
                differences[mode].append(float(np.abs(out.astype(np.float32) - local[1]).mean() / 255))
        telemetry = remotes["jpeg"].telemetry()
        result["rtt_ms"], result["worker_ms"] = telemetry["remote_rtt_ms_p50"], telemetry["remote_worker_ms_p50"]
        for remote in remotes.values():
            remote.close()
        result["local_ms_p50"], result["local_ms_p95"] = _p(times["local"], 50), _p(times["local"], 95)
        for mode in ("jpeg", "lossless"):
            added = [r - l for r, l in zip(times[mode], times["local"])]
            result[f"{mode}_ms_p50"], result[f"{mode}_ms_p95"] = _p(times[mode], 50), _p(times[mode], 95)
            result[f"{mode}_added_ms_p50"], result[f"{mode}_added_ms_p95"] = _p(added, 50), _p(added, 95)
            result[f"{mode}_mean_abs_diff"] = round(float(np.mean(differences[mode])), 6)
        result["batching"] = {str(n): _many_clients(pairing, avatar, inputs, n, seconds, worker) for n in clients}
    finally:
        stop.set()
        thread.join(5)
        worker.close()
    result.update(machine_info(engine.device))
    return result


def _timed(animate, face) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    out = animate(face)
    return (time.perf_counter() - start) * 1000, out


def _many_clients(pairing, avatar, inputs, count: int, seconds: float, worker: Worker) -> dict:
    """``count`` clients animating as fast as answers come for ``seconds``: frames per second in all."""
    done = [0] * count
    ready = threading.Barrier(count + 1, timeout=120)
    stop = threading.Event()

    def client(index: int) -> None:
        remote = RemoteEngine(pairing, MeshEngine(), reply_timeout=30)
        try:
            remote.set_avatar(np.roll(avatar, index * 7, axis=1))  # each its own avatar
            remote.calibrate(inputs[0])
            ready.wait()
            while not stop.is_set():
                remote.animate(inputs[done[index] % len(inputs)])
                done[index] += 1
        except threading.BrokenBarrierError:
            pass
        finally:
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
