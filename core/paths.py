"""Facade's name and where its files live: the install's own folders and the user's."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import platformdirs

APP_NAME = "Facade"
ROOT = Path(__file__).resolve().parent.parent  # the checkout, or the bundle's folder
BUNDLED_AVATARS = ROOT / "assets" / "avatars"


def user_data_dir(name: str) -> Path:
    """A folder of the user's own Facade data (``avatars``, ``checkpoints``), per platform."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / name


def default_recordings_dir() -> Path:
    """Where the window's Record key saves: ``Facade`` in the user's videos folder."""
    return Path(platformdirs.user_videos_dir()) / APP_NAME


def new_recording_path(folder: Path, now: datetime | None = None) -> Path:
    """A timestamped recording name in ``folder`` (a clash within the second is numbered when saved)."""
    return folder / f"{APP_NAME} {(now or datetime.now()):%Y-%m-%d %H-%M-%S}.mp4"
