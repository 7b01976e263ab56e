"""The quality benchmark (bench --quality): its sums on synthetic 68-point faces (no dlib needed), and, where
dlib is installed (requirements-bench.txt), the face model and the command end to end."""

import json
import sys
from dataclasses import replace

import cv2
import numpy as np
import pytest

from conftest import ASTRONAUT
from core.errors import UserError
from core.tools import quality_metrics as qm
from main import main


def face(mouth_open=0.05, mouth_width=0.5, eye_open=0.12, brow_height=0.35, jaw_drop=0.0) -> np.ndarray:
    """A 68-point face in the dlib order, about one unit wide, eyes on y = 0; the expressions in face sizes
    (the outer eye corners are 1 apart)."""
    p = np.zeros((68, 2))
    t = np.linspace(np.pi * 0.05, np.pi * 0.95, 17)
    p[0:17] = np.c_[-0.75 * np.cos(t), 0.2 + 1.1 * np.sin(t) + jaw_drop * np.sin(t) ** 4]  # jaw, ear to ear
    for side, (first, eye_x) in enumerate(((17, -0.3), (22, 0.3))):  # brows over the eye centres
        xs = np.linspace(-0.2, 0.2, 5) + eye_x
        p[first:first + 5] = np.c_[xs, -brow_height + 0.02 * np.cos(np.linspace(-1, 1, 5))]
    p[27:31] = np.c_[np.zeros(4), np.linspace(0.05, 0.45, 4)]  # nose bridge
    p[31:36] = np.c_[np.linspace(-0.12, 0.12, 5), np.full(5, 0.55)]  # nostrils
    for first, centre in ((36, -0.3), (42, 0.3)):  # eyes: corner, two upper lids, corner, two lower lids
        half = eye_open / 2
        p[first:first + 6] = [(centre - 0.2, 0), (centre - 0.07, -half), (centre + 0.07, -half), (centre + 0.2, 0),
                              (centre + 0.07, half), (centre - 0.07, half)]
    w, y = mouth_width / 2, 0.8 + jaw_drop / 2
    outer = [(-w, y), (-w / 2, y - 0.06), (-w / 6, y - 0.07), (0, y - 0.06), (w / 6, y - 0.07), (w / 2, y - 0.06),
             (w, y), (w / 2, y + 0.08 + mouth_open), (w / 6, y + 0.09 + mouth_open), (0, y + 0.09 + mouth_open),
             (-w / 6, y + 0.09 + mouth_open), (-w / 2, y + 0.08 + mouth_open)]
    p[48:60] = outer
    h = mouth_open / 2
    p[60:68] = [(-w * 0.9, y), (-w / 3, y - h), (0, y - h), (w / 3, y - h), (w * 0.9, y), (w / 3, y + h), (0, y + h),
                (-w / 3, y + h)]
    # the eye corners are 36 (-0.5) and 45 (0.5): one face size apart
    return p


def similarity(points: np.ndarray, angle: float = 0.0, scale: float = 1.0, shift=(0.0, 0.0)) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return scale * points @ np.array([[c, s], [-s, c]]) + np.asarray(shift)


def test_the_synthetic_face_measures_what_it_was_built_with():
    values = qm.expressions(face(mouth_open=0.2, mouth_width=0.6, eye_open=0.1, brow_height=0.4))
    assert values[0] == pytest.approx(0.2)
    assert values[1] == pytest.approx(0.6)
    assert values[2] == pytest.approx(0.1)
    assert values[3] > 0.3
    assert qm.face_size(face()) == pytest.approx(1.0)


def test_a_rigidly_moved_face_has_no_distortion_and_a_deformed_one_has():
    rest = face()
    moved = similarity(rest, angle=0.3, scale=2.5, shift=(100, 40))
    assert qm.procrustes_residual(moved[qm.RIGID], rest[qm.RIGID]) < 1e-9
    squashed = moved * [1.0, 0.8]  # flattened: not a similarity
    assert qm.procrustes_residual(squashed[qm.RIGID], rest[qm.RIGID]) > 0.05
    lopsided = np.random.default_rng(1).normal(size=(30, 2))  # no symmetry: a mirror image is another shape
    assert qm.procrustes_residual(lopsided * [-1.0, 1.0], lopsided) > 0.1


