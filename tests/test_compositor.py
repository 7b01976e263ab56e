"""The call picture: the face pasted back into the whole portrait, and nothing of the camera in it."""

from typing import NamedTuple

import cv2
import numpy as np
import pytest

from conftest import ASTRONAUT, MARKER, camera_clip, marker_pixels, moved
from core.compose.compositor import Compositor, OutputSettings, parse_size, portrait_size, replace_background
from core.engines import EngineChoice
from core.face.avatar import load_portrait
from core.live.builder import LiveSetup, build_pipeline, prepare_avatar
from core.live.events import EventKind
from core.live.ndi import NdiSink
from core.live.sinks import CallbackSink, RecorderSink, VirtualCameraSink
from core.media.video_io import Clip
from fakes import FakeCamera, FakeNdi


def test_at_rest_the_picture_is_the_portrait_and_still_outside_the_face():
    portrait, crop = load_portrait(ASTRONAUT)
    for fit in ("cover", "contain"):
        compositor = Compositor(portrait, crop, OutputSettings(size=(1280, 720), fit=fit))
        rest = compositor.compose(crop.extract(portrait, 256))
        assert rest.shape == (720, 1280, 3)
        moving = compositor.compose(moved(crop.extract(portrait, 256), dx=20, angle=10))
        touched = ((rest != compositor.background) | (moving != compositor.background)).any(2)
        ys, xs = np.nonzero(touched)
        # Only the face crop's square is touched; the rest of the picture is the portrait, exactly.
        scale = (max if fit == "cover" else min)(1280 / portrait.shape[1], 720 / portrait.shape[0])
        assert touched.any() and xs.ptp() <= crop.size * scale + 2 and ys.ptp() <= crop.size * scale + 2
        difference = np.abs(rest.astype(int) - compositor.background.astype(int))
        assert difference.mean() < 1.0 and np.percentile(difference, 99.5) < 24


def test_the_cover_fit_keeps_the_face_in_the_picture():
    portrait, crop = load_portrait(ASTRONAUT)  # square portrait, face near the top
    compositor = Compositor(portrait, crop, OutputSettings(size=(1280, 720), fit="cover"))
    picture = compositor.compose(crop.extract(portrait, 256))
    from core.face.landmarks import FaceLandmarker

    landmarker = FaceLandmarker(video=False)
    try:
        faces = landmarker.detect(picture)
    finally:
        landmarker.close()
    assert faces and 0.2 * 720 < faces[0][:, 1].mean() < 0.6 * 720


@pytest.mark.parametrize("fit, background", [("cover", "portrait"), ("contain", "blur"), ("cover", "green"),
                                             ("contain", "#102030")])
def test_the_camera_picture_never_reaches_the_call(tmp_path, astronaut, fit, background):
    clip = camera_clip(tmp_path / "marked.mp4", astronaut, 45, motion=lambda i: {"dx": 6 * np.sin(i / 5)},
                       blank=range(15, 25), background=MARKER)  # and ten frames with no face at all
    pictures = []
    output = OutputSettings(size=(960, 540), fit=fit, background=background)
    pipeline = build_pipeline(LiveSetup(camera=clip, avatar=ASTRONAUT, choice=EngineChoice(engine="mesh"),
                                        output=output),
                              [CallbackSink(lambda frame: pictures.append(frame.picture))])
    camera = VirtualCameraSink(size=pipeline.output_size, camera_factory=FakeCamera)
    recorder = RecorderSink(tmp_path / "rec.mp4", 30, pipeline.output_size)
    pipeline.add_sink(camera)
    pipeline.add_sink(recorder)
    pipeline.start().wait(timeout=30)
    pipeline.stop()
    recorded = list(Clip(recorder.path, 30, 0).frames())
    assert len(pictures) > 10 and len(camera._camera.frames) == len(pictures) and len(recorded) >= len(pictures)
    for picture in pictures + camera._camera.frames + recorded:
        assert picture.shape == (540, 960, 3)
        assert marker_pixels(picture) == 0


class FailingCuda:
    """The mesh engine posing as a GPU engine that runs out of memory after ``frames`` frames, as FOMM does
    mid-call: the pipeline's fallback (the real one, ``cpu_fallback``) must take over."""

    device = "cuda:0"

    def __init__(self, engine, frames: int):
        self._engine, self._left = engine, frames

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def animate(self, frame):
        self._left -= 1
        if self._left < 0:
            raise RuntimeError("CUDA error: out of memory")
        return self._engine.animate(frame)


