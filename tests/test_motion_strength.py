"""Motion strength: 0 % leaves the avatar at rest, 100 % is the motion as it was, 200 % moves it further."""

import cv2
import numpy as np
import pytest
import torch

from conftest import ASTRONAUT, moved
from core.engines.choice import EngineChoice
from core.engines.fomm import FommEngine
from core.engines.mesh import MeshEngine
from core.engines.remote import RemoteEngine
from core.engines.strength import MotionStrength
from core.face.landmarks import FaceLandmarker
from core.face.pose import RIGID, similarity_3d
from core.frames import DrivingFace
from expressions import mouth_gap, open_mouth
from main import main
from models.motion import strengthened


@pytest.fixture(scope="module")
def mesh_and_face(avatar_256):
    detector = FaceLandmarker(video=False)
    rest = detector.detect(avatar_256)[0]
    turned = moved(avatar_256, dx=10, dy=-6, angle=9, scale=1.06)
    driving = open_mouth(detector.detect(turned)[0], 0.25)  # the head moved, and the mouth opened
    detector.close()
    engine = MeshEngine()
    engine.set_avatar(avatar_256)
    engine.calibrate(DrivingFace(avatar_256, rest))
    yield engine, DrivingFace(turned, driving), rest
    engine.close()


def _head(engine, rest, driving) -> tuple[float, float, float]:
    """The avatar's head motion: its turn in degrees, its shift in pixels and its scale change."""
    s, r, t = similarity_3d(engine.moved_points(rest)[RIGID], engine.moved_points(driving)[RIGID])
    angle = np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1)))
    points = engine.moved_points(rest)[RIGID]
    shift = np.linalg.norm((s * points @ r.T + t).mean(0) - points.mean(0))
    return angle, shift, s


def test_the_strength_is_checked():
    assert MotionStrength.from_percent(80, 120) == MotionStrength(0.8, 1.2)
    assert MotionStrength(0.8, 1.2).percent == (80, 120)
    for head, expressions in ((-1, 100), (100, 201), (float("nan"), 100), (100, float("inf"))):
        with pytest.raises(ValueError, match="between 0 and 200"):
            MotionStrength.from_percent(head, expressions)


def test_mesh_at_full_strength_is_unchanged_and_at_zero_at_rest(mesh_and_face, avatar_256):
    engine, face, _ = mesh_and_face
    engine.set_motion(MotionStrength())
    before = engine.animate(face)
    engine.set_motion(MotionStrength(1.0, 1.0))
    assert np.array_equal(engine.animate(face), before)
    assert np.abs(before.astype(int) - avatar_256).max() > 50  # it did move
    engine.set_motion(MotionStrength(0, 0))
    assert np.abs(engine.animate(face).astype(int) - avatar_256).max() <= 1
    engine.set_motion(MotionStrength())


def test_mesh_head_strength_scales_the_turn_shift_and_scale(mesh_and_face):
    engine, face, rest = mesh_and_face
    measured = {}
    for head in (0.0, 0.5, 1.0, 2.0):
        engine.set_motion(MotionStrength(head=head))
        measured[head] = _head(engine, rest, face.landmarks)
    engine.set_motion(MotionStrength())
    angle, shift, scale = measured[1.0]
    assert angle > 5 and shift > 3 and scale > 1.02
    assert measured[0.0][0] < 0.1 and measured[0.0][1] < 0.1 and measured[0.0][2] == pytest.approx(1, abs=1e-3)
    for head in (0.5, 2.0):
        assert measured[head][0] == pytest.approx(head * angle, rel=0.05)
        assert measured[head][1] == pytest.approx(head * shift, rel=0.05)
        assert np.log(measured[head][2]) == pytest.approx(head * np.log(scale), rel=0.05)


