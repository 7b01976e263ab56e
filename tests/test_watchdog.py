"""The live picture's watchdog and rates: a stuck stage is named, counters that only grow become rates."""

import threading

import numpy as np

from core.live.capture import FrameSource
from core.live.events import Stage
from core.live.pipeline import STALL_SECONDS, LivePipeline, PipelineSettings
from core.live.sinks import CallbackSink
from fakes import SlowEngine


class _StuckEngine(SlowEngine):
    """Renders the first frames, then blocks until released (a hung driver, a deadlock)."""

    def __init__(self, after: int):
        super().__init__(0.0)
        self.after, self.frames, self.release = after, 0, threading.Event()

    def animate(self, frame):
        self.frames += 1
        if self.frames > self.after:
            self.release.wait(10)
        return super().animate(frame)


class _StuckSink:
    name = "stuck output"

    def __init__(self, after: int):
        self.after, self.frames, self.release = after, 0, threading.Event()

    def write(self, frame):
        self.frames += 1
        if self.frames > self.after:
            self.release.wait(10)

    def close(self):
        self.release.set()


def _wait_for_stall(pipeline, timeout=8.0):
    event = threading.Event()
    for _ in range(int(timeout / 0.1)):
        stall = pipeline.stall()
        if stall is not None:
            return stall
        event.wait(0.1)
    return None


def test_a_stuck_engine_is_named_while_the_camera_still_sends(camera_video, avatar_256):
    engine = _StuckEngine(after=5)
    pipeline = LivePipeline(FrameSource(camera_video, loop=True), engine, avatar_256, [],
                            PipelineSettings(align=False)).start()
    try:
        assert pipeline.wait(max_frames=5, timeout=10)
        assert pipeline.stall() is None  # flowing
        stall = _wait_for_stall(pipeline)
        assert stall is not None and stall.stage == Stage.ENGINE and stall.seconds >= STALL_SECONDS
        assert "engine is stuck" in stall.describe()
        assert pipeline.summary()["fps_out"] < 5  # falling (30 while flowing), not the last good figure
        engine.release.set()
        assert pipeline.wait(max_frames=engine.frames + 10, timeout=10)
        assert pipeline.stall() is None  # recovered
    finally:
        engine.release.set()
        pipeline.stop()


def test_a_stuck_output_is_named(camera_video, avatar_256):
    sink = _StuckSink(after=5)
    pipeline = LivePipeline(FrameSource(camera_video, loop=True), SlowEngine(0.0), avatar_256, [sink],
                            PipelineSettings(align=False)).start()
    try:
        stall = _wait_for_stall(pipeline)
        assert stall is not None and stall.stage == Stage.OUTPUT and stall.detail == "stuck output"
        assert "stuck output is stuck" in stall.describe()
    finally:
        pipeline.stop()


def test_a_silent_camera_is_not_a_stall(tmp_path, avatar_256, camera_video):
    pipeline = LivePipeline(FrameSource(camera_video), SlowEngine(0.0), avatar_256, [],
                            PipelineSettings(align=False)).start()
    pipeline.wait(timeout=10)  # the 3 s video ended: the source reports that itself
    threading.Event().wait(STALL_SECONDS + 0.5)
    assert pipeline.stall() is None
    pipeline.stop()


def test_dropped_frames_are_a_recent_rate(camera_video, avatar_256):
    frames = []
    pipeline = LivePipeline(FrameSource(camera_video), SlowEngine(0.1), avatar_256, [CallbackSink(frames.append)],
                            PipelineSettings(align=False)).start()
    pipeline.wait(timeout=10)
    summary = pipeline.summary()
    pipeline.stop()
    # A 10 fps engine on a 30 fps camera drops about 20 frames a second, however long it has run.
    assert 10 < summary["dropped_per_s"] < 30
    assert summary["frames_dropped"] > summary["dropped_per_s"]
