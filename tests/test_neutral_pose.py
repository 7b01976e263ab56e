"""Offline, motion is measured from the clip's most neutral face, not from whatever its first frame shows."""

import numpy as np

from core.engines.mesh import MeshEngine
from core.face.neutrality import neutral_distance
from core.frames import DrivingFace
from core.tools.animate import call_frames, most_neutral_face
from expressions import close_eyes, open_mouth


def _rolled(points: np.ndarray, degrees: float) -> np.ndarray:
    angle = np.radians(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    out = points.copy()
    centre = points[:, :2].mean(0)
    out[:, :2] = (points[:, :2] - centre) @ rotation.T + centre
    return out


def test_each_way_off_a_relaxed_face_counts(astronaut_landmarks):
    relaxed = astronaut_landmarks  # frontal, upright, eyes open; her smile parts her lips a little
    rest = neutral_distance(relaxed)
    assert rest < 2
    for name, off in (("mouth open", open_mouth(relaxed, 0.3)), ("eyes shut", close_eyes(relaxed, 0.9)),
                      ("rolled", _rolled(relaxed, 15))):
        assert neutral_distance(off) > rest + 1, name


def test_the_most_neutral_frame_is_found_wherever_it_is(astronaut_landmarks):
    relaxed = astronaut_landmarks
    image = np.zeros((256, 256, 3), np.uint8)
    frames = [DrivingFace(image, p.astype(np.float32)) for p in
              (open_mouth(relaxed, 0.3), close_eyes(relaxed, 0.9), relaxed, _rolled(relaxed, 15))]
    index, face = most_neutral_face([None, *frames, DrivingFace(image)])  # no face; a face without landmarks
    assert index == 3 and face is frames[2]
    assert most_neutral_face([None, DrivingFace(image)]) is None


def test_call_frames_measure_motion_from_the_neutral_given(avatar_256):
    engine = MeshEngine()
    engine.set_avatar(avatar_256)
    points = engine._image_landmarker.detect(avatar_256)[0].astype(np.float64)
    relaxed, laughing = (DrivingFace(avatar_256, p.astype(np.float32)) for p in (points, open_mouth(points, 0.3)))
    # From the first frame: a clip that starts laughing makes its laugh the rest, and the relaxed face a closing.
    first = list(call_frames(engine, avatar_256, [laughing, relaxed]))
    assert np.abs(first[0].astype(int) - avatar_256).max() <= 1
    assert np.abs(first[1].astype(int) - avatar_256).mean() > 0.5
    # From the neutral: the relaxed face is the avatar at rest, and the laugh opens her mouth.
    given = list(call_frames(engine, avatar_256, [laughing, relaxed], neutral=relaxed))
    assert np.abs(given[1].astype(int) - avatar_256).max() <= 1
    assert np.abs(given[0].astype(int) - avatar_256).mean() > 0.5
