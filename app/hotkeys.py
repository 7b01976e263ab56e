"""The keyboard's actions and their default keys, in the window and everywhere (global keys); users rebind
them in Settings. An action that Facade's control API also knows names its core ``Command``: a key, a Stream
Deck and a script do one and the same thing."""

from __future__ import annotations

from dataclasses import dataclass

from core.control.actions import Action, Command

# A global key is taken from every other program while Facade runs: by default the window's key with all three
# of these, which no common program or desktop uses (and, unlike Ctrl+Alt alone, is no AltGr character).
GLOBAL_MODIFIERS = "Ctrl+Alt+Shift+"
_MODIFIERS = ("Ctrl", "Alt", "Shift", "Meta")


@dataclass(frozen=True)
class KeyAction:
    """What a key does: a core ``command`` (with ``value``), or, with none, something only the window has (its
    overlay, full screen). ``global_key``: its default key everywhere; None: not offered as a global key."""

    name: str
    label: str
    default_key: str
    command: Command | None = None
    value: int | None = None
    global_key: str | None = None

    @property
    def action(self) -> Action:
        return Action(self.command, self.value)


def _both(name: str, label: str, key: str, command: Command, value: int | None = None,
          global_key: str | None = None) -> KeyAction:
    return KeyAction(name, label, key, command, value, GLOBAL_MODIFIERS + (global_key or key))


ACTIONS = [
    _both("calibrate", "Calibrate (take the neutral pose)", "X", Command.CALIBRATE),
    KeyAction("calibrate_alt", "Calibrate (second key)", "Space", Command.CALIBRATE),
    _both("virtual_camera", "Virtual camera on/off", "V", Command.VIRTUAL_CAMERA_ON),
    _both("record", "Record the call picture on/off", "R", Command.RECORD_START),
    _both("mirror", "Mirror the output", "M", Command.MIRROR),
    _both("hide", "Hide the call picture behind a card, or show it again", "H", Command.HIDE),
    KeyAction("overlay", "Camera overlay: landmarks and onion skin", "O"),
    KeyAction("fullscreen", "Full-screen avatar preview", "F"),
    _both("next_avatar", "Next avatar", "PgDown", Command.NEXT_AVATAR),
    _both("previous_avatar", "Previous avatar", "PgUp", Command.PREVIOUS_AVATAR),
# Avatars everywhere on F1…F9, not the digits: with Shift held a digit types a symbol that depends on the
# keyboard's layout, and pynput (Windows, macOS) matches keys by what they type.
] + [_both(f"avatar_{i}", f"Avatar {i}", str(i), Command.AVATAR, i, f"F{i}") for i in range(1, 10)]

BY_NAME = {a.name: a for a in ACTIONS}
GLOBAL_ACTIONS = [a for a in ACTIONS if a.global_key is not None]


def split_key(key: str) -> tuple[frozenset[str], str]:
    """A key as Qt writes it ("Ctrl+Alt+Shift+X", "F9", "Ctrl++") as its modifiers and the key itself."""
    parts = key.split("+")
    mods = []
    while len(parts) > 1 and parts[0] in _MODIFIERS:
        mods.append(parts.pop(0))
    return frozenset(mods), "+".join(parts)


def clash(window: dict[str, str], everywhere: dict[str, str]) -> str:
    """What is wrong with these bindings (action name -> key, in the window and everywhere), or ''. A key does
    one thing: bound to two actions, in either place, one label would lie. A global key is taken from every
    other program, so a plain typing key is refused there."""
    taken: dict[str, str] = {}
    for bindings in (window, everywhere):
        for name, key in bindings.items():
            if key and taken.setdefault(key, name) != name:
                return (f"{key} is bound to both “{BY_NAME[taken[key]].label}” and “{BY_NAME[name].label}”: "
                        "give one of them another key")
    for name, key in everywhere.items():
        mods, bare = split_key(key)
        if key and not mods - {"Shift"} and not (bare[:1] == "F" and bare[1:].isdigit()):
            return (f"The global key {key} (“{BY_NAME[name].label}”) would be taken from every other program: "
                    "a global key needs Ctrl, Alt or Meta, or is a function key (F1…F35)")
    return ""
