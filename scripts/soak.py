"""Soak the headless pipeline: a looping video read at full speed for a while, watching for leaks and drift.

    python scripts/soak.py --minutes 10 --json bench/results/soak.json

Records the call picture for 5 s of every 10 (as the Record key does) and asks the watchdog every 5 s.
Reports resident memory after warm-up and at the end, thread counts, and latency p95 over the first and the
last minute. Exits 1 if memory grows 50 MB or more after warm-up, threads leak, the last minute's p95 is
more than 20% above the first's, a recording fails or does not play, or the picture stalls.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.engines import EngineChoice  # noqa: E402
from core.live.builder import LiveSetup, build_pipeline  # noqa: E402
from core.live.capture import CaptureSettings  # noqa: E402
from core.errors import UserError, run_command  # noqa: E402
from core.live.sinks import CallbackSink, RecorderSink  # noqa: E402
from core.media.video_io import Mp4Writer  # noqa: E402
from core.tools.bench import BENCH_PORTRAIT, camera_frames  # noqa: E402


def resident_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def heap_mb() -> dict[str, float]:
    """glibc's heap, all threads' arenas: MB allocated and not freed (``in_use``, mmapped blocks included), and
    MB freed but kept by the allocator (``free``). Resident memory that grows with ``in_use`` is a leak; with
    ``free``, fragmentation; with neither, memory malloc does not hand out (Python's own arenas, drivers' maps).
    Empty where there is no glibc (2.33 or newer)."""
    try:
        mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return {}
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return {"in_use": round((info.uordblks + info.hblkhd) / 2**20, 1), "free": round(info.fordblks / 2**20, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=1.0, help="minutes before the memory baseline")
    parser.add_argument("--engine", default="mesh")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    clip = Path(tempfile.mkdtemp()) / "soak.mp4"
    writer = Mp4Writer(clip, 30, (CaptureSettings.width, CaptureSettings.height))
    for frame in camera_frames(120):
        writer.write(frame)
    writer.close()

    latencies: list[tuple[float, float]] = []
    lock = threading.Lock()

    def on_frame(frame):
        now = time.monotonic()
        with lock:
            latencies.append((now, (now - frame.captured_at) * 1000))

    threads_before = threading.active_count()
    setup = LiveSetup(camera=clip, avatar=BENCH_PORTRAIT, choice=EngineChoice(engine=args.engine), loop=True,
                      paced=False, allow_random_weights=True)
    pipeline = build_pipeline(setup, [CallbackSink(on_frame)]).start()
    engine = pipeline.engine
    start = time.monotonic()
    samples = []
    baseline = None
    recordings = Path(tempfile.mkdtemp())
    recorder, recorded, failed, stalls = None, 0, [], 0
    while time.monotonic() - start < args.minutes * 60:
        time.sleep(5)
        stalls += pipeline.stall() is not None
        if recorder is None:
            recorder = RecorderSink(recordings / f"take-{recorded}.mp4", pipeline.source.fps, pipeline.output_size)
            pipeline.add_sink(recorder)
        else:
            try:
                pipeline.remove_sink(recorder)  # finalises and reads the file back
                recorded += 1
            except UserError as exc:
                failed.append(str(exc))
            recorder = None
        elapsed = (time.monotonic() - start) / 60
        rss = resident_mb()
        samples.append({"minute": round(elapsed, 2), "rss_mb": round(rss, 1), "threads": threading.active_count()})
        if baseline is None and elapsed >= args.warmup:
            baseline = rss
        print(json.dumps(samples[-1]), flush=True)
    threads_running = threading.active_count()
    pipeline.stop()
    time.sleep(0.5)
    end = time.monotonic()

    def p95(t0, t1):
        values = [ms for t, ms in latencies if t0 <= t < t1]
        return float(np.percentile(values, 95)) if values else float("nan")

    summary = pipeline.summary()
    result = {
        "minutes": args.minutes, "engine": engine.name, "frames_in": summary["frames_in"],
        "frames_out": summary["frames_out"], "frames_dropped": summary["frames_dropped"],
        "frames_failed": summary["frames_failed"], "recordings": recorded, "recordings_failed": failed,
        "stalls_seen": stalls,
        "rss_mb_after_warmup": round(baseline, 1), "rss_mb_end": samples[-1]["rss_mb"],
        "rss_growth_mb": round(samples[-1]["rss_mb"] - baseline, 1),
        "threads_before": threads_before, "threads_running": threads_running,
        "threads_after_stop": threading.active_count(),
        "latency_ms_p95_first_minute": round(p95(start + 0, start + 60), 2),
        "latency_ms_p95_last_minute": round(p95(end - 60.5, end), 2),
        "samples": samples,
    }
    result["p95_ratio_last_to_first"] = round(result["latency_ms_p95_last_minute"]
                                              / result["latency_ms_p95_first_minute"], 3)
    ok = (result["rss_growth_mb"] < 50 and result["threads_after_stop"] <= threads_before
          and result["p95_ratio_last_to_first"] <= 1.2 and not failed and not stalls)
    result["passed"] = ok
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(run_command(main))
