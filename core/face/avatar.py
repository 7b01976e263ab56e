"""Avatar preparation: any portrait, its face found and framed like the driving crops, sized for the engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.face.alignment import AlignmentSettings, face_crop
from core.media.crop import Crop
from core.errors import UserError
from core.media.images import read_image, resize_square
from core.face.landmarks import FaceLandmarker


# What to do about an avatar without a face the detector can see. The whole image centred helps an engine that
# animates any picture (FOMM); the mesh engine moves the face mesh it finds, so for it the advice must not offer
# --avatar-whole-image, which would only lead to its own "needs a face" error.
NO_FACE_ADVICE = "pick a portrait with a clear frontal face, or use the whole image centred (--avatar-whole-image)"
NO_FACE_ADVICE_MESH = ("pick a portrait with a clear frontal face: the mesh engine moves the face it finds, so "
                       "--avatar-whole-image cannot help it (--engine fomm can use the whole image)")


def locate_avatar(rgb: np.ndarray, whole_image: bool = False, name: str = "avatar",
                  settings: AlignmentSettings = AlignmentSettings(), needs_face: bool = False) -> Crop:
    """Where the avatar's face (the largest, if several) is framed like the driving crops, in portrait pixels.

    ``whole_image``: skip face finding and use the image centred (for faces the detector cannot see).
    ``needs_face``: the engine needs a real face (``needs_avatar_face``), which the advice must not promise.
    """
    h, w = rgb.shape[:2]
    if whole_image:
        return Crop(w / 2, h / 2, min(h, w))
    landmarker = FaceLandmarker(video=False, max_faces=4)
    try:
        faces = landmarker.detect(rgb) or landmarker.detect(rgb, Crop(w / 2, h / 2, min(h, w)))
    finally:
        landmarker.close()
    if not faces:
        raise UserError(f"{name}: no face found in the image", NO_FACE_ADVICE_MESH if needs_face else NO_FACE_ADVICE)
    return face_crop(faces[0], settings)


def frame_avatar(rgb: np.ndarray, size: int, whole_image: bool = False, name: str = "avatar",
                 needs_face: bool = False) -> np.ndarray:
    """The avatar's face framed and resized to size x size."""
    return locate_avatar(rgb, whole_image, name, needs_face=needs_face).extract(rgb, size)


def load_avatar(path: str | Path, size: int, align: bool = True, whole_image: bool = False,
                needs_face: bool = False) -> np.ndarray:
    """Read and frame an avatar file; ``align`` False resizes the whole image (``--no-align``)."""
    rgb = read_image(path)
    if not align:
        return resize_square(rgb, size)
    return frame_avatar(rgb, size, whole_image, name=str(path), needs_face=needs_face)


def load_portrait(path: str | Path, whole_image: bool = False, needs_face: bool = False) -> tuple[np.ndarray, Crop]:
    """An avatar file as the whole portrait and where its face crop lies in it (for pasting back)."""
    rgb = read_image(path)
    return rgb, locate_avatar(rgb, whole_image, name=str(path), needs_face=needs_face)
