"""The quality benchmark (``bench --quality``): an engine's call picture, rendered as ``animate`` renders it,
scored frame by frame by a face model independent of the one that drives the engine: dlib's 68 landmarks and
its 128-d identity descriptor (``requirements-bench.txt``; never a runtime requirement). The sums are in
``core.tools.quality_metrics``."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from core.compose.compositor import OutputSettings
from core.engines.base import Engine
from core.errors import UserError
from core.live.builder import prepare_avatar
from core.media.images import read_image
from core.media.video_io import Clip
from core.tools.animate import aligned_faces, call_frames, most_neutral_face
from core.tools.quality_metrics import ibug_from_mesh, quality_report

INSTALL = "install them with: python -m pip install -r requirements-bench.txt (dlib-bin, face-recognition-models)"
_MODELS = {"landmarks": "shape_predictor_68_face_landmarks.dat",
           "identity": "dlib_face_recognition_resnet_model_v1.dat"}
# dlib's HOG detector finds faces of 80 pixels and more: small frames are enlarged to this long side before
# detecting, large ones reduced to at most twice it; landmarks and descriptors are taken on the frame as it is.
_DETECT_SIDE = 480
# dlib's shape predictor places its 68 points on the face at the size it finds it; on a face a few dozen pixels
# wide they fall on whole pixels and its lips' and lids' small motions drown (carphone's face, 47 pixels: its two
# face models' mouth widths correlated 0.01, 0.24 read at three times the size). A smaller face is enlarged to
# this width for its landmarks; its identity descriptor is taken as before.
_LANDMARK_FACE_WIDTH = 150


@dataclass(frozen=True)
class Face:
    landmarks: np.ndarray  # (68, 2) float, pixels
    descriptor: np.ndarray  # (128,) float
    centre: tuple[float, float]  # the detection's box, pixels
    width: float


class FaceModel:
    """dlib's frontal face detector, 68-point shape predictor and identity network. Raises UserError saying
    how to install them when they are missing."""

    def __init__(self):
        try:
            import dlib
        except ImportError:
            raise UserError("bench --quality needs dlib and its face models", INSTALL) from None
        spec = importlib.util.find_spec("face_recognition_models")  # its __init__ needs pkg_resources: not run
        folder = Path(next(iter(spec.submodule_search_locations)), "models") if spec else None
        paths = {key: folder / name for key, name in _MODELS.items()} if folder else {}
        if not paths or not all(path.is_file() for path in paths.values()):
            raise UserError("bench --quality: the face-recognition-models package is missing", INSTALL)
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._shapes = dlib.shape_predictor(str(paths["landmarks"]))
        self._identity = dlib.face_recognition_model_v1(str(paths["identity"]))

    def measure(self, rgb: np.ndarray, near: Face | None = None) -> Face | None:
        """The largest face in an RGB uint8 image, or None. With ``near``: only a face whose centre is within
        ``near``'s width of ``near``'s centre counts (in the call picture the animated face stays in its
        square; a "face" that dlib sees in the avatar's clothes is not it)."""
        rect = self._detect(rgb, near)
        if rect is None:
            return None
        shape = self._shapes(rgb, rect)
        landmarks = self._landmarks(rgb, rect) if rect.width() < _LANDMARK_FACE_WIDTH else np.array(
            [(p.x, p.y) for p in shape.parts()], float)
        centre = rect.center()
        return Face(landmarks, np.array(self._identity.compute_face_descriptor(rgb, shape), float),
                    (float(centre.x), float(centre.y)), float(rect.width()))

    def _landmarks(self, rgb: np.ndarray, rect) -> np.ndarray:
        """The 68 points of the face in ``rect``, placed on the face enlarged to _LANDMARK_FACE_WIDTH."""
        scale = _LANDMARK_FACE_WIDTH / max(rect.width(), 1)
        margin = rect.width()  # enough of the head around the box for the predictor's features
        x0, y0 = max(rect.left() - margin, 0), max(rect.top() - margin, 0)
        region = rgb[y0:rect.bottom() + margin, x0:rect.right() + margin]
        big = cv2.resize(region, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        box = self._dlib.rectangle(*(int(round(v * scale)) for v in (rect.left() - x0, rect.top() - y0,
                                                                       rect.right() - x0, rect.bottom() - y0)))
        shape = self._shapes(big, box)
        return np.array([(p.x, p.y) for p in shape.parts()], float) / scale + (x0, y0)

    def _detect(self, rgb: np.ndarray, near: Face | None):
        long_side = max(rgb.shape[:2])
        scale = _DETECT_SIDE / long_side if long_side < _DETECT_SIDE else min(1.0, 2 * _DETECT_SIDE / long_side)
        small = rgb if scale == 1 else cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA
                                                  if scale < 1 else cv2.INTER_CUBIC)
        for upsample in (0, 1):
            found = [self._dlib.rectangle(*(int(round(v / scale)) for v in (r.left(), r.top(), r.right(),
                                                                             r.bottom())))
                     for r in self._detector(small, upsample)]
            if near is not None:
                found = [r for r in found if np.hypot(r.center().x - near.centre[0],
                                                      r.center().y - near.centre[1]) <= near.width]
            if found:
                return max(found, key=lambda r: r.area())
        return None


def check_face_model() -> None:
    """Fail early, before an engine loads, when dlib or its models are missing."""
    FaceModel()


def score_quality(engine: Engine, avatar_path: Path, clip: Clip, frames: int | None = None,
                  progress: bool = True, neutral: str = "neutral") -> dict:
    """Animate ``avatar_path`` with ``engine`` from ``clip`` (its first ``frames`` frames; all by default) into
    the call picture, as ``animate`` does (``neutral``: its ``--calibrate``), and score every frame against the
    avatar and the driver."""
    model = FaceModel()
    avatar, compositor = prepare_avatar(avatar_path, engine.resolution, output=OutputSettings(size=None))
    portrait = model.measure(read_image(avatar_path))
    rest_picture = compositor.compose(avatar, blend=not engine.pinned_border)
    rest = model.measure(rest_picture)
    if portrait is None or rest is None:
        raise UserError(f"{avatar_path}: dlib finds no face in this avatar"
                        + ("" if portrait is None else " as the call picture shows it at rest"),
                        "the quality benchmark needs a portrait its face model can see; choose another")
    driver: list[Face | None] = []

    def driving():
        for rgb in islice(clip.frames(), frames):
            driver.append(model.measure(rgb))
            yield rgb

    output: list[Face | None] = []
    rest_difference = []
    rest_float = rest_picture.astype(np.float32)
    total = min(frames or clip.frame_count, clip.frame_count) or None
    found = (most_neutral_face(aligned_faces(islice(clip.frames(), frames), engine.resolution, clip.fps))
             if neutral == "neutral" else None)
    driver_mesh: list[np.ndarray | None] = []  # the engines' own face model's reading of the same frames

    def read_by_mesh(faces):
        for face in faces:
            driver_mesh.append(None if face is None or face.landmarks is None else face.landmarks)
            yield face

    pictures = call_frames(engine, avatar, read_by_mesh(aligned_faces(driving(), engine.resolution, clip.fps)),
                           compositor, clip.fps, found and found[1])
    for picture in tqdm(pictures, total=total, unit="frame", desc="quality", disable=None if progress else True):
        output.append(model.measure(picture, near=rest))
        rest_difference.append(float(np.abs(picture.astype(np.float32) - rest_float).mean()))
    if not output:
        raise UserError(f"{clip.path}: no frames to score")
    report = quality_report(portrait.descriptor, rest.landmarks, rest.descriptor,
                            _landmarks(driver), _descriptors(driver), _landmarks(output), _descriptors(output),
                            np.array(rest_difference), clip.fps, found[0][0] if found else None,
                            _mesh_landmarks(driver_mesh))
    return {"engine": engine.name, "device": engine.device, "driving": Path(clip.path).name,
            "avatar": Path(avatar_path).name,
            "calibrate": neutral,  # the frames the neutral pose was composed from; None: the first with a face
            "neutral_frames": dict(zip(("eyes", "mouth"), found[0])) if found else None,
            "frames": len(output), "fps": round(clip.fps, 3), "output_size": "x".join(map(str, compositor.size)),
            "face_model": "dlib " + _dlib_version() + " (HOG detector, 68 landmarks, resnet descriptor; in the "
                          "output, only a face within one face width of the avatar's at rest)",
            **report}


def _landmarks(faces: list[Face | None]) -> np.ndarray:
    return np.array([f.landmarks if f else np.full((68, 2), np.nan) for f in faces]).reshape(len(faces), 68, 2)


def _mesh_landmarks(faces: list[np.ndarray | None]) -> np.ndarray:
    return np.array([ibug_from_mesh(f.astype(float)) if f is not None else np.full((68, 2), np.nan)
                     for f in faces]).reshape(len(faces), 68, 2)


def _descriptors(faces: list[Face | None]) -> np.ndarray:
    return np.array([f.descriptor if f else np.full(128, np.nan) for f in faces]).reshape(len(faces), 128)


def _dlib_version() -> str:
    import dlib

    return getattr(dlib, "__version__", "?")
