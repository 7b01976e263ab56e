"""Avatar preparation: any portrait, its face found and framed like the driving crops, sized for the engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.face.alignment import AlignmentSettings, face_crop
from core.media.crop import Crop
from core.errors import UserError
from core.media.images import read_image, resize_square
from core.face.landmarks import FaceLandmarker


def locate_avatar(rgb: np.ndarray, whole_image: bool = False, name: str = "avatar",
                  settings: AlignmentSettings = AlignmentSettings()) -> Crop:
    """Where the avatar's face (the largest, if several) is framed like the driving crops, in portrait pixels.

    ``whole_image``: skip face finding and use the image centred (for faces the detector cannot see).
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
        raise UserError(f"{name}: no face found in the image",
                        "pick a portrait with a clear frontal face, or use the whole image centred "
                        "(--avatar-whole-image)")
    return face_crop(faces[0], settings)


def frame_avatar(rgb: np.ndarray, size: int, whole_image: bool = False, name: str = "avatar") -> np.ndarray:
    """The avatar's face framed and resized to size x size."""
    return locate_avatar(rgb, whole_image, name).extract(rgb, size)


def load_avatar(path: str | Path, size: int, align: bool = True, whole_image: bool = False) -> np.ndarray:
    """Read and frame an avatar file; ``align`` False resizes the whole image (``--no-align``)."""
    rgb = read_image(path)
    if not align:
        return resize_square(rgb, size)
    return frame_avatar(rgb, size, whole_image, name=str(path))


def load_portrait(path: str | Path, whole_image: bool = False) -> tuple[np.ndarray, Crop]:
    """An avatar file as the whole portrait and where its face crop lies in it (for pasting back)."""
    rgb = read_image(path)
    return rgb, locate_avatar(rgb, whole_image, name=str(path))
