"""What the live path reports: a small typed vocabulary, with the human message kept apart."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class EventKind(Enum):
    SOURCE = "source"  # the camera or video: opened, lost, ended
    FACE = "face"  # a face came into or left the view
    LIGHT = "light"  # the picture became too dark for steady tracking, or light again
    CALIBRATED = "calibrated"  # a neutral pose was taken
    SINK = "sink"  # an output stopped or failed to close
    ENGINE = "engine"  # a frame failed, or the engine was replaced by its fallback
    ERROR = "error"  # a pipeline thread stopped


@dataclass(frozen=True)
class Event:
    """``problem``: a condition the user should see until an event of the same kind clears it. ``state``:
    what a SOURCE event says the camera is now doing."""

    kind: EventKind
    message: str
    problem: bool = False
    state: SourceState | None = None


class Stage(Enum):
    """The steps a live frame goes through, in order; a stall names the one that is stuck."""

    ALIGN = "face tracking"
    ENGINE = "engine"
    COMPOSE = "compositing"
    OUTPUT = "output"


@dataclass(frozen=True)
class Stall:
    """No new picture for ``seconds`` while the camera sends frames; ``stage`` has been busy the longest
    (None: no stage is busy, the threads are waiting on each other); ``detail`` names the output."""

    seconds: float
    stage: Stage | None = None
    detail: str = ""

    def describe(self) -> str:
        where = f": {self.detail or self.stage.value} is stuck" if self.stage else ""
        return f"picture stalled for {self.seconds:.0f} s{where}"


class SourceState(Enum):
    STARTING = "starting"
    LIVE = "live"
    RETRYING = "retrying"  # could not open: trying again after a pause
    RECONNECTING = "reconnecting"  # stopped giving frames: reopening
    ENDED = "ended"  # a video file played to its end
    STOPPED = "stopped"

    @property
    def is_problem(self) -> bool:
        return self in (SourceState.RETRYING, SourceState.RECONNECTING, SourceState.ENDED)
