"""CUDA: fp16 trunks against fp32 on the same weights. Skipped on machines without CUDA (as CI is)."""

import numpy as np
import pytest
import torch

from conftest import moved, randomize
from core.frames import DrivingFace
from core.engines import EngineChoice
from core.engines.fomm import FommEngine
from models.checkpoint import build_networks, save_pth
from models.config import load_config

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_fp16_matches_fp32_on_a_full_size_random_checkpoint(tmp_path, astronaut):
    import cv2

    networks = build_networks(load_config("vox-256"))
    randomize(*networks)
    save_pth(networks, tmp_path / "vox.pth.tar")
    face = cv2.resize(astronaut, (256, 256))
    outputs = {}
    for precision in ("fp32", "fp16"):
        engine = FommEngine(EngineChoice(device="cuda", precision=precision), tmp_path / "vox.pth.tar")
        assert engine.precision == precision
        engine.set_avatar(face)
        engine.calibrate(DrivingFace(image=face))
        outputs[precision] = engine.animate(DrivingFace(image=moved(face, dx=12, angle=5))).astype(np.float32)
    diff = np.abs(outputs["fp32"] - outputs["fp16"]) / 255
    assert diff.max() < 2e-2 and diff.mean() < 2e-3
