"""doctor's end-to-end virtual camera check on Linux: each fault named from what was observed, and the I/O
that observes it run against a fake /sys, /dev, pyvirtualcam camera and OpenCV capture (this machine has no
v4l2loopback)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.tools.loopback import Fault, LoopbackDevice, Observation, colour_bars, diagnose, observe
from fakes import FakeCamera

DEVICE = LoopbackDevice("/dev/video10", "Facade", accessible=True, exclusive_caps=True)
# pyvirtualcam's own messages, as its v4l2loopback backend raises them.
BUSY = "'v4l2loopback' backend: Device /dev/video10 could not be opened: Device or resource busy"
TAKEN = "'v4l2loopback' backend: Device /dev/video10 is not a video output device."
DENIED = ("'v4l2loopback' backend: Virtual camera device /dev/video10 could not be opened due to missing "
          "permissions. Did you add your user to the 'video' group?")
REFUSED = "'v4l2loopback' backend: Virtual camera device /dev/video10 could not be configured: Invalid argument"


@pytest.mark.parametrize("seen, fault, says, advice", [
    (Observation(False), Fault.NOT_LOADED, "not loaded", "modprobe v4l2loopback"),
    (Observation(True), Fault.NO_DEVICE, "no device", "modprobe -r v4l2loopback"),
    (Observation(True, (LoopbackDevice("/dev/video10", "Facade", accessible=False),)), Fault.NO_PERMISSION,
     "no permission to use /dev/video10", "usermod -aG video"),
    (Observation(True, (DEVICE,), open_error=DENIED), Fault.NO_PERMISSION, "no permission", "usermod"),
    (Observation(True, (DEVICE,), open_error=BUSY), Fault.BUSY, "another app is already sending", "close it"),
    (Observation(True, (DEVICE,), open_error=TAKEN), Fault.BUSY, "exclusive_caps=1", "devices=2"),
    (Observation(True, (DEVICE,), size=(1281, 720), open_error=REFUSED), Fault.SIZE_REFUSED,
     "refused a 1281x720 picture: v4l2loopback takes only even widths", "even size"),
    (Observation(True, (DEVICE,), open_error=REFUSED), Fault.SIZE_REFUSED, "fixed by another app",
     "modprobe -r"),
    (Observation(True, (DEVICE,), read_error="OpenCV could not open it as a camera"), Fault.NOT_READ_BACK,
     "could not be read back (OpenCV could not open it", "a call app would see nothing"),
    (Observation(True, (DEVICE,), difference=80.0), Fault.DIFFERENT, "another app is writing", "devices=2"),
])
def test_each_fault_is_named_in_one_sentence_with_what_to_do(seen, fault, says, advice):
    found = diagnose(seen)
    assert found.fault == fault and says in found.detail and advice in found.advice
    assert found.detail.count(". ") == 0 and "\n" not in found.detail + found.advice


def test_a_pattern_that_comes_back_is_a_working_camera():
    found = diagnose(Observation(True, (DEVICE,), difference=2.5))
    assert found.fault is None and "/dev/video10 (Facade)" in found.detail and "read back" in found.detail
    assert "only while Facade sends" in found.detail  # exclusive_caps=1: call apps see it only while sending


class FakeCapture:
    """cv2.VideoCapture's interface on the fake device: reads back what the last FakeCamera was sent,
    through ``through`` (the device's conversion), as BGR."""

    def __init__(self, opens=True, through=lambda rgb: rgb):
        self.opens, self.through, self.released = opens, through, False

    def __call__(self, path, backend, params):
        assert backend == cv2.CAP_V4L2 and path.endswith("video10")
        return self

    def isOpened(self):
        return self.opens

    def read(self):
        sent = FakeCamera.instances[-1].frames
        return (True, cv2.cvtColor(self.through(sent[-1]), cv2.COLOR_RGB2BGR)) if sent else (False, None)

    def release(self):
        self.released = True


def _fake_root(tmp_path, loaded=True, devices=(10,), exclusive="Y"):
    if loaded:
        (tmp_path / "sys/module/v4l2loopback/parameters").mkdir(parents=True)
        (tmp_path / "sys/module/v4l2loopback/parameters/exclusive_caps").write_text(exclusive + "\n")
    (tmp_path / "dev").mkdir()
    for number in devices:
        folder = tmp_path / f"sys/devices/virtual/video4linux/video{number}"
        folder.mkdir(parents=True)
        (folder / "name").write_text("Facade\n")
        (tmp_path / f"dev/video{number}").touch()
    return tmp_path


def _yuv420(rgb):  # what a v4l2loopback device in I420 does to a picture
    return cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), cv2.COLOR_YUV2RGB_I420)


def test_the_pattern_goes_through_the_device_and_back(tmp_path):
    FakeCamera.instances.clear()
    capture = FakeCapture(through=_yuv420)
    seen = observe((640, 360), _fake_root(tmp_path), FakeCamera, capture)
    camera = FakeCamera.instances[-1]
    assert camera.device == str(tmp_path / "dev/video10") and (camera.width, camera.height) == (640, 360)
    assert np.array_equal(camera.frames[0], colour_bars((640, 360))) and camera.closed and capture.released
    assert seen.devices[0].exclusive_caps and seen.difference < 12
    assert diagnose(seen).fault is None


@pytest.mark.parametrize("setup, fault", [
    (dict(loaded=False, devices=()), Fault.NOT_LOADED),
    (dict(devices=()), Fault.NO_DEVICE),
])
def test_observing_a_machine_without_a_device(tmp_path, setup, fault):
    assert diagnose(observe((640, 360), _fake_root(tmp_path, **setup), FakeCamera, FakeCapture())).fault == fault


def test_observing_a_device_another_app_holds(tmp_path):
    def busy(**kwargs):
        raise RuntimeError(BUSY)

    assert diagnose(observe((640, 360), _fake_root(tmp_path), busy, FakeCapture())).fault == Fault.BUSY


def test_observing_a_device_that_gives_nothing_or_another_picture_back(tmp_path):
    FakeCamera.instances.clear()
    root = _fake_root(tmp_path)
    assert diagnose(observe((640, 360), root, FakeCamera, FakeCapture(opens=False))).fault == Fault.NOT_READ_BACK
    assert FakeCamera.instances[-1].closed
    other = FakeCapture(through=lambda rgb: 255 - rgb)  # another sender's picture
    assert diagnose(observe((640, 360), root, FakeCamera, other)).fault == Fault.DIFFERENT
