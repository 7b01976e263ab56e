"""The call picture as an NDI source, which OBS, vMix and other NDI software on the network pick up.

Optional: ndi-python (``requirements-ndi.txt``), which bundles the NDI runtime. NDI carries alpha, so a
transparent background arrives with the person alone; every other picture is sent opaque.
"""

from __future__ import annotations

import numpy as np

from core.errors import UserError
from core.frames import OutputFrame
from core.paths import APP_NAME

DEFAULT_SOURCE_NAME = APP_NAME
_MAX_NAME = 63  # NDI joins it to the host's name; receivers show a list, so it stays short
_INSTALL = ("python -m pip install -r requirements-ndi.txt (ndi-python, which bundles the NDI runtime; "
               "README: NDI output)")


class NdiUnavailable(UserError):
    """The NDI library or its runtime is missing; the advice says how to get it."""


def check_source_name(name: str) -> str:
    """``name`` as the NDI source's name (stripped); UserError saying what is wrong with it."""
    name = name.strip()
    if not name or len(name) > _MAX_NAME or not name.isprintable():
        raise UserError(f"NDI name {name!r}: must be 1 to {_MAX_NAME} printable characters")
    return name


def ndi_library():
    """ndi-python's NDIlib, initialised; NdiUnavailable saying how to get it when it cannot be."""
    try:
        import NDIlib
    except (ImportError, OSError):  # OSError: the wheel is there but its libndi.so does not load
        raise NdiUnavailable("NDI output needs the NDI library, which is not installed", _INSTALL) from None
    if not NDIlib.initialize():
        raise NdiUnavailable("the NDI runtime did not start" + ("" if NDIlib.is_supported_CPU()
                                                                 else ": this CPU lacks SSE4.2, which NDI needs"),
                             _INSTALL)
    return NDIlib


class NdiSink:
    """Frames to an NDI source named ``source_name`` (receivers list it as ``HOST (source_name)``): RGBA with
    the frame's alpha where it has one, else RGBX. ``library``: NDIlib's interface (a test may give its own)."""

    name = "NDI"

    def __init__(self, source_name: str = DEFAULT_SOURCE_NAME, fps: float = 30.0, library=None):
        self._ndi = ndi = library or ndi_library()
        create = ndi.SendCreate()
        create.ndi_name = check_source_name(source_name)
        create.clock_video = False  # the pipeline paces the frames; a clocked send would stall the engine thread
        self._sender = ndi.send_create(create)
        if self._sender is None:
            raise NdiUnavailable(f"NDI could not create the source {source_name!r}", "is the network up?")
        self.source = ndi.send_get_source_name(self._sender).ndi_name
        self._video = ndi.VideoFrameV2()
        self._video.frame_rate_N, self._video.frame_rate_D = round(fps * 1000), 1000
        self._in_flight: np.ndarray | None = None  # NDI reads a frame sent async until the next send

    def write(self, frame: OutputFrame) -> None:
        picture = frame.avatar if frame.picture is None else frame.picture
        rgba = np.empty((*picture.shape[:2], 4), np.uint8)
        rgba[..., :3] = picture
        rgba[..., 3] = 255 if frame.alpha is None else frame.alpha
        self._video.FourCC = (self._ndi.FOURCC_VIDEO_TYPE_RGBX if frame.alpha is None
                              else self._ndi.FOURCC_VIDEO_TYPE_RGBA)
        self._video.data = rgba
        # Async: NDI compresses on its own thread (a 1280x720 frame costs the caller 2 ms, not 10), reading
        # ``rgba`` until the next call, so it is kept until then.
        self._ndi.send_send_video_async_v2(self._sender, self._video)
        self._in_flight = rgba

    def close(self) -> None:
        if self._sender is not None:
            self._ndi.send_destroy(self._sender)  # waits for the frame in flight
            self._sender = self._in_flight = None
