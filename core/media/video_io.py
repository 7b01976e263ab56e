"""Driving clips in (a video file or a folder of frames), video and PNG frames out, never half-written."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from core.errors import UserError
from core.media.images import IMAGE_SUFFIXES, read_image, write_image

FOLDER_FPS = 25.0  # a folder of frames carries no rate; the authors' demos use 25


@dataclass(frozen=True)
class Clip:
    """A driving clip: its frames (RGB uint8, read lazily), its rate and its length."""

    path: Path
    fps: float
    frame_count: int

    def frames(self) -> Iterator[np.ndarray]:
        if self.path.is_dir():
            for file in _frame_files(self.path):
                yield read_image(file)
            return
        capture = cv2.VideoCapture(str(self.path))
        try:
            while True:
                ok, bgr = capture.read()
                if not ok:
                    return
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        finally:
            capture.release()


def open_clip(path: str | Path) -> Clip:
    """Check a driving video or frame folder and say how long it is; errors name the path."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: driving video or folder not found")
    if path.is_dir():
        files = _frame_files(path)
        if not files:
            raise UserError(f"{path}: folder holds no frames ({', '.join(IMAGE_SUFFIXES)})")
        return Clip(path, FOLDER_FPS, len(files))
    if path.stat().st_size == 0:
        raise UserError(f"{path}: video file is empty")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise UserError(f"{path}: not a video OpenCV can read")
        ok, _ = capture.read()
        if not ok:
            raise UserError(f"{path}: video has no frames that can be decoded")
        fps = capture.get(cv2.CAP_PROP_FPS)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
    return Clip(path, fps if 1 <= fps <= 240 else FOLDER_FPS, max(count, 1))


def _frame_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


class Mp4Writer:
    """H.264 mp4 through imageio-ffmpeg's bundled ffmpeg. Writes to a temporary name and renames on close,
    so the file at ``path`` is always a complete video or absent."""

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]):
        import imageio_ffmpeg

        self.path = Path(path)
        self.size = size
        _check_writable(self.path.parent, self.path)
        self._partial = self.path.with_name(f".{self.path.stem}.partial.mp4")
        self._writer = imageio_ffmpeg.write_frames(
            str(self._partial), size, fps=fps, codec="libx264", pix_fmt_in="rgb24", pix_fmt_out="yuv420p",
            quality=None, bitrate=None, macro_block_size=2,
            output_params=["-crf", "18", "-preset", "veryfast", "-movflags", "+faststart"],
            ffmpeg_log_level="error")
        self._writer.send(None)
        self.frames_written = 0

    def write(self, rgb: np.ndarray) -> None:
        if rgb.shape[1::-1] != self.size:
            rgb = cv2.resize(rgb, self.size, interpolation=cv2.INTER_AREA)
        try:
            self._writer.send(np.ascontiguousarray(rgb))
        except (OSError, RuntimeError, StopIteration) as exc:
            self.abort()
            raise UserError(f"{self.path}: writing the video failed ({_reason(exc)})") from None
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file and move it into place; a video with no frames is not left behind."""
        if self._writer is None:
            return
        try:
            self._writer.close()
        except (OSError, RuntimeError) as exc:
            self.abort()
            raise UserError(f"{self.path}: finishing the video failed ({_reason(exc)})") from None
        self._writer = None
        if self.frames_written:
            os.replace(self._partial, self.path)
        else:
            self._partial.unlink(missing_ok=True)

    def abort(self) -> None:
        """Stop and remove the partial file (the destination is left as it was)."""
        if self._writer is not None:
            try:
                self._writer.close()
            except (OSError, RuntimeError):
                pass
            self._writer = None
        self._partial.unlink(missing_ok=True)


class PngFolderWriter:
    """Frames as ``000000.png``, ``000001.png``, ... each written whole or not at all."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder)
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"{self.path}: exists and is not a folder")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"{self.path}: cannot create the output folder ({_reason(exc)})") from None
        _check_writable(self.path, self.path)
        self.frames_written = 0

    def write(self, rgb: np.ndarray) -> None:
        target = self.path / f"{self.frames_written:06d}.png"
        partial = target.with_name(f".{target.name}.partial.png")
        try:
            write_image(partial, rgb)
            os.replace(partial, target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise UserError(f"{target}: cannot write frame ({_reason(exc)})") from None
        self.frames_written += 1

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def open_writer(out: str | Path, fps: float, size: tuple[int, int]) -> Mp4Writer | PngFolderWriter:
    """An mp4 writer for ``*.mp4``, a PNG folder writer for anything else."""
    out = Path(out)
    return Mp4Writer(out, fps, size) if out.suffix.lower() == ".mp4" else PngFolderWriter(out)


def _check_writable(folder: Path, named: Path) -> None:
    if not folder.is_dir():
        raise UserError(f"{named}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UserError(f"{named}: folder {folder} is not writable")


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:160]