class Seen(NamedTuple):
    """A picture the outputs were given, and the state it was given in."""

    index: int  # the camera frame's
    hidden: bool
    face: bool
    device: str  # the engine's
    picture: np.ndarray


# Frames of the camera clip at which the journey below changes state (the pipeline reads it unpaced, every frame).
_CALIBRATE, _SWITCH, _HIDE, _SHOW, _FACE_LOST, _FACE_BACK, _LENGTH = 12, 22, 32, 44, 80, 96, 120


def test_the_camera_picture_never_reaches_the_call_in_any_state(tmp_path, astronaut):
    """Every output gets every frame checked for the camera's marker colour through calibration, a recalibration,
    an avatar switch, hide and show, an engine failing over to its fallback and the face leaving and coming back.
    A new output belongs in ``outputs``, which must name every sink class core.live.sinks and core.live.ndi have."""
    import core.live.ndi as ndi
    import core.live.sinks as sinks

    outputs = {VirtualCameraSink, RecorderSink, NdiSink}
    offered = {c for module in (sinks, ndi) for c in vars(module).values() if isinstance(c, type)
               and c.__module__ == module.__name__ and hasattr(c, "write") and c not in (sinks.Sink, CallbackSink)}
    assert offered == outputs, f"check {offered - outputs} here too"
    clip = camera_clip(tmp_path / "marked.mp4", astronaut, _LENGTH, background=MARKER,
                       motion=lambda i: {"dx": 8 * np.sin(i / 5), "angle": 5 * np.sin(i / 7)},
                       blank=range(_FACE_LOST, _FACE_BACK))
    comic = prepare_avatar(ASTRONAUT.with_name("astronaut-comic.png"), 256, output=OutputSettings(size=(640, 360)))
    events, seen = [], []

    def on_frame(frame):
        seen.append(Seen(frame.index, pipeline.hidden, frame.face_found, pipeline.engine.device, frame.picture))
        step = {_CALIBRATE: pipeline.calibrate, _SWITCH: lambda: pipeline.set_avatar(*comic),
                _HIDE: lambda: pipeline.set_hidden(True, "Back soon"), _SHOW: lambda: pipeline.set_hidden(False)}
        step.get(frame.index, lambda: None)()

    pipeline = build_pipeline(LiveSetup(camera=clip, avatar=ASTRONAUT, choice=EngineChoice(engine="mesh"),
                                        paced=False, output=OutputSettings(size=(640, 360))),
                              [CallbackSink(on_frame)], on_event=events.append)
    pipeline.engine = FailingCuda(pipeline.engine, frames=55)
    camera = VirtualCameraSink(size=pipeline.output_size, camera_factory=FakeCamera)
    recorder = RecorderSink(tmp_path / "rec.mp4", 30, pipeline.output_size)
    ndi = FakeNdi()
    pipeline.add_sink(camera)
    pipeline.add_sink(recorder)
    pipeline.add_sink(NdiSink(library=ndi))
    pipeline.start()
    try:
        assert pipeline.wait(timeout=60)
    finally:
        pipeline.stop()
    # Every state was gone through.
    assert pipeline.engine.name == "mesh" and pipeline.engine.device == "cpu"
    assert any("switched to mesh" in e.message for e in events if e.kind == EventKind.ENGINE)
    calibrated = [e for e in events if e.kind == EventKind.CALIBRATED]
    # At the start and asked for; the fallback takes the same pose again at its next face, which a loaded
    # machine, dropping frames to keep up, may reach only after the clip's last face.
    assert len(calibrated) >= 2
    indices = [s.index for s in seen]
    assert indices == sorted(indices) and len(indices) >= _LENGTH - 5  # unpaced: (nearly) every frame out
    assert any(s.hidden for s in seen) and not seen[-1].hidden
    assert any(not s.face for s in seen if _FACE_LOST <= s.index < _FACE_BACK)
    assert any(s.face and s.device == "cpu" for s in seen if s.index > _FACE_BACK)
    before, after = ([s.picture for s in seen if lo < s.index < hi and not s.hidden]
                     for lo, hi in ((0, _SWITCH), (_SHOW + 10, _FACE_LOST)))
    assert np.abs(before[-1].astype(int) - after[0]).mean() > 10  # the new avatar, not the old one moved
    # And no pixel of the camera's own picture in any of it.
    recorded = list(Clip(recorder.path, 30, 0).frames())
    # The recording keeps a frame per 1/30 s of capture time; the clip is read faster than that.
    assert len(camera._camera.frames) == len(seen) == len(ndi.frames) and ndi.destroyed
    assert len(recorded) == recorder.frames_written > 10
    for picture in [s.picture for s in seen] + camera._camera.frames + recorded + [f[..., :3] for f in ndi.frames]:
        assert marker_pixels(picture) == 0


