"""Facade's name and where its files live: the install's own folders and the user's."""

from __future__ import annotations

from pathlib import Path

import platformdirs

APP_NAME = "Facade"
ROOT = Path(__file__).resolve().parent.parent  # the checkout, or the bundle's folder
BUNDLED_AVATARS = ROOT / "assets" / "avatars"


def user_data_dir(name: str) -> Path:
    """A folder of the user's own Facade data (``avatars``, ``checkpoints``), per platform."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / name
