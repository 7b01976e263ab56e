"""Shared fixtures: small random FOMM checkpoints in the published format, a real face, driving clips."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
ASTRONAUT = ROOT / "assets" / "avatars" / "astronaut.png"

# The vox-256 layout at a fraction of the width: same keys, same structure, fast on a CPU.
TINY_CONFIG = {"model_params": {
    "common_params": {"num_kp": 10, "num_channels": 3, "estimate_jacobian": True},
    "kp_detector_params": {"temperature": 0.1, "block_expansion": 4, "max_features": 16, "scale_factor": 0.25,
                           "num_blocks": 5},
    "generator_params": {"block_expansion": 8, "max_features": 16, "num_down_blocks": 2,
                         "num_bottleneck_blocks": 2, "estimate_occlusion_map": True,
                         "dense_motion_params": {"block_expansion": 4, "max_features": 16, "num_blocks": 5,
                                                 "scale_factor": 0.25}}}}


def randomize(*networks: torch.nn.Module, seed: int = 0) -> None:
    """He-scaled random weights and batch-norm statistics: activations stay O(1), so outputs respond to input."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for net in networks:
            for name, tensor in net.state_dict().items():
                if not tensor.dtype.is_floating_point or name.endswith("down.weight"):
                    continue
                if tensor.dim() == 4:
                    fan_in = tensor.shape[1] * tensor.shape[2] * tensor.shape[3]
                    tensor.copy_(torch.randn(tensor.shape, generator=gen) * (2 / fan_in) ** 0.5)
                elif name.endswith(("running_var", "norm.weight", "norm1.weight", "norm2.weight")):
                    tensor.copy_(torch.rand(tensor.shape, generator=gen) * 0.5 + 0.75)
                else:
                    tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.05)


@pytest.fixture(scope="session")
def tiny_config_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "tiny-256.yaml"
    path.write_text(yaml.safe_dump(TINY_CONFIG))
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_config_path) -> Path:
    """A random tiny checkpoint saved the way the authors save theirs (with a module. prefix, as DataParallel)."""
    from models.checkpoint import build_networks
    from models.config import load_config

    kp, gen = build_networks(load_config(tiny_config_path))
    randomize(kp, gen)
    path = tmp_path_factory.mktemp("ckpt") / "tiny-cpk.pth.tar"
    torch.save({"generator": {f"module.{k}": v for k, v in gen.state_dict().items()},
                "kp_detector": kp.state_dict(), "epoch": 3,
                "optimizer_generator": {"state": {}, "param_groups": [{"lr": 2e-4}]}}, path)
    return path


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(ASTRONAUT)), cv2.COLOR_BGR2RGB)


def moved(image: np.ndarray, dx: float = 0, dy: float = 0, angle: float = 0, scale: float = 1) -> np.ndarray:
    """The image moved by a similarity transform about its centre (border replicated)."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    m[:, 2] += (dx, dy)
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@pytest.fixture(scope="session")
def driving_clip(tmp_path_factory, astronaut) -> Path:
    """A short mp4 of the astronaut's head nodding and turning slightly."""
    from core.media.video_io import Mp4Writer

    path = tmp_path_factory.mktemp("clips") / "driving.mp4"
    writer = Mp4Writer(path, 25, (256, 256))
    small = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    for i in range(6):
        writer.write(moved(small, dx=2 * i, dy=-i, angle=i))
    writer.close()
    return path


# A colour no avatar has: painted around the face in a camera clip, any pixel of it in the call picture is the
# camera's own picture leaking out.
MARKER = np.array([255, 0, 255], np.uint8)


def marker_pixels(picture: np.ndarray) -> int:
    """How many of ``picture``'s pixels are MARKER (within what H.264 shifts a colour)."""
    return int((np.abs(picture.astype(int) - MARKER.astype(int)).max(2) < 60).sum())


def camera_clip(path: Path, face: np.ndarray, count: int, fps: float = 30, motion=None, blank=(),
                background=(128, 128, 128)) -> Path:
    """A 640x360 'camera' clip of a face on ``background``; ``motion(i)`` gives moved() kwargs, ``blank``
    frames have no face."""
    from core.media.video_io import Mp4Writer

    writer = Mp4Writer(path, fps, (640, 360))
    small = cv2.resize(face, (300, 300), interpolation=cv2.INTER_AREA)
    for i in range(count):
        canvas = np.tile(np.asarray(background, np.uint8), (360, 640, 1))
        if i not in blank:
            canvas[30:330, 170:470] = moved(small, **(motion(i) if motion else {}))
        writer.write(canvas)
    writer.close()
    return path


@pytest.fixture(scope="session")
def camera_video(tmp_path_factory, astronaut) -> Path:
    """Three seconds of a face swaying, at 30 fps."""
    return camera_clip(tmp_path_factory.mktemp("camera") / "camera.mp4", astronaut, 90,
                       motion=lambda i: {"dx": 12 * np.sin(i / 8), "angle": 6 * np.sin(i / 11)})


@pytest.fixture(scope="session")
def astronaut_landmarks(astronaut) -> np.ndarray:
    """The astronaut's face-mesh landmarks, (478, 3) float64 pixels."""
    from core.face.landmarks import FaceLandmarker

    landmarker = FaceLandmarker(video=False)
    points = landmarker.detect(astronaut)[0].astype(np.float64)
    landmarker.close()
    return points


def frames_in(path: Path) -> int:
    """How many frames a video file really holds (read to the end, not the header's count)."""
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


@pytest.fixture(scope="session")
def avatar_256(astronaut) -> np.ndarray:
    from core.face.avatar import frame_avatar

    return frame_avatar(astronaut, 256)


class Running:
    """A remote worker serving on its own thread until stopped (as ``serve`` does in its own process)."""

    def __init__(self, engine, keys, bind):
        from core.tools.serve import Worker

        self.worker = Worker(engine, keys, bind)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.worker.serve, args=(self._stop,), daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        self.worker.close()


@pytest.fixture
def fomm(tiny_checkpoint, tiny_config_path):
    from core.engines.choice import EngineChoice
    from core.engines.fomm import FommEngine

    return FommEngine(EngineChoice(engine="fomm", config=str(tiny_config_path), device="cpu"), tiny_checkpoint)


@pytest.fixture
def keys(tmp_path):
    from core.link.pairing import load_or_create_keys

    return load_or_create_keys(tmp_path / "keys.json")


@pytest.fixture
def served(fomm, keys):
    """A worker on a loopback port with the tiny checkpoint, and the pairing to reach it."""
    running = Running(fomm, keys, "tcp://127.0.0.1:*")
    yield running, keys.pairing("127.0.0.1", running.worker.port)
    running.stop()


@pytest.fixture
def silent_stream():
    """A stream URL whose server accepts connections and never sends a byte; ``accepted`` is set on the first."""
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    accepted, held = threading.Event(), []

    def serve():
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return
            accepted.set()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/live.mjpg", accepted
    server.close()
    for connection in held:
        connection.close()


def open_window(qtbot, tmp_path: Path, camera: str, avatar: str | None = None):
    """The main window, shown, with its settings and avatars in ``tmp_path`` and no cameras probed."""
    from app import settings as app_settings
    from app.main_window import MainWindow

    window = MainWindow(app_settings.open_settings(tmp_path / "facade.ini"), camera=camera, avatar=avatar,
                        camera_probe=lambda: [], user_dir=tmp_path / "avatars")
    qtbot.addWidget(window)
    window.show()
    return window
