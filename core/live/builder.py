"""One way to build the live pipeline from what a user chose: the run command, the window and the soak."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from core.engines import EngineChoice, cpu_fallback, create_engine
import numpy as np

from core.compose.compositor import Compositor, OutputSettings
from core.face.avatar import load_avatar, load_portrait
from core.live.capture import FrameSource
from core.live.events import Event
from core.live.pipeline import LivePipeline, PipelineSettings
from core.live.sinks import Sink


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


def build_pipeline(setup: LiveSetup, sinks: list[Sink] = (),
                   on_event: Callable[[Event], None] | None = None) -> LivePipeline:
    """The pipeline for ``setup``, not started; a CUDA failure falls back to the mesh engine on the CPU.

    Raises UserError for anything the user can fix (a camera that does not open, a bad avatar or engine).
    """
    source = FrameSource(setup.camera, loop=setup.loop, on_event=on_event, paced=setup.paced)
    if setup.check_camera:
        source.check()
    engine = create_engine(setup.choice, setup.allow_random_weights)
    avatar, compositor = prepare_avatar(setup.avatar, engine.resolution, setup.align, setup.whole_image)
    return LivePipeline(source, engine, avatar, list(sinks), PipelineSettings(align=setup.align),
                        on_event=on_event, fallback=cpu_fallback, compositor=compositor)


def prepare_avatar(path: str | Path, size: int, align: bool = True, whole_image: bool = False,
                   output: OutputSettings = OutputSettings()) -> tuple[np.ndarray, Compositor | None]:
    """An avatar file as the engine's face crop and the compositor that pastes it back into the portrait;
    without alignment, the whole image resized and no compositor (the raw model output)."""
    if not align:
        return load_avatar(path, size, align=False), None
    portrait, crop = load_portrait(path, whole_image)
    return crop.extract(portrait, size), Compositor(portrait, crop, output)
