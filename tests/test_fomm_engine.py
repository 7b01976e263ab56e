"""The FOMM engine behind the engine contract, on a tiny random checkpoint."""

import numpy as np
import pytest
import torch

from conftest import moved
from core.engines.base import FrameFeatures
from core.engines.fomm import FommEngine, FommOptions
from core.errors import UserError


@pytest.fixture
def engine(tiny_checkpoint, tiny_config_path):
    return FommEngine(FommOptions(checkpoint=tiny_checkpoint, config=str(tiny_config_path)))


def test_engine_contract_and_cached_avatar(engine, astronaut):
    import cv2

    face = cv2.resize(astronaut, (256, 256))
    assert (engine.name, engine.device, engine.resolution, engine.precision) == ("fomm", "cpu", 256, "fp32")
    engine.set_avatar(face)
    out = engine.animate(FrameFeatures(image=face))
    assert out.shape == (256, 256, 3) and out.dtype == np.uint8
    encoded = engine._avatar["encoded"]
    engine.animate(FrameFeatures(image=moved(face, dx=20)))
    assert engine._avatar["encoded"] is encoded  # the avatar is not re-encoded per frame


def test_calibration_changes_the_output_and_same_as_neutral_is_stable(engine, astronaut):
    import cv2

    face = cv2.resize(astronaut, (256, 256))
    shifted = moved(face, dx=30, angle=10)
    engine.set_avatar(face)
    engine.calibrate(FrameFeatures(image=face))
    a = engine.animate(FrameFeatures(image=shifted))
    engine.calibrate(FrameFeatures(image=shifted))
    b = engine.animate(FrameFeatures(image=shifted))
    assert not np.array_equal(a, b)
    # Relative motion: the neutral frame itself reproduces what the avatar's own keypoints give.
    kp_source = engine._avatar["kp"]
    with torch.inference_mode():
        expected = engine.generator.decode(engine._avatar["encoded"], kp_source, kp_source)["prediction"]
    expected = (expected[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    assert np.abs(b.astype(int) - expected.astype(int)).max() <= 1


def test_absolute_mode_uses_driving_keypoints_as_they_are(tiny_checkpoint, tiny_config_path, astronaut):
    import cv2

    face = cv2.resize(astronaut, (256, 256))
    shifted = moved(face, dx=30)
    absolute = FommEngine(FommOptions(checkpoint=tiny_checkpoint, config=str(tiny_config_path), relative=False))
    absolute.set_avatar(face)
    absolute.calibrate(FrameFeatures(image=face))
    a1 = absolute.animate(FrameFeatures(image=shifted))
    absolute.calibrate(FrameFeatures(image=shifted))
    assert np.array_equal(a1, absolute.animate(FrameFeatures(image=shifted)))  # calibration does not matter


def test_non_square_or_other_size_frames_are_resized(engine, astronaut):
    engine.set_avatar(astronaut)  # 512x512
    assert engine.animate(FrameFeatures(image=astronaut[:400, :300])).shape == (256, 256, 3)


def test_devices_and_precisions_that_cannot_run_here_are_user_errors(tiny_checkpoint):
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="--device cuda: CUDA is not available"):
            FommEngine(FommOptions(checkpoint=tiny_checkpoint, device="cuda"))
    with pytest.raises(UserError, match="--precision fp16: needs a CUDA device"):
        FommEngine(FommOptions(device="cpu", precision="fp16"))
    with pytest.raises(UserError, match="--device tpu: unknown device"):
        FommEngine(FommOptions(device="tpu"))