def test_mesh_expression_strength_scales_the_expressions_not_the_head(mesh_and_face):
    engine, face, rest = mesh_and_face
    gaps, heads = {}, {}
    for expressions in (0.0, 0.5, 1.0, 2.0):
        engine.set_motion(MotionStrength(expressions=expressions))
        gaps[expressions] = mouth_gap(engine.moved_points(face.landmarks))
        heads[expressions] = _head(engine, rest, face.landmarks)
    engine.set_motion(MotionStrength())
    assert gaps[0.0] == pytest.approx(mouth_gap(rest), abs=0.01)
    assert gaps[0.0] < gaps[0.5] < gaps[1.0] < gaps[2.0]
    assert gaps[2.0] - gaps[0.0] > 1.5 * (gaps[1.0] - gaps[0.0])
    assert all(np.allclose(heads[e], heads[1.0], rtol=0.02, atol=0.2) for e in heads)  # the head moves alike


def _similar(points: torch.Tensor, angle: float, size: float, shift) -> torch.Tensor:
    """``points`` (B, K, 2) turned by ``angle`` and scaled by ``size`` about their mean, then shifted."""
    turn = torch.tensor([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], dtype=points.dtype)
    centre = points.mean(1, keepdim=True)
    return centre + size * (points - centre) @ turn.T + torch.tensor(shift, dtype=points.dtype)


def test_fomm_keypoints_split_into_the_head_and_the_rest():
    generator = torch.Generator().manual_seed(0)
    k0 = {"value": torch.rand(1, 10, 2, generator=generator) * 2 - 1,
          "jacobian": torch.eye(2) + 0.1 * torch.randn(1, 10, 2, 2, generator=generator)}
    head_only = {"value": _similar(k0["value"], 0.3, 1.2, [0.1, -0.05]),
                 "jacobian": _similar(torch.zeros(1, 1, 2), 0.3, 1.2, [0, 0]).new_tensor(
                     1.2 * np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])) @ k0["jacobian"]}
    one, half, zero = (torch.tensor([v]) for v in (1.0, 0.5, 0.0))
    same = strengthened(head_only, k0, one, one)
    assert torch.allclose(same["value"], head_only["value"], atol=1e-5)
    assert torch.allclose(same["jacobian"], head_only["jacobian"], atol=1e-5)
    assert torch.allclose(strengthened(head_only, k0, one, zero)["value"], head_only["value"], atol=1e-5)
    halfway = strengthened(head_only, k0, half, zero)
    assert torch.allclose(halfway["value"], _similar(k0["value"], 0.15, 1.2 ** 0.5, [0.05, -0.025]), atol=1e-5)
    rest = strengthened(head_only, k0, zero, zero)
    assert torch.allclose(rest["value"], k0["value"], atol=1e-6)
    assert torch.allclose(rest["jacobian"], k0["jacobian"], atol=1e-6)
    # One keypoint of ten moving alone is mostly not the head's motion: expressions scale most of it (the fit
    # of the common motion takes a quarter: its mean moves a tenth as far, and the fit turns and scales a little).
    smile = {"value": k0["value"].clone(), "jacobian": k0["jacobian"]}
    smile["value"][0, 3] += torch.tensor([0.1, 0.05])
    moved_by = lambda e: (  # noqa: E731
        strengthened(smile, k0, one, torch.tensor([e]))["value"] - k0["value"])[0, 3].norm()
    assert moved_by(0.0) < 0.3 * moved_by(1.0) and moved_by(2.0) > 1.7 * moved_by(1.0)


