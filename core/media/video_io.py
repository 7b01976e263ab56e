"""Driving clips in (a video file or a folder of frames), video and PNG frames out, never half-written."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from core.errors import UserError
from core.media.files import claim_free_name, free_name, hidden_sibling, write_target
from core.media.images import IMAGE_SUFFIXES, read_image, write_image
from core.media.subprocesses import spawn, stderr_text

FOLDER_FPS = 25.0  # a folder of frames carries no rate; the authors' demos use 25


@dataclass(frozen=True)
class Clip:
    """A driving clip: its frames (RGB uint8, read lazily), its rate and its length."""

    path: Path
    fps: float
    frame_count: int

    def frames(self) -> Iterator[np.ndarray]:
        if self.path.is_dir():
            for file in frame_files(self.path):
                yield read_image(file)
            return
        capture = open_video(self.path)
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
        files = frame_files(path)
        if not files:
            raise UserError(f"{path}: folder holds no frames ({', '.join(IMAGE_SUFFIXES)})")
        return Clip(path, FOLDER_FPS, len(files))
    if path.stat().st_size == 0:
        raise UserError(f"{path}: video file is empty")
    capture = open_video(path)
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


def open_video(path: str | Path) -> cv2.VideoCapture:
    """A video file's capture, its rotation tag honoured (see ``honour_rotation``)."""
    return honour_rotation(cv2.VideoCapture(str(path)))


def honour_rotation(capture: cv2.VideoCapture) -> cv2.VideoCapture:
    """Frames turned as the video's rotation tag says: a phone stores a clip filmed upright sideways, with a
    tag that players follow and OpenCV's FFmpeg backend ignores unless told (the face would lie on its side)."""
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return capture


