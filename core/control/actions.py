"""The one set of actions that drives Facade, whoever asks: the window, a hotkey, the WebSocket or OSC API.

A client names a ``Command`` and at most one value; ``parse_action`` checks both and says what is wrong in
a sentence the client gets back. ``State`` is what subscribers are told after every change.
"""

from __future__ import annotations

import json
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Protocol

from core.engines.choice import ENGINES
from core.engines.strength import MAX_PERCENT


class ControlError(ValueError):
    """A command that cannot be carried out; ``str()`` is the sentence the client gets back."""


class Command(Enum):
    CALIBRATE = "calibrate"
    AVATAR = "avatar"  # value: a portrait's name (its file name without extension) or its number, from 1
    NEXT_AVATAR = "next_avatar"
    PREVIOUS_AVATAR = "previous_avatar"
    HIDE = "hide"  # value (optional): the card's line of text
    SHOW = "show"
    MIRROR = "mirror"  # value (optional): true or false; none toggles
    RECORD_START = "record_start"
    RECORD_STOP = "record_stop"
    VIRTUAL_CAMERA_ON = "virtual_camera_on"
    VIRTUAL_CAMERA_OFF = "virtual_camera_off"
    ENGINE = "engine"  # value: one of core.engines.choice.ENGINES
    MOTION_STRENGTH = "motion_strength"  # value: {"head": PCT, "expressions": PCT}, either left out (OSC: as JSON)


@dataclass(frozen=True)
class Action:
    command: Command
    value: str | int | bool | dict | None = None


MAX_TEXT = 200  # a card's line, an avatar's name: longer is a mistake, not a name


def parse_action(command, value=None) -> Action:
    """The action a client asked for; raises ControlError saying what is wrong."""
    try:
        kind = Command(command)
    except ValueError:
        raise ControlError(f"unknown command {str(command)[:40]!r}; known: "
                           f"{', '.join(c.value for c in Command)}") from None
    if kind == Command.AVATAR:
        if isinstance(value, bool) or not isinstance(value, (int, str)) or value in ("", 0):
            raise ControlError("avatar needs a portrait's name or its number (from 1)")
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, int) and value < 1:
            raise ControlError("avatar numbers start at 1")
    elif kind == Command.MIRROR:
        if value is not None and not isinstance(value, bool):
            raise ControlError("mirror takes true, false or nothing (toggle)")
    elif kind == Command.ENGINE:
        if value not in ENGINES:
            raise ControlError(f"engine needs one of {', '.join(ENGINES)}")
    elif kind == Command.HIDE:
        if value is not None and not isinstance(value, str):
            raise ControlError("hide takes the card's line of text, or nothing")
    elif kind == Command.MOTION_STRENGTH:
        value = _strength(value)
    elif value is not None:
        raise ControlError(f"{kind.value} takes no value")
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise ControlError(f"{kind.value}: the value is longer than {MAX_TEXT} characters")
    return Action(kind, value)


def _strength(value) -> dict[str, float]:
    """motion_strength's value as {"head": percent, "expressions": percent}, with at least one of them."""
    usage = (f'motion_strength takes {{"head": PCT, "expressions": PCT}} (0 to {MAX_PERCENT}, either may be left '
             'out; over OSC as that JSON text)')
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ControlError(usage) from None
    if not isinstance(value, dict) or not value or set(value) - {"head", "expressions"}:
        raise ControlError(usage)
    for name, percent in value.items():
        if isinstance(percent, bool) or not isinstance(percent, (int, float)) or not 0 <= percent <= MAX_PERCENT:
            raise ControlError(f"motion_strength: {name} {percent!r} is not a percentage from 0 to {MAX_PERCENT}")
    return {name: float(percent) for name, percent in value.items()}


@dataclass(frozen=True)
class State:
    """What subscribers are told on every change. ``calibrations`` counts neutral poses taken, so a
    recalibration is a change too; ``avatar`` is the portrait's name."""

    avatar: str = ""
    calibrated: bool = False
    calibrations: int = 0
    hidden: bool = False
    recording: bool = False
    virtual_camera: bool = False
    mirror: bool = False
    engine: str = ""
    head_motion: int = 100  # the motion strength, in percent
    expressions: int = 100
    face: bool = False
    fps: float = 0.0
    latency_ms: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


# What a key turns off when it is on (a key toggles; the API names each way): the command, and the State field
# that says it is on. Mirror toggles with no value already.
_OFF = {Command.HIDE: (Command.SHOW, "hidden"), Command.RECORD_START: (Command.RECORD_STOP, "recording"),
        Command.VIRTUAL_CAMERA_ON: (Command.VIRTUAL_CAMERA_OFF, "virtual_camera")}


def toggled(action: Action, state: State) -> Action:
    """``action`` pressed as a key: one that turns something on turns it off when ``state`` says it is on."""
    off = _OFF.get(action.command)
    return Action(off[0]) if off is not None and getattr(state, off[1]) else action


class Controller(Protocol):
    """What carries actions out (the window). ``perform`` is called on the API's own thread and must return at
    once: the future ends with None once the action is done, or with a ControlError saying why it was not."""

    def perform(self, action: Action) -> Future: ...
