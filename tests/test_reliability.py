"""Bad input, faults during a run, and the security promises: nothing crashes and nothing is lost."""

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import ASTRONAUT, ROOT
from core.live.capture import CaptureSettings, FrameSource
from core.live.events import EventKind, SourceState
from core.frames import DrivingFace
from core.engines.factory import cpu_fallback
from core.live.pipeline import LivePipeline, PipelineSettings
from core.live.sinks import CallbackSink, RecorderSink
from main import main
from fakes import FakeCamera, SlowEngine


def _cli(capsys, *argv):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize("name, content, expected", [
    ("notes.png", b"not an image", "not an image OpenCV can read (PNG, JPEG, WebP or BMP)"),
    ("zero.jpg", b"", "image file is empty"),
])
def test_bad_avatar_files(capsys, tmp_path, driving_clip, name, content, expected):
    avatar = tmp_path / name
    avatar.write_bytes(content)
    code, err = _cli(capsys, "animate", "--avatar", avatar, "--driving", driving_clip, "--out", tmp_path / "o.mp4")
    assert code == 2 and err == f"error: {avatar}: {expected}"


def test_bad_driving_videos(capsys, tmp_path):
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(os.urandom(5000))
    code, err = _cli(capsys, "animate", "--avatar", ASTRONAUT, "--driving", noise, "--out", tmp_path / "o.mp4")
    assert code == 2 and err.startswith(f"error: {noise}: ") and ("not a video" in err or "no frames" in err)
    empty = tmp_path / "empty"
    empty.mkdir()
    code, err = _cli(capsys, "animate", "--avatar", ASTRONAUT, "--driving", empty, "--out", tmp_path / "o.mp4")
    assert code == 2 and err == f"error: {empty}: folder holds no frames (.png, .jpg, .jpeg, .webp, .bmp)"
    zero = tmp_path / "zero.mp4"
    zero.write_bytes(b"")
    code, err = _cli(capsys, "animate", "--avatar", ASTRONAUT, "--driving", zero, "--out", tmp_path / "o.mp4")
    assert code == 2 and err == f"error: {zero}: video file is empty"


def test_unwritable_outputs_leave_nothing_behind(capsys, tmp_path, driving_clip):
    missing = tmp_path / "no" / "such" / "o.mp4"
    code, err = _cli(capsys, "animate", "--avatar", ASTRONAUT, "--driving", driving_clip, "--out", missing)
    assert code == 2 and "does not exist" in err
    if sys.platform.startswith("linux"):
        code, err = _cli(capsys, "animate", "--avatar", ASTRONAUT, "--driving", driving_clip, "--out",
                         "/proc/facade.mp4", "--no-align")
        assert code == 2 and err.startswith("error: /proc/facade.mp4: ")


def _full_disk(monkeypatch):
    """ffmpeg, for real, writing its video to /dev/full: every write fails with ENOSPC, as on a full disk."""
    from core.media import video_io

    real = video_io.spawn
    monkeypatch.setattr(video_io, "spawn", lambda args: real(args[:-1] + ["/dev/full"]))


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_disk_filling_up_during_animate_is_one_error_and_keeps_the_old_file(capsys, tmp_path, driving_clip,
                                                                            monkeypatch):
    _full_disk(monkeypatch)
    out = tmp_path / "o.mp4"
    out.write_bytes(b"an earlier, good video")
    code, err = _cli(capsys, "animate", "--avatar", ASTRONAUT, "--driving", driving_clip, "--out", out, "--no-align")
    assert code == 2 and err.startswith(f"error: {out}: ") and "No space left on device" in err
    assert "\n" not in err  # one line
    assert out.read_bytes() == b"an earlier, good video" and list(tmp_path.iterdir()) == [out]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_disk_filling_up_while_recording_stops_the_recorder_only(tmp_path, camera_video, avatar_256, monkeypatch):
    _full_disk(monkeypatch)
    frames, events = [], []
    recorder = RecorderSink(tmp_path / "rec.mp4", 30, (256, 256))

    pipeline = LivePipeline(FrameSource(camera_video), SlowEngine(0.0), avatar_256,
                            [recorder, CallbackSink(frames.append)], PipelineSettings(align=False),
                            on_event=events.append).start()
    pipeline.wait(max_frames=20, timeout=10)
    pipeline.stop()
    assert len(frames) >= 20
    assert any(e.kind == EventKind.SINK and e.problem and "No space left" in e.message for e in events)
    assert not any(tmp_path.iterdir())  # the partial file was removed


