"""Offline animation: an avatar driven by a clip, written to an mp4 or a folder of PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from tqdm import tqdm

from core.compose.compositor import Compositor
from core.compose.presence import Presence
from core.engines.base import Engine
from core.face.alignment import AlignmentSettings, FaceAligner
from core.face.neutrality import composed_neutral, neutral_distances
from core.frames import DrivingFace
from core.media.images import resize_square
from core.media.video_io import Clip, open_writer


def plain_faces(frames: Iterable[np.ndarray], size: int) -> Iterator[DrivingFace]:
    """Whole driving frames resized to the engine's square (``--no-align``)."""
    for rgb in frames:
        yield DrivingFace(image=resize_square(rgb, size))


def aligned_faces(frames: Iterable[np.ndarray], size: int, fps: float,
                  settings: AlignmentSettings = AlignmentSettings()) -> Iterator[DrivingFace | None]:
    """Face crops of the driving frames, locked at the first frame with a face; None where there is none."""
    aligner = FaceAligner(size, settings)
    try:
        for index, rgb in enumerate(frames):
            aligned = aligner.process(rgb, index / fps)
            if aligned is not None and not aligner.locked:
                aligner.lock()
            yield aligned.face if aligned else None
    finally:
        aligner.close()


def most_neutral_face(features: Iterable[DrivingFace | None]) -> tuple[tuple[int, int], DrivingFace] | None:
    """The neutral pose of a clip's frames, composed from its most relaxed eyes and its most relaxed mouth
    (``core.face.neutrality``), with those two frames' indices (eyes, mouth); None when no frame has landmarks.
    The face carries the eyes frame's picture, which is what an engine reading pictures (FOMM) takes."""
    best: list = [None, None]  # per part: (distance, index, face)
    for index, face in enumerate(features):
        if face is None or face.landmarks is None:
            continue
        for part, distance in enumerate(neutral_distances(face.landmarks)[::-1]):  # eyes, then mouth
            if best[part] is None or distance < best[part][0]:
                best[part] = (distance, index, face)
    if best[0] is None:
        return None
    (_, eyes_at, eyes), (_, mouth_at, mouth) = best
    landmarks = composed_neutral(eyes.landmarks, mouth.landmarks).astype(np.float32)
    return (eyes_at, mouth_at), DrivingFace(eyes.image, landmarks)


def neutral_of_clip(clip: Clip, size: int, progress: bool = True) -> tuple[tuple[int, int], DrivingFace] | None:
    """``most_neutral_face`` of the clip, aligned as ``aligned_faces`` aligns it (a pass over the whole clip)."""
    faces = aligned_faces(clip.frames(), size, clip.fps)
    return most_neutral_face(tqdm(faces, total=clip.frame_count, unit="frame", desc="neutral pose",
                                  disable=None if progress else True))


def call_frames(engine: Engine, avatar: np.ndarray, features: Iterable[DrivingFace | None],
                compositor: Compositor | None = None, fps: float = 30.0,
                neutral: DrivingFace | None = None) -> Iterator[np.ndarray]:
    """One output frame per driving frame; ``neutral`` is the neutral pose (without, the first frame with a face).

    With a compositor each frame is the whole portrait with the animated face pasted back, at the
    compositor's size; without, the engine's square output (then ``avatar`` should be at the engine's
    resolution). Where the face is lost the picture eases to the avatar at rest, as it does live.
    """
    engine.set_avatar(avatar)
    last = avatar
    presence = Presence()
    calibrated = neutral is not None
    if calibrated:
        engine.calibrate(neutral)
    for index, frame in enumerate(features):
        if frame is not None:
            if not calibrated:
                engine.calibrate(frame)
                calibrated = True
            last = engine.animate(frame)
        presence.update(frame is not None, index / fps)
        face = presence.blend(avatar, last, getattr(engine, "ease", None))
        yield compositor.compose(face, blend=not engine.pinned_border) if compositor else face


def animate_clip(engine: Engine, avatar: np.ndarray, clip: Clip, out: str | Path,
                 features: Iterable[DrivingFace | None], compositor: Compositor | None = None,
                 progress: bool = True, neutral: DrivingFace | None = None) -> int:
    """Write ``call_frames`` to ``out``. The output is complete or absent, never half-written. Returns the
    number of frames written."""
    size = compositor.size if compositor else (avatar.shape[1], avatar.shape[0])
    writer = open_writer(out, clip.fps, size)
    try:
        pictures = call_frames(engine, avatar, features, compositor, clip.fps, neutral)
        for picture in tqdm(pictures, total=clip.frame_count, unit="frame", desc="animate",
                            disable=None if progress else True):
            writer.write(picture)
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return writer.frames_written
