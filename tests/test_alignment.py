"""Face alignment and avatar preparation, on a real face."""

import cv2
import numpy as np
import pytest

from conftest import moved
from core.face.alignment import FaceAligner, face_crop
from core.face.avatar import frame_avatar, load_avatar
from core.errors import UserError
from core.face.landmarks import FaceLandmarker, inter_ocular
from core.face.smoothing import OneEuroFilter


def _on_canvas(face, size=(1280, 720), at=(384, 104)):
    canvas = np.full((size[1], size[0], 3), 128, np.uint8)
    canvas[at[1]:at[1] + face.shape[0], at[0]:at[0] + face.shape[1]] = face
    return canvas


def test_small_face_in_a_wide_frame_is_found_and_framed_like_vox(astronaut):
    aligner = FaceAligner(256)
    result = None
    for i in range(5):
        result = aligner.process(_on_canvas(astronaut), i / 30)
    assert result is not None
    points = result.face.landmarks
    assert result.face.image.shape == (256, 256, 3)
    centre = points[:, :2].mean(0)
    assert np.all(np.abs(centre - 128) < 35)  # face centred
    box = points[:, :2].max(0) - points[:, :2].min(0)
    assert 0.4 < box.max() / 256 < 0.6  # the face takes about half the crop


def test_locked_crop_holds_still_so_head_motion_shows_inside_it(astronaut):
    aligner = FaceAligner(256)
    for i in range(5):
        aligner.process(_on_canvas(astronaut), i / 30)
    aligner.lock()
    before = aligner.process(_on_canvas(astronaut), 5 / 30)
    after = None
    for i in range(6, 16):
        after = aligner.process(_on_canvas(astronaut, at=(414, 104)), i / 30)
    assert after.crop == before.crop
    shift = after.face.landmarks[:, 0].mean() - before.face.landmarks[:, 0].mean()
    assert shift == pytest.approx(30 * 256 / before.crop.size, rel=0.25)


def test_locked_crop_recentres_smoothly_when_the_face_nears_the_edge(astronaut):
    aligner = FaceAligner(256)
    for i in range(5):
        aligner.process(_on_canvas(astronaut), i / 30)
    aligner.lock()
    start = aligner.process(_on_canvas(astronaut), 5 / 30).crop
    # The head moves to the right edge at a head's speed (a jump there would be no face: test_plausibility).
    path = [min(384 + 8 * (i + 1), 640) for i in range(40)]
    steps = [aligner.process(_on_canvas(astronaut, at=(x, 104)), (6 + i) / 30).crop.cx for i, x in enumerate(path)]
    jumps = np.diff([start.cx] + steps)
    assert steps[-1] > start.cx + 100  # it followed
    assert jumps.max() < 0.5 * (steps[-1] - start.cx)  # gradually, not in one jump


def test_no_face_gives_none_and_the_face_is_found_again(astronaut):
    aligner = FaceAligner(256)
    assert aligner.process(np.full((720, 1280, 3), 90, np.uint8), 0.0) is None
    assert aligner.process(_on_canvas(astronaut), 0.1) is not None


def test_one_euro_filter_removes_jitter_but_follows_motion():
    rng = np.random.default_rng(0)
    still = OneEuroFilter(min_cutoff=1.0, beta=0.05)
    outputs = [still(np.array([100.0 + rng.normal(0, 2)]), t / 30) for t in range(120)]
    assert np.std(outputs[30:]) < 0.5 * 2  # jitter at least halved
    moving = OneEuroFilter(min_cutoff=1.0, beta=0.05)
    trace = [moving(np.array([10.0 * t]), t / 30)[0] for t in range(60)]
    assert 10.0 * 59 - trace[-1] < 30  # a fast move lags by well under a second's motion


def test_avatar_formats_rgba_grayscale_and_huge(tmp_path, astronaut):
    bgr = cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR)
    rgba = np.dstack([bgr, np.full(bgr.shape[:2], 255, np.uint8)])
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    cv2.imwrite(str(tmp_path / "g.jpg"), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(tmp_path / "w.webp"), bgr)
    cv2.imwrite(str(tmp_path / "huge.jpg"), cv2.resize(bgr, (6000, 6000)), [cv2.IMWRITE_JPEG_QUALITY, 60])
    for name in ("a.png", "g.jpg", "w.webp", "huge.jpg"):
        avatar = load_avatar(tmp_path / name, 256)
        assert avatar.shape == (256, 256, 3) and avatar.dtype == np.uint8, name


def test_avatar_without_a_face_is_a_clear_error_unless_whole_image(tmp_path):
    gradient = np.tile(np.linspace(0, 255, 400, dtype=np.uint8)[None, :, None], (300, 1, 3))
    with pytest.raises(UserError, match="no face found.*--avatar-whole-image"):
        frame_avatar(gradient, 256, name="gradient.png")
    assert frame_avatar(gradient, 256, whole_image=True).shape == (256, 256, 3)


def test_several_faces_take_the_largest(astronaut):
    canvas = np.full((700, 1000, 3), 200, np.uint8)
    canvas[50:650, 380:980] = cv2.resize(astronaut, (600, 600))
    small_gray = cv2.cvtColor(cv2.cvtColor(cv2.resize(astronaut, (260, 260)), cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    canvas[400:660, 20:280] = small_gray
    framed = frame_avatar(canvas, 256).astype(np.float32)
    saturation = np.abs(framed[..., 0] - framed[..., 2]).mean()
    assert saturation > 10  # the large colour face was framed, not the small grey one


def _shape_change(a: np.ndarray, b: np.ndarray) -> float:
    """Mean landmark distance after the best similarity fit of one mesh onto the other, in eye distances."""
    a, b = a[:, :2] - a[:, :2].mean(0), b[:, :2] - b[:, :2].mean(0)
    u, s, vt = np.linalg.svd(a.T @ b)
    fitted = s.sum() / (a ** 2).sum() * a @ (u @ vt)
    return float(np.abs(fitted - b).mean()) / inter_ocular(b)


def test_a_moving_face_keeps_its_shape_from_frame_to_frame(camera_video):
    """A face swaying and tilting changes pose, not shape: no frame may carry a distorted mesh."""
    from core.media.video_io import open_clip

    aligner = FaceAligner(256)
    meshes = [aligner.process(rgb, i / 30).landmarks for i, rgb in enumerate(open_clip(camera_video).frames())]
    changes = [_shape_change(a, b) for a, b in zip(meshes, meshes[1:])]
    assert max(changes) < 0.05, f"frame {int(np.argmax(changes)) + 1}: shape changed by {max(changes):.2f}"
