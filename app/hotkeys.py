"""The window's actions and their default keys; users can rebind them in Settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    default_key: str


ACTIONS = [
    Action("calibrate", "Calibrate (take the neutral pose)", "X"),
    Action("calibrate_alt", "Calibrate (second key)", "Space"),
    Action("virtual_camera", "Virtual camera on/off", "V"),
    Action("record", "Record the call picture on/off", "R"),
    Action("mirror", "Mirror the output", "M"),
    Action("hide", "Hide the call picture behind a card, or show it again", "H"),
    Action("overlay", "Camera overlay: landmarks and onion skin", "O"),
    Action("fullscreen", "Full-screen avatar preview", "F"),
] + [Action(f"avatar_{i}", f"Avatar {i}", str(i)) for i in range(1, 10)]
