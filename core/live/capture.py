"""Frame sources: a camera, a video file played like a camera, or a stream URL, each on its own thread."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from core.errors import UserError
from core.frames import CapturedFrame
from core.live.events import Event, EventKind, SourceState
from core.live.latest import Latest
from core.media.images import IMAGE_SUFFIXES
from core.media.video_io import honour_rotation


@dataclass(frozen=True)
class CaptureSettings:
    """What a camera is asked for (it may give less), and how lost cameras are retried."""

    width: int = 1280
    height: int = 720
    fps: float = 30.0
    retry_first_s: float = 0.5
    retry_max_s: float = 8.0
    failed_reads_before_reconnect: int = 15
    stream_timeout_s: float = 10.0  # a stream URL that sends nothing for this long is given up (OpenCV's is 30 s)


def parse_source(spec: str | int | Path) -> int | str | Path:
    """A camera index, a stream URL or a video file; a missing file is the user's error."""
    text = str(spec)
    if text.isdigit():
        return int(text)
    if "://" in text:
        return text
    path = Path(text).expanduser()
    if not path.is_file():
        raise UserError(f"{path}: camera index, stream URL or video file expected; no such file")
    if path.suffix.lower() in IMAGE_SUFFIXES:  # a still picture would "play" one frame and end
        raise UserError(f"{path}: a still image, not a camera or a video",
                        "a portrait to animate goes to --avatar; drive it with a camera index or a video file")
    return path


