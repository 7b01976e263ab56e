"""One way to build the live pipeline from what a user chose: the run command, the window and the soak."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from core.engines import EngineChoice, cpu_fallback, create_engine
from core.errors import UserError
from core.compose.compositor import Compositor, OutputSettings, replace_background
from core.face.avatar import load_avatar, load_portrait
from core.live.capture import FrameSource
from core.live.events import Event, EventKind
from core.live.pipeline import LivePipeline, PipelineSettings
from core.live.sinks import Sink

# The face crop an engine is given is the face as pictured, pixel for pixel, between these sides: at most a 4K
# output's face, with room to spare; at least enough for the engine to find the face's landmarks in it.
MIN_FACE_SIDE, MAX_FACE_SIDE = 128, 1024
# Avatars kept prepared (a gallery's worth, a few MB each): switching back to one skips finding its face again
# (100 to 200 ms on a laptop CPU, on the window's thread).
PREPARED_KEPT = 8


class AvatarError(UserError):
    """The avatar cannot be used (unreadable, no face): the camera and the engine may be fine."""


@dataclass(frozen=True)
class LiveSetup:
    """Where frames come from, which avatar they drive, and with what.

    ``align`` False resizes whole frames (no face alignment); ``whole_image`` uses the avatar image centred
    instead of finding its face; ``paced`` False reads a video file as fast as the pipeline takes frames.
    """

    camera: str | int | Path
    avatar: Path
    choice: EngineChoice = EngineChoice()
    loop: bool = False
    align: bool = True
    whole_image: bool = False
    paced: bool = True
    allow_random_weights: bool = False
    check_camera: bool = False  # open the camera once before building: the run command fails fast
    output: OutputSettings = OutputSettings()


def build_pipeline(setup: LiveSetup, sinks: list[Sink] = (),
                   on_event: Callable[[Event], None] | None = None) -> LivePipeline:
    """The pipeline for ``setup``, not started; a CUDA failure falls back to the mesh engine on the CPU.

    Raises UserError for anything the user can fix (a camera that does not open, a bad avatar or engine).
    """
    source = FrameSource(setup.camera, loop=setup.loop, on_event=on_event, paced=setup.paced)
    if setup.check_camera:
        source.check()
    engine = create_engine(setup.choice, setup.allow_random_weights,
                           on_link=lambda problem, text: on_event and on_event(Event(EventKind.ENGINE, text, problem)))
    try:
        avatar, compositor = prepare_avatar(setup.avatar, engine.resolution, setup.align, setup.whole_image,
                                            setup.output, needs_face=needs_avatar_face(engine))
    except UserError as exc:
        raise AvatarError(exc.reason, exc.advice) from None
    return LivePipeline(source, engine, avatar, list(sinks), PipelineSettings(align=setup.align),
                        on_event=on_event, fallback=cpu_fallback, compositor=compositor)


def needs_avatar_face(engine) -> bool:
    """Whether ``engine`` animates only a face it finds in the avatar (the mesh engine), not any picture."""
    return bool(getattr(engine, "needs_avatar_face", False))


def prepare_avatar(path: str | Path, size: int, align: bool = True, whole_image: bool = False,
                   output: OutputSettings = OutputSettings(),
                   needs_face: bool = False) -> tuple[np.ndarray, Compositor | None]:
    """An avatar file as the engine's face crop and the compositor that pastes it back into the portrait.

    The crop is the face as the output pictures it, pixel for pixel (within MIN_FACE_SIDE and MAX_FACE_SIDE),
    so an engine that renders at the avatar's size is as sharp as the portrait; an engine with a fixed
    ``size`` resizes it. (A crop cut at ``size`` from a smaller face and shrunk back when pasted lost two
    thirds of the portrait's sharpness.) Without alignment: the whole image resized to ``size`` and no
    compositor (the raw model output). The last PREPARED_KEPT are kept until their file changes: the crop
    is shared, read-only.
    """
    path = Path(path)
    try:
        changed = path.stat().st_mtime_ns
    except OSError:  # the reader says what is wrong with it
        return _prepare(path, size, align, whole_image, output, needs_face)
    return _prepared(path.resolve(), changed, size, align, whole_image, output, needs_face)


@lru_cache(maxsize=PREPARED_KEPT)
def _prepared(path: Path, changed: int, *args) -> tuple[np.ndarray, Compositor | None]:
    avatar, compositor = _prepare(path, *args)
    avatar.setflags(write=False)
    return avatar, compositor


def _prepare(path: Path, size: int, align: bool, whole_image: bool, output: OutputSettings,
             needs_face: bool) -> tuple[np.ndarray, Compositor | None]:
    if not align:
        return load_avatar(path, size, align=False), None
    portrait, crop = load_portrait(path, whole_image, needs_face)
    portrait = replace_background(portrait, output.background)
    compositor = Compositor(portrait, crop, output)
    if MIN_FACE_SIDE <= compositor.face_side <= MAX_FACE_SIDE:
        return compositor.face, compositor
    return crop.extract(portrait, min(max(compositor.face_side, size), MAX_FACE_SIDE)), compositor
