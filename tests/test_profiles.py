"""Per-avatar profiles: the neutral pose taken again (another avatar's, a restart's) and the motion settings."""

import numpy as np
import pytest

from core.engines.mesh import MeshEngine
from core.engines.strength import MotionStrength
from core.live.capture import FrameSource
from core.live.neutral import NeutralPose
from core.live.pipeline import LivePipeline, PipelineSettings
from core.live.sinks import CallbackSink
from core.media.crop import Crop


def _run(camera_video, engine, avatar, pose=None, frames=20, auto=True) -> LivePipeline:
    out = []
    pipeline = LivePipeline(FrameSource(camera_video, paced=False), engine, avatar, [CallbackSink(out.append)],
                            PipelineSettings(auto_calibrate=auto))
    if pose is not None:
        pipeline.set_neutral(pose)
    pipeline.start()
    pipeline.wait(max_frames=frames, timeout=30)
    pipeline.stop()
    return pipeline


@pytest.fixture(scope="module")
def taken(camera_video, avatar_256) -> NeutralPose:
    """The neutral pose a pipeline took on the camera clip."""
    pipeline = LivePipeline(FrameSource(camera_video, paced=False), MeshEngine(), avatar_256)
    pipeline.calibrate()
    pipeline.start()
    pipeline.wait(max_frames=3, timeout=30)
    pipeline.stop()
    return pipeline.neutral


def test_a_neutral_pose_is_kept_with_its_picture_and_stored_without(taken):
    assert taken.image is not None and taken.image.shape == (256, 256, 3) and taken.side == 256
    assert taken.frame_size == (640, 360) and taken.landmarks.shape == (478, 3)
    stored = taken.stored()
    assert "image" not in str(stored.keys()) and len(str(stored)) < 10000  # the picture never goes to disk
    again = NeutralPose.from_stored(stored)
    assert again.image is None and again.crop == taken.crop and again.frame_size == (640, 360)
    assert np.array_equal(again.landmarks, taken.landmarks)


@pytest.mark.parametrize("spoil", [
    lambda s: {**s, "landmarks": s["landmarks"][:-8]}, lambda s: {**s, "landmarks": "not base64!"},
    lambda s: {**s, "crop": [1, 2]}, lambda s: {**s, "crop": [1, 2, -3]}, lambda s: {**s, "crop": [1, "x", 3]},
    lambda s: {**s, "frame": [640.5, 360]}, lambda s: {**s, "side": 0}, lambda s: {**s, "side": True},
    lambda s: {k: v for k, v in s.items() if k != "frame"}, lambda s: "text", lambda s: None,
    lambda s: {**s, "landmarks": NeutralPose(np.full((478, 3), np.nan, np.float32), 256, Crop(1, 1, 1),
                                             (640, 360)).stored()["landmarks"]}])
def test_a_stored_pose_that_is_not_one_is_forgotten(taken, spoil):
    assert NeutralPose.from_stored(spoil(taken.stored())) is None


def test_a_pose_read_back_calibrates_the_mesh_engine_without_a_steady_face(camera_video, avatar_256, taken):
    stored = NeutralPose.from_stored(taken.stored())
    pipeline = _run(camera_video, MeshEngine(), avatar_256, stored, auto=False)
    assert pipeline.calibrations == 1 and pipeline.neutral is stored  # taken at once, never by itself
    assert _run(camera_video, MeshEngine(), avatar_256, auto=False).calibrations == 0  # (it would not have been)


def test_a_pose_that_cannot_serve_is_passed_over(camera_video, avatar_256, taken, fomm):
    elsewhere = NeutralPose(taken.landmarks, taken.side, taken.crop, (1280, 720), taken.image)  # another camera
    assert _run(camera_video, MeshEngine(), avatar_256, elsewhere, auto=False).calibrations == 0
    # FOMM reads the neutral's picture: a pose read back has none, one kept in the session has.
    assert _run(camera_video, fomm, avatar_256, NeutralPose.from_stored(taken.stored()), 3, False).calibrations == 0
    pipeline = _run(camera_video, fomm, avatar_256, taken, 3, auto=False)
    assert pipeline.calibrations == 1 and pipeline.neutral is taken


def test_the_motion_strength_reaches_the_engine(camera_video, avatar_256):
    engine = MeshEngine()
    pipeline = LivePipeline(FrameSource(camera_video), engine, avatar_256)
    pipeline.set_motion(MotionStrength(0.5, 1.5))
    assert engine.motion == pipeline.motion == MotionStrength(0.5, 1.5)
    pipeline.engine.close()
