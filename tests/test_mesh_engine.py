"""The mesh engine on a real face: landmarks found on its output follow the driving motion."""

import cv2
import numpy as np
import pytest

from conftest import moved
from core.frames import DrivingFace
from core.engines.mesh import MeshEngine, MeshOptions
from core.face.pose import similarity_3d, turn_angles
from core.errors import UserError
from core.face.landmarks import FaceLandmarker, inter_ocular
from expressions import close_eyes, eye_openness, mouth_gap, open_mouth, turned


@pytest.fixture(scope="module")
def detector():
    return FaceLandmarker(video=False)


@pytest.fixture
def engine(avatar_256, detector):
    engine = MeshEngine()
    engine.set_avatar(avatar_256)
    engine.calibrate(DrivingFace(avatar_256, detector.detect(avatar_256)[0]))
    return engine


def _drive(engine, detector, image):
    return engine.animate(DrivingFace(image, detector.detect(image)[0]))


def test_umeyama_recovers_a_known_similarity():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(40, 3))
    angle = np.radians(20)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    s, r, t = similarity_3d(points, 1.5 * points @ rotation.T + [1, 2, 3])
    assert s == pytest.approx(1.5) and np.allclose(r, rotation) and np.allclose(t, [1, 2, 3])


def test_driving_equal_to_calibration_gives_back_the_avatar(engine, detector, avatar_256):
    out = _drive(engine, detector, avatar_256)
    assert np.abs(out.astype(int) - avatar_256).max() <= 1


@pytest.mark.parametrize("motion", [{"dx": 14}, {"dy": -10}, {"angle": 12}, {"scale": 1.1},
                                    {"dx": -8, "dy": 6, "angle": -8}])
def test_output_landmarks_follow_translation_rotation_and_scale(engine, detector, avatar_256, motion):
    out = _drive(engine, detector, moved(avatar_256, **motion))
    found = detector.detect(out)[0]
    h, w = avatar_256.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), motion.get("angle", 0), motion.get("scale", 1))
    m[:, 2] += (motion.get("dx", 0), motion.get("dy", 0))
    source = detector.detect(avatar_256)[0][:, :2]
    expected = source @ m[:, :2].T + m[:, 2]
    error = np.linalg.norm(found[:, :2] - expected, axis=1).mean() / inter_ocular(found)
    assert error < 0.06, error


def test_border_stays_put_while_the_head_moves(engine, detector, avatar_256):
    out = _drive(engine, detector, moved(avatar_256, dx=12, angle=10))
    assert np.array_equal(out[0], avatar_256[0]) and np.array_equal(out[:, 0], avatar_256[:, 0])
    assert np.abs(out[-1].astype(int) - avatar_256[-1]).max() <= 2


def test_mouth_opens_with_a_dark_interior(engine, detector, avatar_256):
    neutral = detector.detect(avatar_256)[0]
    out = engine.animate(DrivingFace(avatar_256, open_mouth(neutral, 0.3)))
    found = detector.detect(out)[0]
    assert mouth_gap(found) > mouth_gap(neutral) + 0.05
    # Between the lips: the avatar's own teeth at the top, then a dark interior, not lips stretched over skin.
    line = [found[13, :2] + t * (found[14, :2] - found[13, :2]) for t in np.linspace(0, 1, 30)]
    brightness = np.array([out[int(y), int(x)].mean() for x, y in line])
    assert (brightness < 70).mean() > 0.3
    # The inside is in the avatar's own colours (her lips' warm red, darker), not purple-black: red first, and
    # green at least blue as in her lips, and lit enough to read as a mouth rather than a hole.
    dark = np.array([out[int(y), int(x)] for x, y in line])[brightness < 70].astype(float)
    assert (dark[:, 0] > 1.3 * dark[:, 1]).all() and (dark[:, 1] >= dark[:, 2] - 1).all()
    assert np.median(dark.mean(1)) > 20


def test_an_open_mouth_shows_her_upper_teeth_as_far_as_teeth_reach(engine, detector, avatar_256):
    neutral = detector.detect(avatar_256)[0]
    out = engine.animate(DrivingFace(avatar_256, open_mouth(neutral, 0.3)))
    moved = engine._last_motion[0]
    upper, lower = moved[13, :2], moved[14, :2]
    line = np.array([out[int(round(y)), int(round(x))].mean() for x, y in
                     (upper + t * (lower - upper) for t in np.linspace(0, 1, 60))])
    teeth = np.argmax(line < 110) / 59 * np.linalg.norm(lower - upper)  # the light run down from the upper lip
    # Carried with the lip at the height her parted lips show at rest, they were a sliver (0.01 of the mouth's width).
    assert teeth > 0.08 * np.linalg.norm(moved[78, :2] - moved[308, :2])


def test_eyes_close_when_the_driver_blinks(engine, detector, avatar_256):
    neutral = detector.detect(avatar_256)[0]
    out = engine.animate(DrivingFace(avatar_256, close_eyes(neutral)))
    assert eye_openness(detector.detect(out)[0]) < 0.8 * eye_openness(neutral)
    # Shut, they read as shut: the lid covers what lay under the portrait's lash line (warped alone, 0.84).
    out = engine.animate(DrivingFace(avatar_256, close_eyes(neutral, 1.0)))
    assert eye_openness(detector.detect(out)[0]) < 0.5 * eye_openness(neutral)