def test_distortion_is_relative_to_the_drivers_own_and_skips_frames_the_driver_held_still():
    rest = face()
    driver = np.array([face(jaw_drop=j) for j in (0.0, 0.0, 0.1, 0.2, 0.3)])  # the real jaw deforms
    output = np.array([similarity(face(jaw_drop=2 * j), 0.1, 3.0, (50, 50)) for j in (0.0, 0.0, 0.1, 0.2, 0.3)])
    result = qm.distortion_scores(output, rest, driver)
    assert result["frames_below_floor"] == 2  # frames 0 and 1: the driver did not move, no ratio there
    assert result["ratio"]["frames"] == 3
    assert 1.5 < result["ratio"]["median"] < 2.5  # twice the jaw movement: about twice the residual
    rigid = np.array([similarity(rest, 0.05 * i, 1 + 0.1 * i, (i, -i)) for i in range(5)])
    assert qm.distortion_scores(rigid, rest, driver)["ratio"]["median"] == pytest.approx(0, abs=1e-6)


def test_a_scaled_mouth_correlates_fully_with_the_gain_of_its_scale():
    rng = np.random.default_rng(0)
    opening = rng.uniform(0, 0.3, 40)
    brows = rng.uniform(0.3, 0.45, 40)
    driver = np.array([face(mouth_open=m, brow_height=b) for m, b in zip(opening, brows)])
    # the avatar: another size and place, half the mouth opening, the brows the wrong way, eyes and width fixed
    output = np.array([similarity(face(mouth_open=m / 2, brow_height=0.75 - b), 0.2, 4.0, (200, 100))
                       for m, b in zip(opening, brows)])
    result = qm.expression_scores(driver, output)
    assert result["mouth_open"]["correlation"] == pytest.approx(1.0, abs=1e-3)
    assert result["mouth_open"]["gain"] == pytest.approx(0.5, abs=1e-3)
    assert result["brow_height"]["correlation"] < -0.99
    assert result["mouth_width"]["correlation"] is None  # neither face varied: no correlation to speak of
    assert result["frames"] == 40


def test_expression_scores_use_only_frames_where_both_faces_were_found():
    driver = np.array([face(mouth_open=m) for m in np.linspace(0, 0.3, 10)])
    output = driver.copy()
    output[3] = np.nan
    driver[7] = np.nan
    result = qm.expression_scores(driver, output)
    assert result["frames"] == 8 and result["mouth_open"]["correlation"] == pytest.approx(1.0)


def test_jitter_is_zero_for_steady_motion_and_counts_shake():
    steady = np.array([face() + [3.0 * i, 0] for i in range(10)])
    shaky = steady + np.array([[0.05 * (-1) ** i, 0] for i in range(10)])[:, None, :]
    result = qm.jitter_scores(shaky, steady)
    assert result["driver"]["speed"] == pytest.approx(3.0)  # face size 1: three face sizes a frame
    assert result["driver"]["shake"] == pytest.approx(0, abs=1e-9)
    assert result["output"]["shake"] == pytest.approx(0.2)  # second difference of +-0.05
    assert result["shake_ratio"] is None  # the driver did not shake at all: no ratio


def test_identity_distance_to_the_avatar_and_the_references():
    avatar = np.zeros(128)
    output = np.zeros((4, 128))
    output[1, 0] = 0.3
    output[2] = np.nan
    output[3, 0] = 0.8
    driver = np.zeros((4, 128))
    driver[2, 0] = 0.2
    result = qm.identity_scores(avatar, output, driver, rest=avatar + 0.01)
    assert result["frames"] == 3 and result["over_0.6"] == 1
    assert result["mean"] == pytest.approx(1.1 / 3, abs=1e-3) and result["max"] == 0.8
    assert result["rest_vs_avatar"] == pytest.approx(0.113, abs=1e-3)
    assert result["driver_vs_own_neutral"]["mean"] == pytest.approx(0.05)  # the first face: none given
    from_neutral = qm.identity_scores(avatar, output, driver, neutral=2)  # the animation's neutral frame
    assert from_neutral["driver_vs_own_neutral"]["mean"] == pytest.approx(0.15)


def test_face_loss_lists_each_second_without_a_face_and_what_was_shown_at_its_end():
    driver = np.array([True] * 5 + [False] * 12 + [True] * 3 + [False] * 4)
    output = np.array([True] * 5 + [False] * 12 + [False, True, True] + [True] * 4)
    difference = np.r_[np.full(5, 20.0), np.linspace(20, 0, 12), np.full(3, 15.0), np.full(4, 30.0)]
    result = qm.face_loss_scores(driver, output, difference, fps=10)
    lost = result["driver_no_face"]
    assert lost["frames"] == 16
    assert lost["runs_of_a_second_or_more"] == [{"start": 5, "frames": 12, "last_second_max": pytest.approx(16.36,
                                                                                                            abs=0.01)}]
    assert result["output_no_face"] == {"frames": 13, "while_driver_had_one": 1}
    assert qm.runs(np.array([False, True, True, False, True])) == [(1, 2), (4, 1)]