def test_fomm_at_full_strength_is_unchanged_at_zero_at_rest_and_further_at_double(fomm, avatar_256):
    turned = moved(avatar_256, dx=24, angle=10, scale=1.08)
    fomm.set_avatar(avatar_256)
    fomm.calibrate(DrivingFace(avatar_256))
    at_rest = fomm.animate(DrivingFace(avatar_256))
    full = fomm.animate(DrivingFace(turned))
    fomm.set_motion(MotionStrength(1.0, 1.0))
    assert np.array_equal(fomm.animate(DrivingFace(turned)), full)
    fomm.set_motion(MotionStrength(0, 0))
    assert np.abs(fomm.animate(DrivingFace(turned)).astype(int) - at_rest).max() <= 1
    # Further at 200 %: the keypoints the generator is given move twice as far from the avatar's own (nearly:
    # the head's turn and scale double exactly, the Jacobians' rest is extrapolated linearly).
    given = []
    decode = fomm.generator.decode
    fomm.generator.decode = lambda encoded, kp_driving, kp_source: given.append(
        float((kp_driving["value"] - kp_source["value"]).norm())) or decode(encoded, kp_driving, kp_source)
    for strength in (MotionStrength(), MotionStrength(2.0, 2.0), MotionStrength(2.0, 0), MotionStrength(0, 2.0)):
        fomm.set_motion(strength)
        fomm.animate(DrivingFace(turned))
    full, double, head, expressions = given
    assert double == pytest.approx(2 * full, rel=0.1)
    assert head > 1.2 * full and expressions > 0.2 * full  # each strength moves its part


def test_the_remote_worker_gets_the_strength_with_each_frame(served, tiny_checkpoint, tiny_config_path, avatar_256):
    _, pairing = served
    local = FommEngine(EngineChoice(engine="fomm", config=str(tiny_config_path), device="cpu"), tiny_checkpoint)
    remote = RemoteEngine(pairing, MeshEngine(), lossless=True)
    try:
        turned = DrivingFace(moved(avatar_256, dx=20, angle=8))
        for engine in (local, remote):
            engine.set_avatar(avatar_256)
            engine.calibrate(DrivingFace(avatar_256))
        full = remote.animate(turned)
        strength = MotionStrength(0.5, 1.5)
        for engine in (local, remote):
            engine.set_motion(strength)
        weaker = remote.animate(turned)
        assert np.abs(weaker.astype(int) - local.animate(turned)).mean() <= 1.0  # as the local engine renders it
        assert np.abs(weaker.astype(int) - full).mean() > 1.0
        assert remote.local.motion == strength  # the mesh engine that stands in while the worker is away too
    finally:
        remote.close()


@pytest.mark.parametrize("option, value, message", [
    ("--head-motion", "250", "--head-motion: 250: must be between 0 and 200 (percent)"),
    ("--expressions", "-5", "--expressions: -5: must be between 0 and 200 (percent)"),
    ("--expressions", "lots", "--expressions: 'lots' is not a percentage"),
    ("--head-motion", "nan", "--head-motion: nan: must be between 0 and 200")])
@pytest.mark.parametrize("command", ["run", "animate"])
def test_bad_strengths_on_the_command_line_are_one_error_line(capsys, tmp_path, command, option, value, message):
    argv = (["run", "--camera", "0", "--avatar", ASTRONAUT, "--record", tmp_path / "o.mp4"] if command == "run" else
            ["animate", "--avatar", ASTRONAUT, "--driving", "clip.mp4", "--out", tmp_path / "o.mp4"])
    with pytest.raises(SystemExit) as exit:
        main([str(a) for a in [*argv, option, value]])
    err = capsys.readouterr().err
    assert exit.value.code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1


def test_animate_at_zero_strength_writes_the_avatar_at_rest(capsys, tmp_path, driving_clip):
    frames = {}
    for strength in ("0", "100"):
        out = tmp_path / f"at{strength}"
        code = main(["animate", "--avatar", str(ASTRONAUT), "--driving", str(driving_clip), "--out", str(out),
                     "--engine", "mesh", "--crop-only", "--head-motion", strength, "--expressions", strength])
        assert code == 0, capsys.readouterr().err
        frames[strength] = [cv2.imread(str(p)).astype(int) for p in sorted(out.glob("*.png"))]
    rest = frames["0"][0]
    assert len(frames["0"]) == 6 and all(np.abs(f - rest).max() <= 1 for f in frames["0"])
    assert np.abs(frames["100"][-1] - rest).max() > 40  # at full strength the last frame has turned