class _UnpluggedCamera:
    """cv2.VideoCapture for a camera that gives 10 frames, then nothing, and works again once reopened."""

    opens = 0

    def __init__(self, *args):
        type(self).opens += 1
        self.reads = 0
        self.unplugged = type(self).opens == 1

    def isOpened(self):
        return True

    def set(self, *args):
        return True

    def get(self, prop):
        return 30.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def read(self):
        self.reads += 1
        time.sleep(0.005)
        if self.unplugged and self.reads > 10:
            return False, None
        return True, np.full((72, 128, 3), 100, np.uint8)

    def release(self):
        pass


def test_camera_unplugged_mid_stream_reconnects_and_resumes(monkeypatch):
    monkeypatch.setattr("core.live.capture.cv2.VideoCapture", _UnpluggedCamera)
    states = []
    source = FrameSource(0, settings=CaptureSettings(retry_first_s=0.05, failed_reads_before_reconnect=5),
                         on_event=lambda event: states.append(source.state))
    source.start()
    deadline = time.monotonic() + 5
    while source.frames_captured < 30 and time.monotonic() < deadline:
        time.sleep(0.02)
    source.stop()
    assert SourceState.RECONNECTING in states
    assert states[-2:] == [SourceState.LIVE, SourceState.STOPPED] or states[-1] == SourceState.LIVE
    assert source.frames_captured >= 30 and _UnpluggedCamera.opens >= 2


def test_cuda_out_of_memory_falls_back_to_the_mesh_engine(camera_video, avatar_256):
    class CudaEngine:
        name, device, resolution, pinned_border = "fomm", "cuda:0", 256, False

        def set_avatar(self, rgb):
            pass

        def calibrate(self, frame):
            pass

        def close(self):
            pass

        def animate(self, frame: DrivingFace):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    frames, events = [], []
    pipeline = LivePipeline(FrameSource(camera_video), CudaEngine(), avatar_256, [CallbackSink(frames.append)],
                            on_event=events.append,
                            fallback=cpu_fallback).start()
    pipeline.wait(max_frames=40, timeout=20)
    pipeline.stop()
    assert pipeline.engine.name == "mesh" and pipeline.engine.device == "cpu"
    assert any(e.kind == EventKind.ENGINE and "switched to mesh on cpu" in e.message for e in events)
    assert pipeline.summary()["engine"] == "mesh"
    assert any(f.face_found for f in frames[-5:])


def test_errors_that_are_not_cuda_do_not_switch_engines():
    class Cpu:
        device = "cpu"

    assert cpu_fallback(Cpu(), RuntimeError("CUDA error")) is None

    class Gpu:
        device = "cuda:0"

    assert cpu_fallback(Gpu(), ValueError("bad frame")) is None
    assert cpu_fallback(Gpu(), RuntimeError("CUDA error: an illegal memory access")).name == "mesh"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_while_recording_finalises_a_playable_mp4(tmp_path, camera_video, sig):
    record = tmp_path / "rec.mp4"
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "run", "--camera", str(camera_video), "--loop",
                             "--avatar", str(ASTRONAUT), "--record", str(record)],
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    for line in proc.stderr:
        if "calibrated" in line:
            break
    time.sleep(1.0)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    capture = cv2.VideoCapture(str(record))
    count = 0
    while capture.read()[0]:
        count += 1
    assert count >= 10
    assert not list(tmp_path.glob(".*partial*"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_no_network_listener_while_running(camera_video, avatar_256):

    pipeline = LivePipeline(FrameSource(camera_video), SlowEngine(0.0), avatar_256, [],
                            PipelineSettings(align=False)).start()
    pipeline.wait(max_frames=10, timeout=10)
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp", "/proc/net/udp6"):
        if os.path.exists(table):
            for row in open(table).read().splitlines()[1:]:
                fields = row.split()
                if fields[9] in inodes and (fields[3] == "0A" or "udp" in table):
                    listening.append((table, fields[1]))
    pipeline.stop()
    assert listening == []


def test_a_12000_pixel_avatar_is_shrunk_on_load_not_kept_at_400_mb(tmp_path):
    from core.media.images import read_image

    huge = np.full((12000, 12000, 3), 180, np.uint8)
    huge[4000:8000, 4000:8000] = 60
    path = tmp_path / "huge.jpg"
    cv2.imwrite(str(path), huge, [cv2.IMWRITE_JPEG_QUALITY, 50])
    del huge
    image = read_image(path)
    assert image.shape == (2048, 2048, 3)
    assert abs(int(image[1024, 1024, 0]) - 60) < 10 and abs(int(image[10, 10, 0]) - 180) < 10
