"""The live pipeline, headless: video files as cameras, fake and real virtual cameras, slow engines."""

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ASTRONAUT, ROOT, camera_clip
from core.live.capture import FrameSource
from core.live.events import EventKind
from core.frames import DrivingFace
from core.engines.mesh import MeshEngine
from core.live.pipeline import LivePipeline, PipelineSettings
from core.live.sinks import CallbackSink, VirtualCameraSink, VirtualCameraUnavailable, virtual_camera_help
from core.frames import OutputFrame
from fakes import FakeCamera, SlowEngine


def _collect():
    frames = []
    return frames, CallbackSink(frames.append)


def test_slow_engine_drops_frames_and_latency_stays_bounded(camera_video, avatar_256):
    frames, sink = _collect()
    pipeline = LivePipeline(FrameSource(camera_video), SlowEngine(0.1), avatar_256, [sink],
                            PipelineSettings(align=False)).start()
    pipeline.wait(timeout=10)
    pipeline.stop()
    summary = pipeline.summary()
    assert summary["frames_in"] == 90
    assert summary["frames_dropped"] > 40  # a 10 fps engine on a 30 fps camera: most frames are dropped
    assert 15 < summary["frames_out"] < 45
    # One engine time plus one camera frame, with room for a busy 2-core machine: never a growing queue.
    assert summary["latency_ms_p95"] < 100 + 33 + 90


def test_fake_virtual_camera_gets_a_framed_canvas_and_mirror_flips_it(avatar_256):
    FakeCamera.instances.clear()
    sink = VirtualCameraSink("/dev/video42", size=(640, 360), fps=30, mirror=True, camera_factory=FakeCamera)
    assert sink.device == "/dev/video42"
    asymmetric = avatar_256.copy()
    asymmetric[:, :128] = 0
    sink.write(OutputFrame(avatar=asymmetric, captured_at=time.monotonic(), index=0, face_found=True))
    sink.close()
    camera = FakeCamera.instances[-1]
    frame = camera.frames[0]
    assert camera.closed and frame.shape == (360, 640, 3)
    middle = frame[:, 140:500]
    assert middle[:, :180].mean() > middle[:, 180:].mean()  # the black half moved to the right


def test_real_pyvirtualcam_without_a_device_says_how_to_install_one():
    # A device that cannot exist: the real pyvirtualcam path fails the same way on machines with or without
    # a virtual camera installed.
    device = "/dev/video-facade-missing" if sys.platform.startswith("linux") else "Facade Missing Camera"
    with pytest.raises(VirtualCameraUnavailable) as info:
        VirtualCameraSink(device=device, size=(640, 360))
    message = str(info.value)
    assert message == f"No virtual camera at {device} to send to; {virtual_camera_help()} (README: The virtual camera)"
    if sys.platform.startswith("linux"):
        assert "modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=Facade" in message


def test_run_goes_on_without_the_virtual_camera_and_writes_stats(tmp_path, camera_video):
    stats = tmp_path / "stats.json"
    record = tmp_path / "rec.mp4"
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "run", "--camera", str(camera_video), "--avatar",
                           str(ASTRONAUT), "--virtual-cam", "--record", str(record), "--max-frames", "40",
                           "--stats-json", str(stats), "--loop"],  # looped: a loaded machine drops frames
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    # Without a virtual camera (CI) the run warns and goes on; with one, it names the device.
    assert "warning: No virtual camera to send to; install" in proc.stderr or "virtual camera: /dev/" in proc.stderr
    result = json.loads(stats.read_text())
    for key in ("frames_in", "frames_out", "frames_dropped", "fps_out", "latency_ms_p50", "latency_ms_p95",
                "engine_ms_p50", "engine", "device"):
        assert key in result
    assert result["engine"] == "mesh" and result["frames_out"] >= 40
    assert result["latency_ms_p50"] > 0 and result["engine_ms_p50"] > 0
    import cv2

    capture = cv2.VideoCapture(str(record))
    assert capture.isOpened() and int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) >= 40