class FrameSource:
    """Reads frames on a thread and keeps only the newest (``frames``). ``state`` says what it is doing;
    each change is reported to ``on_event`` with a message for the user.

    A video file plays at its own frame rate, as a camera would, and loops if asked. A camera that fails
    or stops giving frames is reopened with growing pauses, forever, until ``stop``.
    """

    def __init__(self, spec: str | int | Path, loop: bool = False, settings: CaptureSettings = CaptureSettings(),
                 on_event: Callable[[Event], None] | None = None, paced: bool = True):
        self.source = parse_source(spec)
        self.is_file = isinstance(self.source, Path)
        self.loop = loop
        self.paced = paced  # False: a file is read as fast as the pipeline takes frames (soak and stress runs)
        self.settings = settings
        self.frames: Latest[CapturedFrame] = Latest()
        self.frames_captured = 0
        self.last_frame_at: float | None = None  # monotonic time of the newest frame
        self.fps = settings.fps
        self.state = SourceState.STARTING
        self._on_event = on_event
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)

    @property
    def name(self) -> str:
        return f"camera {self.source}" if isinstance(self.source, int) else str(self.source)

    def check(self) -> None:
        """Open the source once, now: a camera index that does not exist, or a stream that sends nothing, is a
        clear error before any thread. The open runs on a helper thread so that Ctrl+C is honoured at once."""
        probe = _Probe(self._open)
        started = time.monotonic()
        probe.start()
        probe.join(2 * self.settings.stream_timeout_s + 1)  # bounded even where a backend ignores its timeout
        silent = time.monotonic() - started >= self.settings.stream_timeout_s
        if probe.is_alive() or (isinstance(self.source, str) and not probe.opened and silent):
            raise UserError(f"{self.name}: no picture within {self.settings.stream_timeout_s:.0f} s",
                            "check the address, and that the stream is running")
        if not probe.opened:
            raise UserError(f"{self.name}: cannot be opened ({_camera_hint(self.source)})")
        if not probe.gave_frame:
            raise UserError(f"{self.name}: opened but gives no frames")

    def start(self) -> "FrameSource":
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        self.frames.close()

    @property
    def running(self) -> bool:
        """Whether the reading thread is alive."""
        return self._thread.is_alive()

    @property
    def ended(self) -> bool:
        """A video file that is not looping has played to its end."""
        return self.frames.closed

    def _set_state(self, state: SourceState, message: str) -> None:
        if state != self.state:
            self.state = state
            if self._on_event:
                self._on_event(Event(EventKind.SOURCE, message, problem=state.is_problem, state=state))

    def _open(self) -> cv2.VideoCapture | None:
        if isinstance(self.source, int) and sys.platform == "win32":
            capture = cv2.VideoCapture(self.source, cv2.CAP_DSHOW)  # MSMF opens cameras slowly
        elif isinstance(self.source, str):  # a stream URL: bounded opens and reads, never OpenCV's 30 s
            timeout_ms = int(self.settings.stream_timeout_s * 1000)
            capture = cv2.VideoCapture(self.source, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms,
                                                                     cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms])
        else:
            capture = cv2.VideoCapture(str(self.source) if isinstance(self.source, Path) else self.source)
        if not capture.isOpened():
            capture.release()
            return None
        if not isinstance(self.source, int):  # a file or a stream may carry a rotation tag; a camera does not
            honour_rotation(capture)
        if not self.is_file:
            s = self.settings
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, s.width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, s.height)
            capture.set(cv2.CAP_PROP_FPS, s.fps)
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # a driver-side queue would add latency
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 1 <= fps <= 240 else self.settings.fps
        return capture

    def _run(self) -> None:
        pause = self.settings.retry_first_s
        try:
            while not self._stop.is_set():
                capture = self._open()
                if capture is None:
                    self._set_state(SourceState.RETRYING, f"{self.name} unavailable, retrying in {pause:.0f} s")
                    self._stop.wait(pause)
                    pause = min(pause * 2, self.settings.retry_max_s)
                    continue
                self._set_state(SourceState.LIVE, f"{self.name} live")
                pause = self.settings.retry_first_s
                finished = self._read_file(capture) if self.is_file else self._read_live(capture)
                capture.release()
                if finished:
                    if not self._stop.is_set():
                        self._set_state(SourceState.ENDED, f"{self.name} ended")
                    return
                if not self._stop.is_set():
                    self._set_state(SourceState.RECONNECTING, f"{self.name} stopped giving frames, reconnecting")
        finally:
            if self._stop.is_set():
                self._set_state(SourceState.STOPPED, f"{self.name} stopped")
            self.frames.close()

    def _emit(self, bgr: np.ndarray, timestamp: float) -> None:
        self.frames.put(CapturedFrame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), timestamp, self.frames_captured))
        self.frames_captured += 1
        self.last_frame_at = timestamp

    def _read_live(self, capture: cv2.VideoCapture) -> bool:
        failures = 0
        while not self._stop.is_set():
            ok, bgr = capture.read()
            if ok:
                failures = 0
                self._emit(bgr, time.monotonic())
                continue
            failures += 1
            if failures >= self.settings.failed_reads_before_reconnect:
                return False
            self._stop.wait(0.02)
        return False

    def _read_file(self, capture: cv2.VideoCapture) -> bool:
        """Play at the file's own rate; True when it has ended (not looping) or stop was asked."""
        period = 1.0 / self.fps
        due = time.monotonic()
        last = None
        while not self._stop.is_set():
            ok, bgr = capture.read()
            if not ok and self.loop and last is not None:
                if capture.set(cv2.CAP_PROP_POS_FRAMES, 0):
                    ok, bgr = capture.read()
                if not ok:  # a one-frame video (or one that cannot seek) loops as its last picture, held
                    ok, bgr = True, last
            if not ok:
                return True
            last = bgr
            if not self.paced:
                # Decode the next frame only once this one is taken: full speed for the pipeline, with no
                # CPU spent decoding frames that would only be dropped.
                while not self.frames.wait_taken(0.1) and not self._stop.is_set():
                    pass
                self._emit(bgr, time.monotonic())
                continue
            wait = due - time.monotonic()
            if wait > 0:
                self._stop.wait(wait)
            due = max(due + period, time.monotonic() - period)  # a late frame does not start a burst
            self._emit(bgr, time.monotonic())
        return True


class _Probe(threading.Thread):
    """Opens a source and reads one frame, on a thread of its own."""

    def __init__(self, open_capture: Callable[[], cv2.VideoCapture | None]):
        super().__init__(name="camera check", daemon=True)
        self._open_capture = open_capture
        self.opened = self.gave_frame = False

    def run(self) -> None:
        capture = self._open_capture()
        if capture is not None:
            self.opened = True
            self.gave_frame = capture.read()[0]
            capture.release()


def _camera_hint(source) -> str:
    if not isinstance(source, int):
        return "not a readable video or stream"
    found = list_cameras()
    return f"cameras found: {', '.join(map(str, found))}" if found else "no camera found on this machine"


def list_cameras(max_index: int = 8) -> list[int]:
    """Indices of the cameras OpenCV can open (probing stops after two missing in a row)."""
    found, missing = [], 0
    for index in range(max_index):
        capture = cv2.VideoCapture(index, cv2.CAP_DSHOW) if sys.platform == "win32" else cv2.VideoCapture(index)
        if capture.isOpened():
            found.append(index)
            missing = 0
        else:
            missing += 1
        capture.release()
        if missing >= 2:
            break
    return found