@pytest.mark.parametrize("yaw", [-30, 30])
def test_a_turned_head_keeps_its_face_unfolded(engine, detector, avatar_256, yaw):
    neutral = detector.detect(avatar_256)[0].astype(np.float64)
    engine.animate(DrivingFace(avatar_256, turned(neutral, yaw).astype(np.float32)))
    _, target, _ = engine._last_motion

    def area(points):
        a, b, c = (points[engine._triangles][:, k] for k in range(3))
        return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])

    face = (engine._triangles < len(neutral)).all(1)
    before, after = area(engine._source)[face], area(target)[face]
    # Drawn with the face's whole depth, a tenth of them folded over and the far cheek's outline tore into steps.
    assert (np.sign(before) != np.sign(after)).mean() < 0.05


@pytest.mark.parametrize("degrees", [4, 20])
def test_a_nod_is_drawn_whole_when_small_and_eased_off_when_large(detector, avatar_256, degrees):
    engine = MeshEngine(MeshOptions(turn_depth=1.0))  # the nod alone, not flattened by the drawing's depth
    engine.set_avatar(avatar_256)
    neutral = detector.detect(avatar_256)[0].astype(np.float64)
    engine.calibrate(DrivingFace(avatar_256, neutral.astype(np.float32)))
    _, rotation, _ = similarity_3d(neutral, engine.moved_points(turned(neutral, pitch=degrees)))
    drawn = np.degrees(turn_angles(rotation)[1])
    limit = engine.options.nod_limit
    assert drawn == pytest.approx(degrees if degrees < limit / 2 else limit * np.tanh(degrees / limit), abs=0.6)
    assert 0 < drawn <= limit  # a warp draws a large nod as a squash: it eases off, still a nod


def test_frame_without_a_face_repeats_the_last_output(engine, detector, avatar_256):
    first = _drive(engine, detector, moved(avatar_256, dx=10))
    blank = np.full_like(avatar_256, 100)
    assert np.array_equal(engine.animate(DrivingFace(blank)), first)


def test_profile_view_does_not_tear(engine, detector, avatar_256):
    neutral = detector.detect(avatar_256)[0].astype(np.float64)
    profile = turned(neutral, yaw=70)
    out = engine.animate(DrivingFace(avatar_256, profile.astype(np.float32)))
    assert out.shape == avatar_256.shape and np.isfinite(out).all()
    assert np.array_equal(out[:, 0], avatar_256[:, 0])  # the background held


def test_avatar_much_larger_than_the_driver_gets_proportional_motion(avatar_256, detector):
    engine = MeshEngine()
    engine.set_avatar(avatar_256)
    driver = moved(avatar_256, scale=0.5)  # the driver's face half the size of the avatar's
    engine.calibrate(DrivingFace(driver, detector.detect(driver)[0]))
    out = _drive(engine, detector, moved(driver, dx=8))
    shift = detector.detect(out)[0][:, 0].mean() - detector.detect(avatar_256)[0][:, 0].mean()
    assert shift == pytest.approx(16, abs=4)  # 8 px on the small driver is 16 px on the avatar


def test_512_output(avatar_256, detector):
    big = cv2.resize(avatar_256, (512, 512), interpolation=cv2.INTER_CUBIC)
    engine = MeshEngine(MeshOptions(resolution=512))
    engine.set_avatar(big)
    engine.calibrate(DrivingFace(big, detector.detect(big)[0]))
    out = _drive(engine, detector, moved(big, dx=20))
    assert out.shape == (512, 512, 3)
    assert detector.detect(out)[0][:, 0].mean() - detector.detect(big)[0][:, 0].mean() == pytest.approx(20, abs=5)


def test_frames_without_landmarks_are_detected_by_the_engine(engine, avatar_256):
    out = engine.animate(DrivingFace(moved(avatar_256, dx=10)))
    assert np.abs(out.astype(int) - avatar_256).mean() > 2


def test_avatar_without_a_face_is_refused():
    with pytest.raises(UserError, match="mesh engine needs a face"):
        MeshEngine().set_avatar(np.full((256, 256, 3), 40, np.uint8))


def test_the_neck_gives_below_the_chin_so_the_collar_stays_with_the_body(engine, detector, avatar_256):
    # The head rises and rolls: the warp moves the hair with it, and below the chin the neck stretches from the chin
    # down, smoothly, instead of a block of collar carried along with a straight seam beneath it.
    _drive(engine, detector, moved(avatar_256, dy=-14, angle=12))
    moved_points, target, depth = engine._last_motion
    sampled = engine._backward_map(target, depth)  # per output pixel, where it samples the avatar
    shift = np.linalg.norm(sampled - engine._identity, axis=-1)
    points = engine._points
    iod = inter_ocular(points)
    chin, crown = points[152, :2], points[10, :2]
    column = int(round(chin[0]))
    below = np.arange(int(chin[1] + 0.1 * iod), min(int(chin[1] + 0.9 * iod), avatar_256.shape[0] - 1))
    head = shift[int(crown[1] - 0.3 * iod), int(round(crown[0]))]
    neck = shift[below, column]
    assert head > 10  # the head did move
    # Just under the chin the neck moves with it less than the head does (a rigid ring moved it 1.2 times as
    # much: the roll's arm), and halfway down to the collar less than half.
    assert neck[0] < 0.75 * head and neck[len(neck) // 2] < 0.5 * head
    assert np.all(np.diff(neck) < 0.2)  # the neck's stretch fades smoothly, no step: under 0.2 px per pixel
    assert np.all(np.diff(neck) <= 0.05)  # and only fades going down