def test_face_that_leaves_and_comes_back_eases_to_rest_and_back(tmp_path, astronaut, avatar_256):
    clip = camera_clip(tmp_path / "gap.mp4", astronaut, 60, motion=lambda i: {"dx": i % 10},
                       blank=set(range(20, 40)))
    frames, sink = _collect()
    events = []
    pipeline = LivePipeline(FrameSource(clip), MeshEngine(), avatar_256, [sink],
                            on_event=events.append).start()
    pipeline.wait(timeout=15)
    pipeline.stop()
    faces = [e.problem for e in events if e.kind == EventKind.FACE]
    assert True in faces and faces.index(True) < max(i for i, missing in enumerate(faces) if not missing)
    blanks = [f for f in frames if not f.face_found]
    assert blanks and pipeline.stats.frames_no_face == len(blanks)
    rest = avatar_256.astype(np.float32)
    away = [float(np.abs(f.avatar.astype(np.float32) - rest).mean()) for f in blanks]
    assert all(b <= a + 1e-6 for a, b in zip(away, away[1:]))  # never garbage: only ever closer to rest
    assert frames[-1].face_found


def test_calibration_changes_the_output(tmp_path, astronaut, avatar_256):
    # The head sits still on the left for 40 frames, then still on the right for 50.
    clip = camera_clip(tmp_path / "steps.mp4", astronaut, 90, motion=lambda i: {"dx": -20 if i < 40 else 20})
    frames, sink = _collect()
    pipeline = LivePipeline(FrameSource(clip), MeshEngine(), avatar_256, [sink]).start()
    while frames == [] or frames[-1].index < 60:
        time.sleep(0.05)
    moved_output = frames[-1].avatar.copy()
    calibrations_before = pipeline.calibrations
    pipeline.calibrate()
    pipeline.wait(timeout=15)
    pipeline.stop()
    assert pipeline.calibrated and pipeline.calibrations == calibrations_before + 1
    at_rest = frames[-1].avatar
    # Calibrated on the left, the head on the right moved the avatar; recalibrated there, it rests again.
    assert np.abs(moved_output.astype(int) - avatar_256).mean() > 3
    assert np.abs(at_rest.astype(int) - avatar_256).mean() < 1.5


def test_engine_error_on_one_frame_is_skipped_and_counted(camera_video, avatar_256):
    class Flaky(SlowEngine):
        def animate(self, frame):
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls == 3:
                raise ValueError("bad frame")
            return super().animate(frame)

    frames, sink = _collect()
    events = []
    pipeline = LivePipeline(FrameSource(camera_video), Flaky(0.0), avatar_256, [sink], PipelineSettings(align=False),
                            on_event=events.append).start()
    pipeline.wait(max_frames=20, timeout=10)
    pipeline.stop()
    assert pipeline.stats.frames_failed == 1 and pipeline.stats.frames_out >= 20
    assert any(e.kind == EventKind.ENGINE and e.problem and "bad frame" in e.message for e in events)


def test_a_failing_sink_is_switched_off_and_the_rest_go_on(camera_video, avatar_256):
    class Broken:
        name = "virtual camera"

        def write(self, frame):
            raise OSError("device gone")

        def close(self):
            pass

    frames, sink = _collect()
    events = []
    pipeline = LivePipeline(FrameSource(camera_video), SlowEngine(0.0), avatar_256, [Broken(), sink],
                            PipelineSettings(align=False), on_event=events.append).start()
    pipeline.wait(max_frames=15, timeout=10)
    pipeline.stop()
    assert len(frames) >= 15
    assert any(e.kind == EventKind.SINK and e.problem and "device gone" in e.message for e in events)


def test_a_silent_camera_sends_the_avatar_at_rest_to_the_call():
    """No camera frame for a second: the virtual camera gets the portrait at rest, about ten times a second,
    not a frozen face or nothing; none of it counts as a rendered frame."""
    from core.live.builder import prepare_avatar
    from core.live.capture import CaptureSettings

    avatar, compositor = prepare_avatar(ASTRONAUT, 256)
    FakeCamera.instances.clear()
    call = VirtualCameraSink(size=compositor.size, camera_factory=FakeCamera)
    source = FrameSource(9, settings=CaptureSettings(retry_first_s=0.2, retry_max_s=0.2))  # never opens
    pipeline = LivePipeline(source, SlowEngine(0.0), avatar, [call], PipelineSettings(align=False),
                            compositor=compositor).start()
    time.sleep(0.8)
    assert FakeCamera.instances[-1].frames == []  # under a second: the camera may still be starting
    time.sleep(1.7)
    pipeline.stop()
    sent = FakeCamera.instances[-1].frames
    assert 8 <= len(sent) <= 20
    assert np.array_equal(sent[-1], compositor.compose(avatar, blend=True))
    assert pipeline.stats.frames_out == 0