def test_backgrounds_replace_only_what_is_behind_the_person():
    portrait, crop = load_portrait(ASTRONAUT)
    green = replace_background(portrait, "green")
    blurred = replace_background(portrait, "blur")
    inner = (slice(20, 44), slice(20, 44))  # the middle of the face crop: skin, eyes, nose
    assert np.abs(crop.extract(green, 64)[inner].astype(int) - crop.extract(portrait, 64)[inner]).mean() < 2
    corner = (slice(0, 40), slice(0, 40))  # the flag behind her, top left
    assert np.abs(green[corner].astype(int) - (0, 177, 64)).max() < 10
    assert cv2.Laplacian(blurred[corner], cv2.CV_64F).var() < 0.2 * cv2.Laplacian(portrait[corner], cv2.CV_64F).var()
    assert replace_background(portrait, "portrait") is portrait


@pytest.mark.parametrize("text, size", [("1280x720", (1280, 720)), ("1920X1080", (1920, 1080))])
def test_output_sizes_parse(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["1281x720", "1280", "x", "0x0", "8000x720", "axb"])
def test_bad_output_sizes_say_why(text):
    with pytest.raises(ValueError, match=text if text.isalnum() else ""):
        parse_size(text)


def test_the_portrait_size_is_capped_and_even():
    assert portrait_size(np.zeros((3001, 2001, 3), np.uint8)) == (1366, 2048)
    assert portrait_size(np.zeros((511, 383, 3), np.uint8)) == (384, 512)


def test_a_compose_at_the_portrait_size_is_the_portrait_at_rest():
    portrait, crop = load_portrait(ASTRONAUT)
    compositor = Compositor(portrait, crop, OutputSettings(size=None))
    assert compositor.size == (512, 512)
    assert np.array_equal(compositor.background, portrait)
    rest = compositor.compose(compositor.face)  # the avatar at rest, as an engine at the avatar's size gives it
    assert np.abs(rest.astype(int) - portrait).max() <= 1


def test_a_face_smaller_than_the_engine_is_given_as_pictured_and_the_mesh_keeps_it_sharp():
    """The 512-pixel portrait's face is 212 pixels: cut at the engine's 256 and shrunk back, it lost nearly
    three quarters of its Laplacian variance before any real motion."""
    from core.engines.mesh import MeshEngine
    from core.frames import DrivingFace
    from core.live.builder import prepare_avatar

    avatar, compositor = prepare_avatar(ASTRONAUT, 256, output=OutputSettings(size=None))
    assert compositor.face_side < 256 and avatar.shape[0] == compositor.face_side
    engine = MeshEngine()
    engine.set_avatar(avatar)
    driving = DrivingFace(cv2.resize(avatar, (256, 256), interpolation=cv2.INTER_AREA))
    engine.calibrate(driving)
    rest = compositor.compose(engine.animate(driving), blend=False)
    ys, xs = compositor._out

    def sharpness(rgb):
        return cv2.Laplacian(cv2.cvtColor(rgb[ys, xs], cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()

    assert sharpness(rest) > 0.6 * sharpness(compositor.background)  # 0.81 now; 0.28 cut at 256 and shrunk


def test_a_pinned_border_engine_is_pasted_as_is_and_a_network_is_blended():
    portrait, crop = load_portrait(ASTRONAUT)
    compositor = Compositor(portrait, crop, OutputSettings(size=(1280, 720)))
    face = np.full_like(compositor.face, 77)
    ys, xs = compositor._out
    pasted = compositor.compose(face, blend=False)
    assert (pasted[ys, xs] == 77).all()  # no feathered ghost of the still portrait under a mesh warp
    outside = np.ones(pasted.shape[:2], bool)
    outside[ys, xs] = False
    assert np.array_equal(pasted[outside], compositor.background[outside])
    blended = compositor.compose(face)
    assert np.array_equal(blended[ys, xs][0], compositor.background[ys, xs][0])  # the square's edge: portrait