def _as_mesh(faces: np.ndarray) -> np.ndarray:
    """Face-mesh landmarks (N, 478, 3) holding the given 68-point faces at the points the expressions read."""
    mesh = np.zeros((len(faces), 478, 3))
    for ibug, point in qm._MESH_OF_IBUG.items():
        mesh[:, point, :2] = faces[:, ibug]
    return mesh


def test_the_two_face_models_agreement_on_the_driver_bounds_what_an_engine_can_show():
    rng = np.random.default_rng(3)
    driver = np.array([face(mouth_open=m, brow_height=b) for m, b in rng.uniform([0, 0.3], [0.3, 0.4], (12, 2))])
    output = driver * 2
    agreeing = qm.ibug_from_mesh(_as_mesh(driver))
    assert np.isnan(agreeing[:, 0]).all() and np.allclose(agreeing[:, 36], driver[:, 36])
    scores = qm.expression_scores(driver, output, agreeing)
    assert scores["mouth_open"]["models_agree"] == pytest.approx(1.0)
    assert scores["overall"]["models_agree"] is not None
    # The engine's face model sees another mouth (its own noise): the ceiling falls, the engine's score stands.
    other = np.array([face(mouth_open=m) for m in rng.uniform(0, 0.3, 12)])
    other[4] = np.nan  # a frame it missed
    scores = qm.expression_scores(driver, output, qm.ibug_from_mesh(_as_mesh(other)))
    assert abs(scores["mouth_open"]["models_agree"]) < 0.8 and scores["mouth_open"]["correlation"] == pytest.approx(1)
    assert "models_agree" not in qm.expression_scores(driver, output)["mouth_open"]


def test_the_report_holds_every_metric_even_with_frames_without_faces():
    driver = np.array([face(mouth_open=m) for m in np.linspace(0, 0.3, 8)])
    output = driver * 2
    output[2] = np.nan
    descriptors = np.zeros((8, 128))
    report = qm.quality_report(np.zeros(128), face(mouth_open=0) * 2, np.zeros(128), driver, descriptors, output,
                               descriptors, np.zeros(8), fps=25)
    assert set(report) == {"identity", "distortion", "expression", "jitter", "driver_no_face", "output_no_face"}
    json.dumps(report)  # plain numbers and None only
    assert report["output_no_face"]["frames"] == 1


def test_without_dlib_the_benchmark_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib raises ImportError
    from core.tools.quality import FaceModel

    with pytest.raises(UserError, match="pip install -r requirements-bench.txt"):
        FaceModel()


@pytest.mark.parametrize("argv, message", [
    (["bench", "--quality"], "--quality needs --driving"),
    (["bench", "--driving", "clip.mp4"], "--driving: only with --quality"),
])
def test_bench_quality_options_are_checked(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_dlib_sees_the_astronaut_and_knows_her_again(astronaut):
    pytest.importorskip("dlib")
    from core.tools.quality import FaceModel

    model = FaceModel()
    first = model.measure(astronaut)
    assert first is not None and first.landmarks.shape == (68, 2) and first.descriptor.shape == (128,)
    shifted = model.measure(np.roll(astronaut, 20, axis=1))
    assert np.linalg.norm(first.descriptor - shifted.descriptor) < 0.2
    assert model.measure(np.full((200, 200, 3), 128, np.uint8)) is None
    elsewhere = replace(first, centre=(first.centre[0] + 2 * first.width, first.centre[1]))
    assert model.measure(astronaut, near=elsewhere) is None  # not where the avatar's face is: not hers
    assert model.measure(astronaut, near=first) is not None
    # A small face's landmarks are placed on it enlarged: where the big face's are, at its scale.
    small = model.measure(cv2.resize(astronaut, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA))
    assert small is not None and np.abs(small.landmarks * 4 - first.landmarks).mean() < 0.05 * first.width


def test_bench_quality_scores_the_mesh_engine_end_to_end(capsys, driving_clip):
    pytest.importorskip("dlib")
    code = main(["bench", "--quality", "--driving", str(driving_clip), "--avatar", str(ASTRONAUT), "--frames", "4",
                 "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out)
    assert result["engine"] == "mesh" and result["frames"] == 4 and result["avatar"] == "astronaut.png"
    assert result["identity"]["frames"] == 4 and result["identity"]["mean"] < 0.6
    assert result["output_no_face"]["frames"] == 0
