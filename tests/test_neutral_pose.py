"""Offline, motion is measured from a neutral pose composed from the clip's most relaxed eyes and mouth."""

import numpy as np

from core.engines.mesh import MeshEngine
from core.face.neutrality import composed_neutral, neutral_distances
from core.frames import DrivingFace
from core.tools.animate import call_frames, most_neutral_face
from expressions import close_eyes, open_mouth


def _rolled(points: np.ndarray, degrees: float, scale: float = 1.0) -> np.ndarray:
    angle = np.radians(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    out = points * scale
    centre = points[:, :2].mean(0)
    out[:, :2] = (points[:, :2] - centre) @ rotation.T * scale + centre + 7
    return out


def test_each_way_off_a_relaxed_face_counts_where_it_belongs(astronaut_landmarks):
    face = astronaut_landmarks  # frontal, upright, eyes open; her smile parts her lips a little
    mouth, eyes = neutral_distances(face)
    assert mouth < 2 and eyes < 1
    opened, shut, rolled = (neutral_distances(p) for p in (open_mouth(face, 0.3), close_eyes(face, 0.9),
                                                            _rolled(face, 15)))
    assert opened[0] > mouth + 1 and opened[1] == eyes
    assert shut[1] > eyes + 1 and abs(shut[0] - mouth) < 0.05
    assert rolled[0] > mouth + 1 and rolled[1] > eyes + 1


def test_a_neutral_is_composed_in_the_eyes_frame_pose(astronaut_landmarks):
    face = astronaut_landmarks
    # The same face turned, tilted and nearer: turned back into the eyes frame's pose, it is that face again.
    assert np.abs(composed_neutral(face, _rolled(face, 12, 1.1)) - face).max() < 1e-6 * np.abs(face).max()
    # The mouth and jaw come from the mouth frame, the eyes and brows from the eyes frame.
    composed = composed_neutral(close_eyes(face, 0.9), _rolled(open_mouth(face, 0.3), 12, 1.1))
    assert np.allclose(composed[[14, 152]], open_mouth(face, 0.3)[[14, 152]])  # lower lip, chin
    assert np.allclose(composed[[159, 386, 105]], close_eyes(face, 0.9)[[159, 386, 105]])  # upper lids, brow


def test_the_most_relaxed_eyes_and_mouth_are_found_wherever_they_are(astronaut_landmarks):
    face = astronaut_landmarks
    image = np.zeros((256, 256, 3), np.uint8)
    laughing, blinking = (DrivingFace(image, p.astype(np.float32)) for p in
                          (open_mouth(face, 0.3), close_eyes(face, 0.9)))
    rolled = DrivingFace(image, _rolled(face, 20).astype(np.float32))
    found = most_neutral_face([None, laughing, rolled, blinking, DrivingFace(image)])  # no face; no landmarks
    assert found[0] == (1, 3)  # the laughing frame's eyes, the blinking frame's mouth
    assert found[1].image is laughing.image
    assert np.allclose(found[1].landmarks, face, atol=1e-3 * np.abs(face).max())  # together: her relaxed face
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
