"""When the face leaves, or a "face" is implausible, the picture eases to the avatar at rest and stays there."""

import cv2
import numpy as np
import pytest

from conftest import camera_clip
from core.compose.presence import Presence
from core.engines.mesh import MeshEngine
from core.face.landmarks import inter_ocular
from core.face.plausibility import FaceGate, Implausible
from core.face.pose import SKULL
from core.frames import DrivingFace
from core.live.capture import FrameSource
from core.live.events import EventKind
from core.live.pipeline import LivePipeline
from core.live.sinks import CallbackSink
from core.media.video_io import open_clip
from core.tools.animate import aligned_faces, call_frames

FPS = 30
FACE, TILTED, GONE = range(0, 60), range(60, 120), range(120, 150)  # frame indices of the three parts


def _motion(i):
    """A face swaying for two seconds, then a face-like thing tilted past what a head does, then nothing."""
    return {"dx": 6 * np.sin(i / 6), "angle": 4 * np.sin(i / 9)} if i in FACE else {"angle": 65}


@pytest.fixture(scope="module")
def leaving_clip(tmp_path_factory, astronaut):
    return camera_clip(tmp_path_factory.mktemp("leaving") / "leaving.mp4", astronaut, 150, FPS, _motion,
                       blank=GONE)


@pytest.fixture
def points(astronaut_landmarks):
    return astronaut_landmarks.copy()


def _gate(points):
    """A gate that has followed the face for a few frames and took it as the neutral pose."""
    gate = FaceGate()
    for i in range(3):
        gate.check(points, (i - 3) / FPS)
    gate.set_neutral(points)
    return gate


def test_a_face_like_the_neutral_passes_and_implausible_ones_do_not(points):
    centre = points[SKULL, :2].mean(0)  # the head's centre stays: only its size or shape changes
    scaled = lambda k, ky=None: np.column_stack([centre + (points[:, :2] - centre) * [k, ky or k],  # noqa: E731
                                                points[:, 2] * k])
    gate = _gate(points)
    assert gate.check(points + [3, 2, 0], 1 / FPS) is None  # the head moved a little
    assert gate.check(scaled(1.1), 2 / FPS) is None  # leaned in a little
    assert _gate(points).check(scaled(0.25), 1 / FPS) == Implausible.SIZE  # a head a quarter of the size
    assert _gate(points).check(scaled(1.0, 0.5), 1 / FPS) == Implausible.SHAPE  # squashed to half its height
    eyes = inter_ocular(points)
    sheared = points.copy()
    sheared[:, 0] += 0.5 * eyes * (points[:, 1] > centre[1])  # the lower face half an eye width aside
    assert _gate(points).check(sheared, 1 / FPS) == Implausible.SHAPE
    assert _gate(points).check(points + [eyes, 0, 0], 1 / FPS) == Implausible.SPEED  # 30 eye widths a second


def test_a_face_that_comes_back_counts_after_a_few_plausible_frames(points):
    gate = _gate(points)
    gate.lost()
    verdicts = [gate.check(points, (1 + i) / FPS) for i in range(4)]
    assert verdicts == [Implausible.UNCONFIRMED, Implausible.UNCONFIRMED, None, None]


def test_presence_eases_out_within_half_a_second_and_back_in():
    presence = Presence()
    assert [presence.update(True, i / FPS) for i in range(12)][-1] == 1.0
    out = [presence.update(False, (12 + i) / FPS) for i in range(16)]
    assert 0 < out[0] < 1 and out[-1] == 0.0 and out.index(0.0) <= 0.5 * FPS
    rest, animated = np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 200, np.uint8)
    assert (presence.blend(rest, animated) == rest).all()
    presence.update(True, 29 / FPS)
    assert 0 < presence.blend(rest, animated).mean() < 200  # on its way back in, not a jump


def test_the_mesh_face_slides_back_to_rest_rather_than_showing_two_faces(points, avatar_256):
    engine = MeshEngine()
    engine.set_avatar(avatar_256)
    engine.calibrate(DrivingFace(np.zeros((256, 256, 3), np.uint8), points.astype(np.float32)))
    turned = points.copy()
    turned[:, 0] += 0.25 * inter_ocular(points)  # the head moved aside
    animated = engine.animate(DrivingFace(np.zeros((256, 256, 3), np.uint8), turned.astype(np.float32)))
    halfway = engine.ease(0.5)
    rest = avatar_256.astype(np.float32)
    assert np.array_equal(engine.ease(0.0), avatar_256) and np.array_equal(engine.ease(1.0), animated)
    # Half-way a cross-fade would be the mean of the two pictures; the eased face is one sharp face between.
    crossfade = (animated.astype(np.float32) + rest) / 2
    sharpness = lambda image: cv2.Laplacian(image.astype(np.float32), cv2.CV_32F).var()  # noqa: E731
    assert sharpness(halfway) > 1.2 * sharpness(crossfade)
    assert 0 < np.abs(halfway.astype(np.float32) - rest).mean() < np.abs(animated.astype(np.float32) - rest).mean()


def _at_rest_after(pictures: dict[int, np.ndarray], rest: np.ndarray, start: int) -> list[float]:
    """The mean difference to the rest picture, in 8-bit levels, of each picture from ``start`` on."""
    return [float(np.abs(pictures[i].astype(np.float32) - rest).mean()) for i in sorted(pictures) if i >= start]


def test_live_the_picture_eases_to_rest_and_a_tilted_face_like_thing_never_animates(leaving_clip, avatar_256):
    pictures, events = {}, []
    sink = CallbackSink(lambda frame: pictures.__setitem__(frame.index, frame.avatar) if frame.index >= 0 else None)
    pipeline = LivePipeline(FrameSource(leaving_clip), MeshEngine(), avatar_256, [sink], on_event=events.append)
    pipeline.calibrate()
    pipeline.start()
    pipeline.wait(timeout=60)
    pipeline.stop()
    rest = avatar_256.astype(np.float32)
    animated = _at_rest_after({i: p for i, p in pictures.items() if i in FACE}, rest, 10)
    assert max(animated) > 3  # the face did move the avatar before it left
    assert max(_at_rest_after(pictures, rest, TILTED.start + FPS // 2)) <= 3  # at rest within half a second
    said = [e.message for e in events if e.kind == EventKind.FACE]
    assert any("Ignoring what looks like a face" in m and "tilted" in m for m in said), said
    assert said[-1] == "No face in view: look at the camera"


def test_offline_the_same_with_every_frame_accounted_for(leaving_clip, avatar_256):
    clip = open_clip(leaving_clip)
    engine = MeshEngine()
    frames = list(call_frames(engine, avatar_256, aligned_faces(clip.frames(), engine.resolution, clip.fps),
                              fps=clip.fps))
    assert len(frames) == 150
    rest = avatar_256.astype(np.float32)
    assert max(_at_rest_after(dict(enumerate(frames[:60])), rest, 10)) > 3
    assert max(_at_rest_after(dict(enumerate(frames)), rest, TILTED.start + FPS // 2)) == 0  # exactly at rest