def test_the_pipeline_gives_free_memory_back_every_few_seconds(monkeypatch, camera_video, avatar_256):
    import sys

    from core.live import memory, pipeline as live

    trims = []
    monkeypatch.setattr(live, "release_free_memory", lambda: trims.append(time.monotonic()))
    monkeypatch.setattr(live, "TRIM_SECONDS", 0.5)
    frames, sink = _collect()
    running = LivePipeline(FrameSource(camera_video), MeshEngine(), avatar_256, [sink]).start()
    running.wait(timeout=15)  # three seconds of camera
    running.stop()
    assert 3 <= len(trims) <= 6 and min(b - a for a, b in zip(trims, trims[1:])) >= 0.5
    if sys.platform.startswith("linux"):
        assert memory._GLIBC is not None  # glibc's, found and callable
        memory.release_free_memory()



class _WatchedSink:
    """A sink whose write takes a while, that notes a close during a write or a write after its close."""

    name = "watched"

    def __init__(self):
        self.writes, self.writing, self.closed, self.overlaps = 0, False, False, []

    def write(self, frame) -> None:
        if self.closed:
            self.overlaps.append("write after close")
        self.writing = True
        time.sleep(0.02)  # most of a 30 fps frame's time: a close at any moment likely lands in a write
        self.writing = False
        self.writes += 1

    def close(self) -> None:
        if self.writing:
            self.overlaps.append("close during a write")
        self.closed = True


def test_a_sink_is_closed_only_once_no_write_to_it_is_under_way(camera_video, avatar_256):
    """Turning an output off closes it while the engine's thread goes on writing to the others (NDI's sender,
    destroyed during a send, hung the window for good)."""
    frames, sink = _collect()
    running = LivePipeline(FrameSource(camera_video), MeshEngine(), avatar_256, [sink]).start()
    try:
        assert _wait_for(lambda: len(frames) > 2, 15)
        watched = []
        for _ in range(15):
            watched.append(_WatchedSink())
            running.add_sink(watched[-1])
            assert _wait_for(lambda: watched[-1].writes > 0, 5)
            time.sleep(0.007 * len(watched) % 0.03)  # a different moment of the frame each time
            running.remove_sink(watched[-1])
    finally:
        running.stop()
    assert [s.overlaps for s in watched if s.overlaps] == []


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    return condition()

_HEAPS = '''
import ctypes, sys, threading
if sys.argv[1] == "shared":
    import core.live.memory
started = threading.Barrier(8)
def allocate():
    kept = [ctypes.create_string_buffer(200_000) for _ in range(5)]
    started.wait()  # all eight hold memory at once
threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads: thread.start()
for thread in threads: thread.join()
ctypes.CDLL("libc.so.6").malloc_stats()  # one "Arena N:" paragraph a heap, on stderr
'''


def test_threads_share_two_heaps_once_the_pipeline_is_loaded():
    """glibc gives each thread that allocates a heap of its own, which it fragments; loading the pipeline
    (core.live.memory) makes the threads share two."""
    from core.live import memory

    if memory._GLIBC is None:
        pytest.skip("not glibc: its heaps (arenas) are what this is about")

    def heaps(mode: str) -> int:
        run = subprocess.run([sys.executable, "-c", _HEAPS, mode], cwd=ROOT, capture_output=True, text=True,
                             timeout=60, check=True)
        return sum(line.startswith("Arena ") for line in run.stderr.splitlines())

    assert heaps("default") > memory.HEAP_ARENAS + 4  # eight threads, eight heaps besides the main one
    assert heaps("shared") == memory.HEAP_ARENAS
