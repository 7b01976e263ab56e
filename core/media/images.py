"""Reading still images (avatars, frame folders) into RGB uint8, whatever their format."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from core.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
# Larger images are shrunk on load: no face detector or engine needs more, and 12k x 12k would be 400 MB.
_MAX_SIDE = 2048


def read_image(path: str | Path) -> np.ndarray:
    """An image file as (H, W, 3) RGB uint8: alpha composited over white, grayscale expanded, huge ones shrunk."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: a folder, not an image")
    if not path.is_file():
        raise UserError(f"{path}: image not found")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: image file is empty")
    data = np.fromfile(str(path), dtype=np.uint8)  # also reads non-ASCII paths on Windows
    # A JPEG from a phone is stored sideways with an EXIF orientation: IMREAD_COLOR turns it upright. Other
    # formats are read unchanged, to keep their alpha channel and 16-bit depth.
    jpeg = data[:2].tobytes() == b"\xff\xd8"
    image = cv2.imdecode(data, cv2.IMREAD_COLOR if jpeg else cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise UserError(f"{path}: not an image OpenCV can read (PNG, JPEG, WebP or BMP)")
    return to_rgb(_shrink(image))


def to_rgb(image: np.ndarray) -> np.ndarray:
    """OpenCV's gray, BGR or BGRA (8 or 16 bit) to RGB uint8."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        rgb = cv2.cvtColor(image[:, :, :3], cv2.COLOR_BGR2RGB).astype(np.float32)
        return (rgb * alpha + 255.0 * (1 - alpha)).round().astype(np.uint8)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def write_image(path: str | Path, rgb: np.ndarray) -> None:
    """Write RGB uint8 to a PNG/JPEG file, raising OSError if it cannot be written."""
    ok, data = cv2.imencode(Path(path).suffix or ".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"{path}: could not encode image")
    data.tofile(str(path))


def _shrink(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    if max(h, w) <= _MAX_SIDE:
        return image
    scale = _MAX_SIDE / max(h, w)
    return cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def resize_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """Resize to size x size (no copy when it already is): area filter down, cubic up."""
    h, w = rgb.shape[:2]
    if (h, w) == (size, size):
        return rgb
    interpolation = cv2.INTER_AREA if min(h, w) > size else cv2.INTER_CUBIC
    return cv2.resize(rgb, (size, size), interpolation=interpolation)
