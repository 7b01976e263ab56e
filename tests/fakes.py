"""Stand-ins with the interfaces Facade talks to: pyvirtualcam's camera, NDIlib's sender, an engine of known
speed."""

import time

import numpy as np

from core.frames import DrivingFace


class FakeCamera:
    """pyvirtualcam.Camera's interface, recording what it is sent."""

    instances = []

    def __init__(self, width, height, fps, fmt=None, device=None, print_fps=False, **kwargs):
        self.width, self.height, self.fps, self.fmt = width, height, fps, fmt
        self.device = device or "/dev/video-fake"
        self.frames, self.closed = [], False
        FakeCamera.instances.append(self)

    def send(self, frame):
        assert frame.shape == (self.height, self.width, 3) and frame.dtype == np.uint8
        self.frames.append(frame.copy())

    def sleep_until_next_frame(self):
        pass

    def close(self):
        self.closed = True


class FakeNdi:
    """The part of ndi-python's NDIlib that NdiSink uses, keeping the RGBA frames it is sent."""

    FOURCC_VIDEO_TYPE_RGBA, FOURCC_VIDEO_TYPE_RGBX = "RGBA", "RGBX"

    class SendCreate:
        ndi_name, clock_video = "", True

    class VideoFrameV2:
        FourCC, data, frame_rate_N, frame_rate_D = None, None, 30000, 1000

    class _Source:
        def __init__(self, name):
            self.ndi_name = name

    def __init__(self):
        self.frames, self.destroyed = [], False

    def send_create(self, create):
        return create

    def send_get_source_name(self, sender):
        return self._Source(f"HOST ({sender.ndi_name})")

    def send_send_video_async_v2(self, sender, video):
        assert video.data.ndim == 3 and video.data.shape[2] == 4 and video.data.dtype == np.uint8
        self.frames.append(video.data.copy())

    def send_destroy(self, sender):
        self.destroyed = True


class SlowEngine:
    """An engine that takes ``delay`` seconds per frame and returns the frame's mean colour."""

    name, device, resolution, pinned_border = "slow", "cpu", 256, False

    def __init__(self, delay):
        self.delay, self.calibrations = delay, 0

    def set_avatar(self, rgb):
        pass

    def calibrate(self, frame):
        self.calibrations += 1

    def close(self):
        pass

    def animate(self, frame: DrivingFace):
        time.sleep(self.delay)
        return np.full((256, 256, 3), int(frame.image.mean()), np.uint8)