def frame_files(folder: Path) -> list[Path]:
    """The image files of a frame folder, in name order (the frames' order)."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


_EVEN = "pad=ceil(iw/2)*2:ceil(ih/2)*2"
_H264 = ["-vf", _EVEN, "-c:v", "libx264", "-crf", "18", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
# What each video name is written as: ffmpeg's muxer and the encoder arguments (all in imageio-ffmpeg's build).
_CONTAINERS = {
    ".mp4": ["-movflags", "+faststart", *_H264, "-f", "mp4"],
    ".mov": ["-movflags", "+faststart", *_H264, "-f", "mov"],
    ".mkv": [*_H264, "-f", "matroska"],
    ".avi": ["-vf", _EVEN, "-c:v", "mpeg4", "-q:v", "3", "-pix_fmt", "yuv420p", "-f", "avi"],
    ".webm": ["-vf", _EVEN, "-c:v", "libsvtav1", "-preset", "10", "-crf", "32", "-pix_fmt", "yuv420p",
              "-f", "webm"],
    ".gif": ["-vf", "split[a][b];[a]palettegen[p];[b][p]paletteuse", "-f", "gif"],  # its own 256 colours
}
VIDEO_SUFFIXES = tuple(_CONTAINERS)


class Mp4Writer:
    """A video through ffmpeg (H.264 mp4 by default; the container ``path``'s suffix names), whole or not at all.

    Frames go to a partial file of a unique name beside ``path`` (two writers never share one); ``close``
    moves it into place only once ffmpeg has finished it without error, so ``path`` is a complete video or
    what it was before.

    ``recording``: a live recording, which must survive its process. It is written in place under a name of
    its own (``path``, or ``NAME (2).mp4`` when that is taken: an earlier recording is never replaced), as a
    fragmented MP4 with a keyframe a second, so a process killed or a machine switched off mid-way leaves a
    video that plays up to about its last second. A recording that fails is kept, renamed as partial.
    """

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int], recording: bool = False):
        import imageio_ffmpeg

        self.path = Path(path)
        self.size = size
        self.recording = recording
        check_output_file(self.path)
        container = _CONTAINERS.get(self.path.suffix.lower(), _CONTAINERS[".mp4"])
        if recording:
            try:  # ffmpeg writes the recording itself: "partial" only until it is finished
                self.path = self._partial = claim_free_name(self.path)
            except OSError as exc:
                raise UserError(f"{self.path}: cannot write ({_reason(exc)})") from None
            container = _as_recording(container, fps)
        else:
            self._target = write_target(self.path)
            self._replaces = self._target.exists()
            self._partial = _unique_sibling(self._target, f".partial{self.path.suffix.lower() or '.mp4'}")
        width, height = size
        self._process = spawn([
            imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{fps:.6g}", "-i", "-",
            *container, str(self._partial)])
        self.frames_written = 0

    def write(self, rgb: np.ndarray) -> None:
        if rgb.shape[1::-1] != self.size:
            rgb = cv2.resize(rgb, self.size, interpolation=cv2.INTER_AREA)
        try:
            self._process.stdin.write(np.ascontiguousarray(rgb).tobytes())
        except (OSError, ValueError):
            self._fail("writing the video failed")
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file and move it into place; a video with no frames is not left behind."""
        if self._process is None:
            return
        try:
            self._process.stdin.close()
        except OSError:
            pass
        if self._process.wait() != 0:
            self._fail("finishing the video failed")
        self._process = None
        if not self.frames_written:
            self._partial.unlink(missing_ok=True)
        elif not self.recording:
            placed = _place(self._partial, self._target, self._replaces)
            if placed != self._target:
                self.path = placed

    def abort(self) -> None:
        """Stop and remove the partial file (the destination is left as it was; a recording is removed)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
        self._partial.unlink(missing_ok=True)

    def _fail(self, what: str) -> None:
        reason, named = _ffmpeg_reason(self._process), self.path
        self._process.kill()
        self._process.wait()
        self._process = None
        kept = ""
        if self.recording and self.frames_written and self._partial.stat().st_size > 0:
            try:
                self.path = claim_free_name(self.path.with_name(f"{self.path.stem}.partial{self.path.suffix}"))
                os.replace(self._partial, self.path)
            except OSError:  # it stays under its own name: still the recording, just not marked partial
                self.path = self._partial
            kept = f"; what was recorded is kept in {self.path}"
        else:
            self._partial.unlink(missing_ok=True)
        raise UserError(f"{named}: {what} ({reason}){kept}")


def _as_recording(container: list[str], fps: float) -> list[str]:
    """A container's arguments for a recording: MP4 and MOV fragmented at each keyframe, a keyframe a
    second, and every fragment flushed to the disk as soon as it is complete."""
    if "+faststart" not in container:  # Matroska, AVI, WebM, GIF: written as they come
        return ["-flush_packets", "1", *container]
    return ["-g", str(max(1, round(fps))), "-flush_packets", "1",
            *["+frag_keyframe+empty_moov+default_base_moof" if a == "+faststart" else a for a in container]]


class PngFolderWriter:
    """Frames as ``000000.png``, ``000001.png``, ... in a folder that is complete or absent.

    Frames go to a partial folder beside ``folder``; ``close`` puts it in place, replacing an earlier run's
    frames as a whole, so a folder never mixes two runs.
    """

    def __init__(self, folder: str | Path):
        self.path = Path(folder)
        check_output_folder(self.path)
        self._partial = _unique_sibling(self.path, ".partial", folder=True)
        self.frames_written = 0

    def write(self, rgb: np.ndarray) -> None:
        target = self._partial / f"{self.frames_written:06d}.png"
        try:
            write_image(target, rgb)
        except OSError as exc:
            self.abort()
            raise UserError(f"{self.path}: cannot write frame {target.name} ({_reason(exc)})") from None
        self.frames_written += 1

    def close(self) -> None:
        if not self._partial.exists():
            return
        old = None
        if self.path.exists():
            old = _unique_sibling(self.path, ".old", folder=True)
            os.replace(self.path, old)
        os.replace(self._partial, self.path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        shutil.rmtree(self._partial, ignore_errors=True)


def open_writer(out: str | Path, fps: float, size: tuple[int, int]) -> Mp4Writer | PngFolderWriter:
    """A video writer for a video name (``.mp4``, ``.mov``, ``.mkv``, ``.avi``, ``.webm``, ``.gif``), a PNG
    folder writer for a name without an extension; any other extension is refused, naming the choices."""
    out = Path(out)
    check_video_name(out, frames_folder=True)
    if out.suffix.lower() in VIDEO_SUFFIXES:
        return Mp4Writer(out, fps, size)
    return PngFolderWriter(out)


def check_video_name(out: Path, frames_folder: bool = False) -> None:
    """A video output's name has an extension that a writer has: ``--record r.txt`` would otherwise be an MP4
    under a false name, and one that is only an extension (``.mp4``, to Python a name without one) a hidden
    folder of frames. ``frames_folder``: a name without an extension is a folder of PNG frames."""
    check_output_name(out)
    if out.name.lower() in VIDEO_SUFFIXES:
        raise UserError(f"{out}: the name is only an extension", f"give it a name before it (video{out.name})")
    if out.suffix.lower() in VIDEO_SUFFIXES or (frames_folder and (not out.suffix or out.is_dir())):
        return
    raise UserError(f"{out}: cannot write {out.suffix} files" if out.suffix else f"{out}: needs a video extension",
                    f"use a name ending in {', '.join(VIDEO_SUFFIXES)}"
                    + (", or a folder name without an extension for PNG frames" if frames_folder else ""))


def check_output_name(path: Path) -> None:
    """Names no output may have, checked before the file system is asked anything about them: a name part of
    more bytes than the file system allows (it answers even ``exists()`` with ENAMETOOLONG)."""
    limit = _name_max(_nearest_existing(path.parent))
    for part in path.parts:
        if len(part.encode()) > limit:
            raise UserError(f"{path}: a name of {len(part.encode())} bytes, longer than this file system allows "
                            f"({limit})", "choose a shorter name")


def check_output_tree(path: Path) -> None:
    """A folder that a command fills with folders of its own (``prepare-data --out``): its name fits, it is a
    folder or can be made one, and something can be made in it: tried, not asked (``os.access`` says yes to
    root, and to a file system that refuses new folders)."""
    check_output_name(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: exists and is not a folder", "give the name of a folder to fill")
    where = _nearest_existing(path)
    if not where.is_dir():
        raise UserError(f"{path}: {where} is not a folder")
    try:
        hidden_sibling(where / "probe", "", folder=True).rmdir()
    except OSError as exc:
        raise UserError(f"{path}: cannot write in {where} ({_reason(exc)})") from None


def _nearest_existing(path: Path) -> Path:
    """``path`` or its nearest folder above that exists (``os.path.exists`` is False, never an error, for a
    name that is too long)."""
    path = path.absolute()
    while not os.path.exists(path) and path != path.parent:
        path = path.parent
    return path


def check_output_file(path: Path) -> None:
    """A file can be written at ``path``: checked before any work starts."""
    check_output_name(path)
    if path.is_dir():
        raise UserError(f"{path}: is a folder", "give a file name")
    _check_writable(path.parent, path)


def check_output_folder(path: Path) -> None:
    """A folder of frames can be written at ``path``: new, or one that holds only frames of an earlier run."""
    check_output_name(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: exists and is not a folder")
    if path.is_dir():
        others = [p.name for p in path.iterdir() if not _FRAME_NAME.fullmatch(p.name)]
        if others:
            raise UserError(f"{path}: the folder holds other files ({others[0]}, ...)",
                            "choose a new or empty folder for the frames")
    _check_writable(path.parent, path)


def check_not_an_input(out: Path, *inputs: Path | None) -> None:
    """Refuse an output that would overwrite one of the run's inputs."""
    check_output_name(out)
    for source in inputs:
        if source is None or not Path(source).exists():
            continue
        if out.resolve() == Path(source).resolve() or (out.exists() and os.path.samefile(out, source)):
            raise UserError(f"{out}: is also an input of this run", "choose another output name")


_FRAME_NAME = re.compile(r"\d{6}\.png")


def _unique_sibling(path: Path, suffix: str, folder: bool = False) -> Path:
    try:
        return hidden_sibling(path, suffix, folder)
    except OSError as exc:
        raise UserError(f"{path}: cannot write in {path.parent} ({_reason(exc)})") from None


def _place(partial: Path, path: Path, replace: bool) -> Path:
    """Move a finished file into place. A name that was free when the work started and was taken since
    (another Facade writing to it) is kept: this file gets the next free name instead."""
    if replace:
        os.replace(partial, path)
        return path
    while True:
        try:
            os.link(partial, path)
        except FileExistsError:
            path = free_name(path)
            continue
        except OSError:  # a file system without hard links: the race above is not guarded there
            os.replace(partial, path)
            return path
        partial.unlink()
        return path


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def _check_writable(folder: Path, named: Path) -> None:
    if not folder.is_dir():
        raise UserError(f"{named}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UserError(f"{named}: folder {folder} is not writable")


def _ffmpeg_reason(process) -> str:
    """The cause in ffmpeg's words: the system's error (``...: No space left on device``) when it gave one."""
    lines = [line.strip() for line in stderr_text(process).splitlines() if line.strip()]
    for line in lines:
        cause = line.rsplit(": ", 1)[-1]
        if cause in _SYSTEM_ERRORS:
            return cause
    return lines[0][:160] if lines else f"ffmpeg exited with code {process.poll()}"


_SYSTEM_ERRORS = {os.strerror(code) for code in range(1, 134)}


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:160]
