"""Outputs survive every way a run can end: signals, full disks, two writers, outputs that are inputs."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import ASTRONAUT, ROOT, frames_in
from core.errors import UserError
from core.live.capture import FrameSource
from core.live.pipeline import LivePipeline, PipelineSettings
from core.live.sinks import RecorderSink
from core.media import subprocesses
from core.media.video_io import Mp4Writer, PngFolderWriter
from fakes import SlowEngine
from main import main


def _duration_s(path: Path) -> float:
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return frames_in(path) / fps


def test_the_encoder_is_started_without_python_code_in_the_child(monkeypatch, tmp_path):
    """A preexec_fn forces fork() and runs the BLAS libraries' fork handlers while engine threads compute:
    the freeze seen on Record. The encoder must start with vfork (no preexec_fn) in its own process group."""
    import imageio_ffmpeg

    imageio_ffmpeg.get_ffmpeg_exe()  # it checks the binary once with its own Popen: not the encoder's
    seen = []
    real = subprocesses.subprocess.Popen
    monkeypatch.setattr(subprocesses.subprocess, "Popen", lambda *a, **k: seen.append(k) or real(*a, **k))
    writer = Mp4Writer(tmp_path / "a.mp4", 25, (64, 64))
    writer.write(np.zeros((64, 64, 3), np.uint8))
    writer.close()
    assert seen and all(k.get("preexec_fn") is None for k in seen)
    if sys.platform != "win32":
        assert all(k.get("process_group") == 0 for k in seen)  # its own group: Ctrl+C does not reach it
    assert frames_in(tmp_path / "a.mp4") == 1


def test_recording_dozens_of_times_while_live_never_freezes(tmp_path, camera_video, avatar_256):
    pipeline = LivePipeline(FrameSource(camera_video, loop=True), SlowEngine(0.0), avatar_256, [],
                            PipelineSettings(align=False)).start()
    paths = []
    try:
        for i in range(24):
            recorder = RecorderSink(tmp_path / f"take{i}.mp4", 30, (256, 256))
            pipeline.add_sink(recorder)
            out_before = pipeline.stats.frames_out
            assert pipeline.wait(max_frames=out_before + 2, timeout=10)  # the avatar is still live
            pipeline.remove_sink(recorder)
            paths.append(recorder.path)
    finally:
        pipeline.stop()
    assert all(frames_in(p) >= 1 for p in paths)


def test_a_recording_lasts_as_long_as_the_moment_it_recorded(tmp_path, camera_video, avatar_256):
    """An engine at 8 fps behind a 30 fps camera: the video still plays at real speed."""
    recorder = RecorderSink(tmp_path / "slow.mp4", 30, (256, 256))
    pipeline = LivePipeline(FrameSource(camera_video), SlowEngine(0.12), avatar_256, [recorder],
                            PipelineSettings(align=False)).start()
    pipeline.wait(timeout=10)
    pipeline.stop()
    assert pipeline.stats.frames_out >= 10
    recorded = _duration_s(recorder.path)
    assert 2.3 < recorded < 3.4  # the 3 s clip, not 10 frames at 30 fps (0.3 s)


def test_two_writers_to_the_same_name_keep_both_videos(tmp_path):
    a, b = Mp4Writer(tmp_path / "x.mp4", 25, (64, 64)), Mp4Writer(tmp_path / "x.mp4", 25, (64, 64))
    for _ in range(3):
        a.write(np.zeros((64, 64, 3), np.uint8))
    b.write(np.full((64, 64, 3), 255, np.uint8))
    a.close()
    b.close()
    assert {p.name for p in tmp_path.iterdir()} == {"x.mp4", "x (2).mp4"}
    assert sorted(frames_in(p) for p in tmp_path.iterdir()) == [1, 3]


def test_an_output_folder_never_mixes_two_runs_and_a_stopped_run_leaves_none(tmp_path):
    out = tmp_path / "frames"
    writer = PngFolderWriter(out)
    for _ in range(5):
        writer.write(np.zeros((8, 8, 3), np.uint8))
    writer.close()
    writer = PngFolderWriter(out)
    for _ in range(2):
        writer.write(np.zeros((8, 8, 3), np.uint8))
    writer.close()
    assert sorted(p.name for p in out.iterdir()) == ["000000.png", "000001.png"]
    stopped = PngFolderWriter(tmp_path / "stopped")
    stopped.write(np.zeros((8, 8, 3), np.uint8))
    stopped.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]


def test_a_folder_holding_other_files_is_refused_as_frame_output(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="holds other files"):
        PngFolderWriter(tmp_path)


@pytest.mark.parametrize("flag", ["--out", "--record"])
def test_an_output_that_is_an_input_is_refused_before_any_work(capsys, tmp_path, driving_clip, flag):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(driving_clip.read_bytes())
    before = clip.read_bytes()
    if flag == "--out":
        argv = ["animate", "--avatar", ASTRONAUT, "--driving", clip, "--out", clip, "--no-align"]
    else:
        argv = ["run", "--camera", clip, "--avatar", ASTRONAUT, "--record", clip, "--no-align"]
    assert main([str(a) for a in argv]) == 2
    assert "is also an input" in capsys.readouterr().err
    assert clip.read_bytes() == before


def test_outputs_are_checked_before_the_run(capsys, tmp_path, camera_video):
    (tmp_path / "x.mp4").mkdir()
    base = ["run", "--camera", camera_video, "--avatar", ASTRONAUT, "--no-align", "--max-frames", "1"]
    assert main([str(a) for a in base + ["--record", tmp_path / "x.mp4"]]) == 2
    assert "x.mp4: is a folder" in capsys.readouterr().err
    assert main([str(a) for a in base + ["--stats-json", tmp_path / "missing" / "s.json"]]) == 2
    assert "does not exist" in capsys.readouterr().err
    long_name = tmp_path / ("n" * 248 + ".mp4")  # valid: 252 characters
    assert main([str(a) for a in base + ["--record", long_name]]) == 0
    assert frames_in(long_name) >= 1 and sorted(p.name for p in tmp_path.iterdir()) == sorted(["x.mp4", long_name.name])


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("signals", [(signal.SIGINT, signal.SIGINT), (signal.SIGTERM,), (signal.SIGHUP,)],
                         ids=["double-ctrl-c", "sigterm", "sighup"])
def test_a_recording_survives_the_ways_a_run_is_stopped(tmp_path, camera_video, signals):
    out = tmp_path / "rec.mp4"
    process = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "run", "--camera", str(camera_video),
                                "--loop", "--avatar", str(ASTRONAUT), "--no-align", "--record", str(out)],
                               cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out.exists() and out.stat().st_size > 2000):  # a recording is written in place, fragment by fragment
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.1)
    time.sleep(1.0)
    for number in signals:
        process.send_signal(number)
        time.sleep(0.01)
    process.communicate(timeout=30)
    assert process.returncode in (130, 0)
    assert frames_in(out) >= 20  # more than a second of video, playable
    assert [p.name for p in tmp_path.iterdir()] == ["rec.mp4"]  # nothing hidden left behind
