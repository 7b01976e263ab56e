"""The FOMM engine behind the engine contract, on a tiny random checkpoint."""

import numpy as np
import pytest
import torch

from conftest import moved
from core.frames import DrivingFace
from core.engines import EngineChoice
from core.engines.fomm import FommEngine
from core.errors import UserError


@pytest.fixture
def engine(tiny_checkpoint, tiny_config_path):
    return FommEngine(EngineChoice(config=str(tiny_config_path)), tiny_checkpoint)


def test_engine_contract_and_cached_avatar(engine, astronaut):
    import cv2

    face = cv2.resize(astronaut, (256, 256))
    assert (engine.name, engine.device, engine.resolution, engine.precision) == ("fomm", "cpu", 256, "fp32")
    encodings = []
    encode = engine.generator.encode
    engine.generator.encode = lambda image: encodings.append(image) or encode(image)
    engine.set_avatar(face)
    out = engine.animate(DrivingFace(image=face))
    assert out.shape == (256, 256, 3) and out.dtype == np.uint8
    engine.animate(DrivingFace(image=moved(face, dx=20)))
    assert len(encodings) == 1  # the avatar is encoded once, not per frame


def test_calibration_changes_the_output_and_same_as_neutral_is_stable(engine, astronaut):
    import cv2

    face = cv2.resize(astronaut, (256, 256))
    shifted = moved(face, dx=30, angle=10)
    engine.set_avatar(face)
    engine.calibrate(DrivingFace(image=face))
    a = engine.animate(DrivingFace(image=shifted))
    engine.calibrate(DrivingFace(image=shifted))
    b = engine.animate(DrivingFace(image=shifted))
    assert not np.array_equal(a, b)
    # Relative motion: the neutral frame itself reproduces what the avatar's own keypoints give.
    with torch.inference_mode():
        source = torch.from_numpy(face).permute(2, 0, 1)[None].float() / 255
        kp_source = engine.kp_detector(source)
        expected = engine.generator.decode(engine.generator.encode(source), kp_source, kp_source)["prediction"]
    expected = (expected[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    assert np.abs(b.astype(int) - expected.astype(int)).max() <= 1


def test_absolute_mode_uses_driving_keypoints_as_they_are(tiny_checkpoint, tiny_config_path, astronaut):
    import cv2

    face = cv2.resize(astronaut, (256, 256))
    shifted = moved(face, dx=30)
    absolute = FommEngine(EngineChoice(config=str(tiny_config_path), relative=False), tiny_checkpoint)
    absolute.set_avatar(face)
    absolute.calibrate(DrivingFace(image=face))
    a1 = absolute.animate(DrivingFace(image=shifted))
    absolute.calibrate(DrivingFace(image=shifted))
    assert np.array_equal(a1, absolute.animate(DrivingFace(image=shifted)))  # calibration does not matter


def test_non_square_or_other_size_frames_are_resized(engine, astronaut):
    engine.set_avatar(astronaut)  # 512x512
    assert engine.animate(DrivingFace(image=astronaut[:400, :300])).shape == (256, 256, 3)


def test_devices_and_precisions_that_cannot_run_here_are_user_errors(tiny_checkpoint):
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="--device cuda: CUDA is not available"):
            FommEngine(EngineChoice(device="cuda"), tiny_checkpoint)
    with pytest.raises(UserError, match="--precision fp16: needs a CUDA device"):
        FommEngine(EngineChoice(device="cpu", precision="fp16"))
    with pytest.raises(UserError, match="--device tpu: unknown device"):
        FommEngine(EngineChoice(device="tpu"))
