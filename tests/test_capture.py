"""Frame sources: a video file stands in for the camera, at its own rate, newest frame only."""

import time

import pytest

from core.live.capture import CaptureSettings, FrameSource, parse_source
from core.live.events import EventKind, SourceState
from core.errors import UserError


def test_source_kinds_are_told_apart(tmp_path, camera_video):
    assert parse_source("0") == 0 and parse_source(3) == 3
    assert parse_source("rtsp://cam.local/stream") == "rtsp://cam.local/stream"
    assert parse_source(str(camera_video)) == camera_video
    with pytest.raises(UserError, match="no such file"):
        parse_source(tmp_path / "nope.mp4")


def test_a_camera_index_that_does_not_exist_is_a_clear_error():
    with pytest.raises(UserError, match="camera 9: cannot be opened"):
        FrameSource(9).check()


def test_video_file_plays_at_its_own_rate_and_ends(camera_video):
    source = FrameSource(camera_video).start()
    first = source.frames.take(timeout=2)
    start = time.monotonic()
    while not source.ended:
        time.sleep(0.05)
    elapsed = time.monotonic() - start
    source.stop()
    assert first.rgb.shape == (360, 640, 3) and first.index == 0
    assert source.frames_captured == 90
    assert elapsed > 2.5  # 89 more frames at 30 fps: paced like a camera, never a burst
    assert source.state == SourceState.ENDED


def test_only_the_newest_frame_is_kept_for_a_slow_reader(camera_video):
    source = FrameSource(camera_video).start()
    time.sleep(0.5)
    frame = source.frames.take(timeout=1)
    assert frame.index >= 10  # the reader gets the latest, not the first of a backlog
    assert source.frames.dropped >= 9
    stamps = []
    for _ in range(3):
        f = source.frames.take(timeout=1)
        stamps.append(f.timestamp)
    source.stop()
    assert stamps == sorted(stamps)


def test_looping_file_keeps_playing(camera_video):
    source = FrameSource(camera_video, loop=True, settings=CaptureSettings()).start()
    deadline = time.monotonic() + 8
    while source.frames_captured <= 100 and time.monotonic() < deadline:
        time.sleep(0.1)
    source.stop()
    assert source.frames_captured > 100 and source.state != SourceState.ENDED


def test_a_looping_one_frame_video_holds_its_picture(tmp_path, astronaut):
    from core.media.video_io import Mp4Writer

    path = tmp_path / "one.mp4"
    writer = Mp4Writer(path, 25, (256, 256))
    writer.write(astronaut[:256, :256])
    writer.close()
    source = FrameSource(path, loop=True).start()
    time.sleep(1.0)
    source.stop()
    assert source.frames_captured >= 20  # at the file's 25 fps, not one frame and an end
    assert source.state == SourceState.STOPPED


def test_a_stream_that_never_sends_is_given_up_in_bounded_time(silent_stream):
    url, accepted = silent_stream
    started = time.monotonic()
    with pytest.raises(UserError, match=r"live.mjpg: no picture within 1 s; check the address"):
        FrameSource(url, settings=CaptureSettings(stream_timeout_s=1)).check()
    assert accepted.is_set() and time.monotonic() - started < 3


def test_a_stream_that_cannot_be_opened_reports_and_retries(tmp_path):
    events = []
    source = FrameSource("http://127.0.0.1:9/none.mjpg", on_event=events.append,
                         settings=CaptureSettings(retry_first_s=0.05, retry_max_s=0.1)).start()
    time.sleep(1.0)
    source.stop()
    assert events[0].kind == EventKind.SOURCE and events[0].problem  # retrying, shown to the user
    assert not events[-1].problem
    assert source.state == SourceState.STOPPED
