"""The Linux virtual camera checked end to end: a test pattern written to the v4l2loopback device through
pyvirtualcam and read back with OpenCV, as a call app would read it.

``observe`` does the I/O and records what happened; ``diagnose`` turns that into one sentence of what is
wrong and what to do, and depends on nothing else, so every fault can be shown to it without a device.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Callable

import numpy as np

from core.compose.canvas import CALL_SIZE
from core.live.sinks import LOAD_V4L2LOOPBACK as _LOAD, virtual_camera_help
_MAX_DIFFERENCE = 12.0  # mean levels between the pattern sent and read back: more is not our picture
_READ_TRIES = 10


@dataclass(frozen=True)
class LoopbackDevice:
    path: str  # /dev/videoN
    name: str  # its card_label
    accessible: bool  # this user may read and write it
    exclusive_caps: bool | None = None  # None: not known


@dataclass(frozen=True)
class Observation:
    """What was seen: the module, its devices, and (for the first device) how writing and reading back went.
    ``open_error``: pyvirtualcam's message when it could not open the device for writing; ``read_error``: why
    nothing came back; ``difference``: the mean difference between pattern and read-back, in levels."""

    module_loaded: bool
    devices: tuple[LoopbackDevice, ...] = ()
    size: tuple[int, int] = CALL_SIZE
    open_error: str | None = None
    read_error: str | None = None
    difference: float | None = None


class Fault(Enum):
    NOT_LOADED = "not loaded"
    NO_DEVICE = "no device"
    NO_PERMISSION = "no permission"
    BUSY = "busy"
    SIZE_REFUSED = "size refused"
    NOT_READ_BACK = "not read back"
    DIFFERENT = "different picture"


@dataclass(frozen=True)
class Diagnosis:
    fault: Fault | None  # None: the pattern came back
    detail: str
    advice: str = ""


def diagnose(seen: Observation) -> Diagnosis:
    """What ``seen`` means for the user: the fault, one sentence about it, and what to do."""
    if not seen.module_loaded:
        return Diagnosis(Fault.NOT_LOADED, "v4l2loopback is not loaded (or not installed)",
                         virtual_camera_help("linux"))
    if not seen.devices:
        return Diagnosis(Fault.NO_DEVICE, "v4l2loopback is loaded but has no device",
                         f"sudo modprobe -r v4l2loopback && {_LOAD}")
    device = seen.devices[0]
    where = f"{device.path} ({device.name})"
    width, height = seen.size
    error = (seen.open_error or "").lower()
    if not device.accessible or "permission" in error:
        return Diagnosis(Fault.NO_PERMISSION, f"no permission to use {where}",
                         "sudo usermod -aG video $USER, then log out and in again")
    if "busy" in error or "not a video output device" in error:
        held = "with exclusive_caps=1 it takes one sender" if device.exclusive_caps else "it takes one sender"
        return Diagnosis(Fault.BUSY, f"another app is already sending to {where} ({held})",
                         "close it (OBS's virtual camera, another Facade), or load v4l2loopback with devices=2")
    if "configured" in error or "invalid argument" in error:
        why = "v4l2loopback takes only even widths" if width % 2 else "its format is fixed by another app or a max_width"
        return Diagnosis(Fault.SIZE_REFUSED, f"{where} refused a {width}x{height} picture: {why}",
                         "use an even size such as 1280x720" if width % 2
                         else f"close other apps using it, or sudo modprobe -r v4l2loopback && {_LOAD}")
    if seen.open_error:
        return Diagnosis(Fault.BUSY, f"{where} could not be opened: {seen.open_error}",
                         "close other apps using it, or reload v4l2loopback")
    if seen.difference is None:
        return Diagnosis(Fault.NOT_READ_BACK, f"a test pattern was sent to {where} but could not be read back "
                                              f"({seen.read_error or 'no frame'})",
                         f"a call app would see nothing either: sudo modprobe -r v4l2loopback && {_LOAD}")
    if seen.difference > _MAX_DIFFERENCE:
        return Diagnosis(Fault.DIFFERENT, f"{where} gave back a picture other than the test pattern "
                                          f"({seen.difference:.0f} levels apart): another app is writing to it",
                         "close it, or load v4l2loopback with devices=2")
    note = "; call apps list it only while Facade sends (exclusive_caps=1)" if device.exclusive_caps else ""
    return Diagnosis(None, f"{where}: a {width}x{height} test pattern was sent and read back "
                           f"({seen.difference:.1f} levels apart){note}")


def colour_bars(size: tuple[int, int]) -> np.ndarray:
    """Eight colour bars over a grey ramp, RGB: wide flat areas survive the device's YUV subsampling."""
    width, height = size
    bars = np.array([[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0], [255, 0, 255], [255, 0, 0],
                     [0, 0, 255], [0, 0, 0]], np.uint8)
    picture = bars[np.arange(width) * len(bars) // width][None].repeat(height, 0)
    ramp = (np.arange(width) * 255 // max(1, width - 1)).astype(np.uint8)
    picture[height * 2 // 3:] = ramp[None, :, None]
    return picture


def observe(size: tuple[int, int] = CALL_SIZE, root: Path = Path("/"), camera_factory: Callable | None = None,
            capture_factory: Callable | None = None) -> Observation:
    """Look for v4l2loopback under ``root`` (/sys, /dev), write ``colour_bars`` to its first device and read
    it back. The factories are pyvirtualcam.Camera's and cv2.VideoCapture's interfaces."""
    import cv2
    import pyvirtualcam

    module = root / "sys/module/v4l2loopback"
    if not module.is_dir():
        return Observation(False, size=size)
    devices = _devices(root, module)
    if not devices:
        return Observation(True, size=size)
    device = devices[0]
    pattern = colour_bars(size)
    try:
        camera = (camera_factory or pyvirtualcam.Camera)(width=size[0], height=size[1], fps=30,
                                                         fmt=pyvirtualcam.PixelFormat.RGB, device=device.path,
                                                         print_fps=False)
    except (RuntimeError, ValueError, OSError) as exc:
        return Observation(True, devices, size, open_error=str(exc))
    try:
        camera.send(pattern)  # with exclusive_caps=1 the device is a camera only once a sender has written
        capture = (capture_factory or cv2.VideoCapture)(device.path, cv2.CAP_V4L2,
                                                        [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 2000,
                                                         cv2.CAP_PROP_READ_TIMEOUT_MSEC, 2000])
        try:
            if not capture.isOpened():
                return Observation(True, devices, size, read_error="OpenCV could not open it as a camera")
            for _ in range(_READ_TRIES):
                camera.send(pattern)
                ok, frame = capture.read()
                if ok and frame is not None:
                    back = cv2.cvtColor(cv2.resize(frame, size), cv2.COLOR_BGR2RGB)
                    return Observation(True, devices, size,
                                       difference=float(np.abs(back.astype(np.int16) - pattern).mean()))
            return Observation(True, devices, size, read_error=f"no frame in {_READ_TRIES} reads")
        finally:
            capture.release()
    finally:
        camera.close()


def _devices(root: Path, module: Path) -> tuple[LoopbackDevice, ...]:
    """v4l2loopback's devices, by number: the virtual video4linux devices, with their names and access."""
    flags = module / "parameters/exclusive_caps"  # one flag per device, in the order they were made
    exclusive = flags.read_text().strip().split(",") if flags.is_file() else []
    found = []
    for index, folder in enumerate(sorted((root / "sys/devices/virtual/video4linux").glob("video*"),
                                          key=lambda p: int(p.name[5:]) if p.name[5:].isdigit() else 1 << 30)):
        path = root / "dev" / folder.name
        name = (folder / "name").read_text().strip() if (folder / "name").is_file() else folder.name
        caps = exclusive[index] in ("Y", "1") if index < len(exclusive) else None
        found.append(LoopbackDevice(str(path), name, os.access(path, os.R_OK | os.W_OK), caps))
    return tuple(found)
