"""Where rendered frames go: the virtual camera, a recording, a preview callback."""

from __future__ import annotations

import logging
import queue
import sys
import threading
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from core.compose.canvas import CALL_SIZE, compose_canvas, fit_to
from core.errors import UserError
from core.frames import OutputFrame
from core.media.video_io import Mp4Writer, open_clip

log = logging.getLogger(__name__)

_BACKLOG_SECONDS = 2.0  # frames held for a busy encoder before they are left to be filled by repeats


class Sink(Protocol):
    name: str

    def write(self, frame: OutputFrame) -> None: ...

    def close(self) -> None: ...


class VirtualCameraUnavailable(UserError):
    """No virtual camera device; the message says how to install one on this system."""


LOAD_V4L2LOOPBACK = "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=Facade"


def virtual_camera_help(platform: str = sys.platform) -> str:
    """What to install for a virtual camera on ``platform``."""
    if platform.startswith("linux"):
        return f"install v4l2loopback and load it: sudo apt install v4l2loopback-dkms && {LOAD_V4L2LOOPBACK}"
    if platform == "darwin":
        return "install OBS Studio (28 or newer), start its Virtual Camera once, then restart Facade"
    return "install OBS Studio (28 or newer), which provides OBS Virtual Camera, then restart Facade"


class VirtualCameraSink:
    """Frames to a virtual camera through pyvirtualcam, as an RGB canvas with the avatar framed in it."""

    name = "virtual camera"

    def __init__(self, device: str | None = None, size: tuple[int, int] = CALL_SIZE, fps: float = 30.0,
                 mirror: bool = False, camera_factory: Callable | None = None):
        import pyvirtualcam

        self.camera_factory = camera_factory
        factory = camera_factory or pyvirtualcam.Camera
        self.size, self.mirror = size, mirror
        try:
            self._camera = factory(width=size[0], height=size[1], fps=fps, fmt=pyvirtualcam.PixelFormat.RGB,
                                   device=device, print_fps=False)
        except (RuntimeError, ValueError, OSError) as exc:
            # pyvirtualcam's own text (with its own, different install hint) goes to the log, not to the user.
            log.info("pyvirtualcam could not open a camera: %s", exc)
            raise VirtualCameraUnavailable(f"No virtual camera{f' at {device}' if device else ''} to send to",
                                           f"{virtual_camera_help()} (README: The virtual camera)") from None
        self.device = self._camera.device

    def write(self, frame: OutputFrame) -> None:
        if frame.picture is None:
            picture = compose_canvas(frame.avatar, self.size)
        else:
            picture = fit_to(frame.picture, self.size)
        self._camera.send(np.ascontiguousarray(picture[:, ::-1]) if self.mirror else picture)

    def close(self) -> None:
        self._camera.close()


class RecorderSink:
    """The call picture to an H.264 mp4 that lasts as long as the moment it recorded.

    Frames are placed on a constant-rate timeline by their capture time: a frame the pipeline dropped is
    filled by repeating the one before, so the video plays at real speed whatever the engine managed.
    Encoding runs on a thread of its own: the live picture never waits for ffmpeg, and a frame that finds
    the encoder behind is left to be filled the same way. The file is a recording in ``Mp4Writer``'s sense:
    a name of its own (an earlier file is never replaced; ``path`` says which), playable even if the process
    is killed. A recording that fails keeps what was written under a name that says it is partial, and says
    so (``UserError``, also kept in ``error``) on the next write or on close.
    """

    name = "recorder"

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]):
        self._writer = Mp4Writer(path, fps, size, recording=True)
        self._fps = fps
        self._start: float | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=max(2, int(fps * _BACKLOG_SECONDS)))
        self.error: UserError | None = None
        self._closed = False
        self.seconds = 0.0  # how long the finished video plays, checked by reading it back
        self._thread = threading.Thread(target=self._encode, name="recorder", daemon=True)
        self._thread.start()

    @property
    def path(self) -> Path:
        """Where the recording is."""
        return self._writer.path

    @property
    def frames_written(self) -> int:
        return self._writer.frames_written

    def write(self, frame: OutputFrame) -> None:
        if self.error is not None:
            raise self.error
        if self._start is None:
            self._start = frame.captured_at
        slot = round((frame.captured_at - self._start) * self._fps)
        picture = frame.avatar if frame.picture is None else frame.picture
        try:
            self._queue.put_nowait((slot, picture))
        except queue.Full:
            pass

    def close(self) -> None:
        """Finish the file (waiting for the frames already handed over) and read it back: raises UserError
        unless a video that plays is in place, or no picture came at all (``frames_written`` 0, no file).
        Closing again (a sink the pipeline switched off after a failure) raises that failure again."""
        if not self._closed:
            self._closed = True
            try:
                self._finish()
            except UserError as exc:
                self.error = exc
        if self.error is not None:
            raise self.error

    def _finish(self) -> None:
        while self._thread.is_alive():
            try:
                self._queue.put(None, timeout=0.1)
                break
            except queue.Full:
                continue
        self._thread.join()
        if self.error is not None:
            raise self.error
        self._writer.close()
        if not self._writer.frames_written:
            return  # stopped before the first picture: no file, and nothing to say it was saved
        clip = open_clip(self.path)
        self.seconds = clip.frame_count / clip.fps

    def _encode(self) -> None:
        while (item := self._queue.get()) is not None:
            slot, picture = item
            try:
                while self._writer.frames_written <= slot:
                    self._writer.write(picture)
            except UserError as exc:
                self.error = exc
                return


class CallbackSink:
    """Hands each frame to a function: the GUI's preview, or a test."""

    def __init__(self, callback: Callable[[OutputFrame], None], name: str = "preview"):
        self.name = name
        self._callback = callback

    def write(self, frame: OutputFrame) -> None:
        self._callback(frame)

    def close(self) -> None:
        pass
