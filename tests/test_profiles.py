"""Per-avatar profiles: the neutral pose taken again (another avatar's, a restart's) and the motion settings."""

import json

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


def test_each_avatar_gets_back_its_motion_settings_and_neutral_pose(qtbot, tmp_path, camera_video):
    from conftest import open_window

    window = open_window(qtbot, tmp_path, str(camera_video))
    c = window.controls
    a, b = window.gallery.paths()[:2]

    def settle(path):
        window.choose_avatar(path)
        qtbot.waitUntil(lambda: window.session.pipeline is not None and window.session.pipeline.neutral is not None,
                        timeout=20000)

    def shown():
        return c.head_motion.value(), c.expressions.value(), c.smoothing.value()

    try:
        settle(a)
        c.head_motion.setValue(60), c.expressions.setValue(140), c.smoothing.setValue(30)
        neutral_a = window.session.pipeline.neutral
        window.choose_avatar(b)
        assert shown() == (60, 140, 30)  # an avatar never used takes what the last one had
        c.head_motion.setValue(150), c.expressions.setValue(50), c.smoothing.setValue(80)
        calibrations = window.session.pipeline.calibrations
        window.start_calibration()
        # The count and the recorded pose are set one after the other on the engine's thread: wait for both.
        qtbot.waitUntil(lambda: window.session.pipeline.calibrations > calibrations
                        and window.session.pipeline.neutral is not neutral_a, timeout=10000)
        neutral_b = window.session.pipeline.neutral
        window.choose_avatar(a)
        assert shown() == (60, 140, 30) and window.session.motion == MotionStrength(0.6, 1.4)
        assert window.session.pipeline.motion == MotionStrength(0.6, 1.4)
        qtbot.waitUntil(lambda: window.session.pipeline.neutral is neutral_a, timeout=5000)
        window.choose_avatar(b)
        assert shown() == (150, 50, 80) and window.session.pipeline.motion == MotionStrength(1.5, 0.5)
        qtbot.waitUntil(lambda: window.session.pipeline.neutral is neutral_b, timeout=5000)
    finally:
        window.close()

    again = open_window(qtbot, tmp_path, str(camera_video))  # a restart: the settings file, the same camera
    try:
        assert again.settings.avatar == b and (
            again.controls.head_motion.value(), again.controls.expressions.value()) == (150, 50)
        qtbot.waitUntil(lambda: again.session.pipeline is not None and again.session.pipeline.neutral is not None,
                        timeout=20000)
        restored = again.session.pipeline.neutral
        assert restored.image is None and np.array_equal(restored.landmarks, neutral_b.landmarks)  # from the file
        qtbot.waitUntil(lambda: again.session.pipeline.calibrated, timeout=5000)
        assert again.session.pipeline.calibrations == 1  # the one read back: no other was taken
        again.choose_avatar(a)
        assert (again.controls.head_motion.value(), again.controls.smoothing.value()) == (60, 30)
        qtbot.waitUntil(lambda: np.array_equal(again.session.pipeline.neutral.landmarks, neutral_a.landmarks),
                        timeout=5000)
        assert again.session.pipeline.neutral.crop == neutral_a.crop
    finally:
        again.close()


def test_stored_profiles_are_checked_when_read_back(tmp_path, taken):
    from app import settings as app_settings

    portrait = tmp_path / "me.png"
    portrait.write_bytes(b"")
    store = app_settings.open_settings(tmp_path / "facade.ini")
    first = app_settings.load(store)
    first.profiles = {str(portrait): app_settings.AvatarProfile(0.2, 40, 180, False, True, taken),
                      str(tmp_path / "gone.png"): app_settings.AvatarProfile()}
    first.head_motion, first.expressions = 40, 180
    app_settings.save(store, first)
    (tmp_path / "gone.png").unlink(missing_ok=True)
    again = app_settings.load(app_settings.open_settings(tmp_path / "facade.ini"))
    assert (again.head_motion, again.expressions) == (40, 180) and list(again.profiles) == [str(portrait)]
    profile = again.profiles[str(portrait)]
    assert (profile.smoothing, profile.head_motion, profile.expressions, profile.relative, profile.adapt_scale) == \
        (0.2, 40, 180, False, True)
    assert profile.neutral.image is None and np.array_equal(profile.neutral.landmarks, taken.landmarks)
    stored = json.loads(store.value("avatar_profiles"))
    stored[str(portrait)].update(head_motion=900, expressions="loud", smoothing=float("nan"), relative=1,
                                 neutral={"landmarks": "x"})
    store.setValue("avatar_profiles", json.dumps(stored))
    store.setValue("head_motion", 201)
    bad = app_settings.load(store)
    assert bad.head_motion == 100 and bad.profiles[str(portrait)] == app_settings.AvatarProfile(adapt_scale=True)
    store.setValue("avatar_profiles", "{not json")
    assert app_settings.load(store).profiles == {}
