"""Offline animation: an avatar driven by a clip, written to an mp4 or a folder of PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from tqdm import tqdm

from .engines.base import Engine, FrameFeatures
from .images import resize_square
from .video_io import Clip, open_writer


def plain_frames(frames: Iterator[np.ndarray], size: int) -> Iterator[FrameFeatures]:
    """Driving frames resized to the engine's square, with no face alignment (``--no-align``)."""
    for rgb in frames:
        yield FrameFeatures(image=resize_square(rgb, size))


def animate_clip(engine: Engine, avatar: np.ndarray, clip: Clip, out: str | Path,
                 features: Callable[[Iterator[np.ndarray]], Iterator[FrameFeatures]] | None = None,
                 progress: bool = True) -> int:
    """Animate ``avatar`` by every frame of ``clip``; the first frame is the neutral pose. Returns frames written.

    ``features`` turns raw frames into engine input (face alignment by default in the CLI); the output file
    is complete or absent, never half-written.
    """
    engine.set_avatar(resize_square(avatar, engine.resolution))
    features = features or (lambda frames: plain_frames(frames, engine.resolution))
    writer = open_writer(out, clip.fps, (engine.resolution, engine.resolution))
    try:
        for index, frame in enumerate(tqdm(features(clip.frames()), total=clip.frame_count, unit="frame",
                                           desc="animate", disable=None if progress else True)):
            if index == 0:
                engine.calibrate(frame)
            writer.write(engine.animate(frame))
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return writer.frames_written
