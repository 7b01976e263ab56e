"""Settings that persist between runs (QSettings), each validated when read back."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from .hotkeys import ACTIONS

_DEVICES = ("auto", "cpu", "cuda")
_PRECISIONS = ("auto", "fp32", "fp16", "bf16")
_ENGINES = ("mesh", "fomm")


@dataclass
class AppSettings:
    avatar: str = ""
    camera: str = "0"
    engine: str = "mesh"
    checkpoint: str = ""
    device: str = "auto"
    precision: str = "auto"
    relative: bool = True
    adapt_scale: bool = False
    smoothing: float = 0.5
    mirror: bool = False
    overlay: bool = False
    countdown: int = 0
    hidden_avatars: list[str] = field(default_factory=list)
    hotkeys: dict[str, str] = field(default_factory=lambda: {a.name: a.default_key for a in ACTIONS})
    geometry: QByteArray | None = None


def open_settings(path: str | Path | None = None) -> QSettings:
    """The user's settings store, or an .ini file (tests, portable installs)."""
    if path is not None:
        return QSettings(str(path), QSettings.Format.IniFormat)
    return QSettings("Facade", "Facade")


def load(store: QSettings) -> AppSettings:
    """Read settings back; a value of the wrong type or out of range falls back to its default."""
    settings = AppSettings()
    for f in fields(AppSettings):
        if store.contains(f.name):
            setattr(settings, f.name, _coerce(f.name, store.value(f.name), getattr(settings, f.name)))
    settings.hotkeys = {**AppSettings().hotkeys, **settings.hotkeys}
    if settings.engine not in _ENGINES:
        settings.engine = "mesh"
    if settings.device not in _DEVICES:
        settings.device = "auto"
    if settings.precision not in _PRECISIONS:
        settings.precision = "auto"
    settings.smoothing = min(max(settings.smoothing, 0.0), 1.0)
    settings.countdown = min(max(settings.countdown, 0), 10)
    # Paths from settings are checked before use: a file moved or deleted since is simply forgotten.
    if settings.avatar and not Path(settings.avatar).is_file():
        settings.avatar = ""
    if settings.checkpoint and not Path(settings.checkpoint).is_file():
        settings.checkpoint = ""
    return settings


def save(store: QSettings, settings: AppSettings) -> None:
    for name, value in asdict(settings).items():
        if value is not None:
            store.setValue(name, value)
    store.sync()


def _coerce(name: str, value, default):
    try:
        if isinstance(default, bool):
            return value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes")
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, str):
            return str(value)
        if isinstance(default, list):
            return [str(v) for v in value] if isinstance(value, (list, tuple)) else ([str(value)] if value else [])
        if isinstance(default, dict):
            return {str(k): str(v) for k, v in dict(value).items()}
        if name == "geometry":
            return value if isinstance(value, QByteArray) else None
    except (TypeError, ValueError):
        pass
    return default
