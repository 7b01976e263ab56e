"""Settings that persist between runs (QSettings), each validated when read back."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from core.compose.card import DEFAULT_TEXT
from core.compose.compositor import FITS, OutputSettings, background_colour, parse_size
from core.control.server import DEFAULT_PORT, new_token
from core.engines.choice import DEVICES, ENGINES, MESH_RESOLUTIONS, PRECISIONS, EngineChoice
from core.engines.strength import MAX_PERCENT
from core.errors import UserError
from core.live.ndi import DEFAULT_SOURCE_NAME, check_source_name
from core.live.neutral import NeutralPose
from core.media.files import write_text_file
from core.paths import APP_NAME, user_data_dir

from .hotkeys import ACTIONS, GLOBAL_ACTIONS

log = logging.getLogger(__name__)

# Allowed values of the stored engine choice; anything else falls back to its default.
_ALLOWED = {"engine": ENGINES, "device": DEVICES, "precision": PRECISIONS, "resolution": MESH_RESOLUTIONS}
# Checks of the other stored values: False or ValueError sends the value back to its default.
_VALID = {"output_size": parse_size, "fit": lambda v: v in FITS, "background": background_colour,
          "ndi_name": check_source_name}
_PROFILES = "avatar_profiles"  # the store's key for AppSettings.profiles, as one JSON text


@dataclass
class AvatarProfile:
    """What an avatar was last used with, taken again when it is chosen: the motion settings and the neutral
    pose (stored without its picture: see core.live.neutral)."""

    smoothing: float = 0.5
    head_motion: int = 100  # percent, 0 to MAX_PERCENT
    expressions: int = 100
    relative: bool = True
    adapt_scale: bool = False
    neutral: NeutralPose | None = None


@dataclass
class AppSettings:
    avatar: str = ""
    camera: str = "0"
    engine: EngineChoice = EngineChoice(engine="mesh")  # stored flat, under the choice's own field names
    smoothing: float = 0.5
    head_motion: int = 100  # percent, 0 to MAX_PERCENT: the avatar's head motion against the driver's
    expressions: int = 100  # percent: its expressions' strength
    profiles: dict[str, AvatarProfile] = field(default_factory=dict)  # by avatar path
    mirror: bool = False
    overlay: bool = False
    countdown: int = 0
    recordings: str = ""  # the Record key's folder; empty: core.paths.default_recordings_dir()
    output_size: str = "x".join(map(str, OutputSettings.size))
    fit: str = OutputSettings.fit
    background: str = OutputSettings.background
    ndi_name: str = DEFAULT_SOURCE_NAME  # the NDI source's name (Send NDI, in the Output group)
    hidden_avatars: list[str] = field(default_factory=list)
    hide_text: str = DEFAULT_TEXT  # the line on the card that Hide puts on the call
    api_enabled: bool = False  # the control API (WebSocket and OSC)
    api_port: int = DEFAULT_PORT
    api_lan: bool = False  # other devices may connect, with the token
    api_token: str = ""  # made on first start: empty is never a token
    hotkeys: dict[str, str] = field(default_factory=lambda: {a.name: a.default_key for a in ACTIONS})
    global_keys: bool = False  # keys that work while another program has focus (app/global_keys.py)
    global_hotkeys: dict[str, str] = field(default_factory=lambda: {a.name: a.global_key for a in GLOBAL_ACTIONS})
    geometry: QByteArray | None = None


def open_settings(path: str | Path | None = None) -> QSettings:
    """The user's settings store, or an .ini file (tests, portable installs)."""
    if path is not None:
        return QSettings(str(path), QSettings.Format.IniFormat)
    return QSettings(APP_NAME, APP_NAME)


def pairing_file(store: QSettings) -> Path:
    """Where the Remote GPU pairing string is kept: it holds the client's secret key, so it has a file of its
    own that only the user can read, never the settings store (readable by all). Beside an .ini store
    (tests, portable installs), else in the user's data folder."""
    if store.format() == QSettings.Format.IniFormat:
        return Path(store.fileName()).with_name("remote-pairing.txt")
    return user_data_dir("remote-pairing.txt")


def load(store: QSettings) -> AppSettings:
    """Read settings back; a value of the wrong type or out of range falls back to its default."""
    settings = AppSettings()
    for f in fields(AppSettings):
        if f.name not in ("engine", "profiles") and store.contains(f.name):
            setattr(settings, f.name, _coerce(f.name, store.value(f.name), getattr(settings, f.name)))
    settings.profiles = _load_profiles(store.value(_PROFILES, ""))
    settings.engine = replace(_load_choice(store, settings.engine), remote=_load_pairing(store))
    defaults = AppSettings()
    settings.hotkeys = {**defaults.hotkeys, **settings.hotkeys}
    settings.global_hotkeys = {name: settings.global_hotkeys.get(name, key)
                               for name, key in defaults.global_hotkeys.items()}
    for name, valid in _VALID.items():
        if not _passes(valid, getattr(settings, name)):
            setattr(settings, name, getattr(AppSettings(), name))
    if not math.isfinite(settings.smoothing):
        settings.smoothing = AppSettings.smoothing
    settings.smoothing = min(max(settings.smoothing, 0.0), 1.0)
    for name in ("head_motion", "expressions"):
        if not 0 <= getattr(settings, name) <= MAX_PERCENT:
            setattr(settings, name, 100)
    settings.countdown = min(max(settings.countdown, 0), 10)
    if not 1024 <= settings.api_port <= 65535:
        settings.api_port = DEFAULT_PORT
    settings.api_token = settings.api_token or new_token()
    # Paths from settings are checked before use: a file moved or deleted since is simply forgotten.
    if settings.avatar and not Path(settings.avatar).is_file():
        settings.avatar = ""
    return settings


def output_settings(settings: AppSettings) -> OutputSettings:
    """The call picture the stored settings describe."""
    return OutputSettings(size=parse_size(settings.output_size), fit=settings.fit, background=settings.background)


def _passes(check, value) -> bool:
    try:
        return check(value) is not False
    except ValueError:
        return False


def save(store: QSettings, settings: AppSettings) -> None:
    values = {f.name: getattr(settings, f.name) for f in fields(AppSettings) if f.name not in ("engine", "profiles")}
    values[_PROFILES] = json.dumps({path: {**{f.name: getattr(p, f.name) for f in fields(AvatarProfile)},
                                           "neutral": p.neutral.stored() if p.neutral else None}
                                    for path, p in settings.profiles.items()})
    choice = asdict(settings.engine)
    choice["checkpoint"] = str(choice["checkpoint"] or "")
    _save_pairing(pairing_file(store), choice.pop("remote"))
    for name, value in {**values, **choice}.items():
        if value is not None:
            store.setValue(name, value)
    store.sync()


def _load_profiles(text) -> dict[str, AvatarProfile]:
    """The profiles ``save`` wrote; a value that is not what it should be falls back to its default, and the
    profile of a portrait that is no longer there is forgotten."""
    try:
        stored = json.loads(text) if isinstance(text, str) and text else {}
    except ValueError:
        return {}
    profiles = {}
    for path, values in (stored.items() if isinstance(stored, dict) else ()):
        if not (isinstance(values, dict) and Path(path).is_file()):
            continue
        profile = AvatarProfile(neutral=NeutralPose.from_stored(values.get("neutral")))
        for f in fields(AvatarProfile):
            value, default = values.get(f.name), getattr(profile, f.name)
            if f.name != "neutral" and type(value) is type(default) and _in_range(f.name, value):
                setattr(profile, f.name, value)
        profiles[path] = profile
    return profiles


def _in_range(name: str, value) -> bool:
    if name == "smoothing":
        return 0 <= value <= 1
    return 0 <= value <= MAX_PERCENT if name in ("head_motion", "expressions") else True


def _load_choice(store: QSettings, default: EngineChoice) -> EngineChoice:
    changes = {}
    for f in fields(EngineChoice):
        if f.name == "remote" or not store.contains(f.name):
            continue
        if f.name == "checkpoint":
            path = str(store.value(f.name) or "")
            changes[f.name] = Path(path) if path and Path(path).is_file() else None
            continue
        value = _coerce(f.name, store.value(f.name), getattr(default, f.name))
        if value in _ALLOWED.get(f.name, (value,)):
            changes[f.name] = value
    return replace(default, **changes)


def _load_pairing(store: QSettings) -> str:
    """The stored pairing string; one an earlier version saved in clear in the store is moved to its file."""
    file = pairing_file(store)
    if store.contains("remote"):
        legacy = str(store.value("remote") or "")
        store.remove("remote")
        store.sync()
        if legacy and not file.exists():
            _save_pairing(file, legacy)
    try:
        return file.read_text(encoding="utf-8").strip() if file.is_file() else ""
    except (OSError, UnicodeDecodeError):
        return ""


def _save_pairing(file: Path, pairing: str) -> None:
    try:
        if not pairing:
            file.unlink(missing_ok=True)
        elif not (file.is_file() and file.read_text(encoding="utf-8").strip() == pairing):
            file.parent.mkdir(parents=True, exist_ok=True)
            write_text_file(file, f"{pairing}\n", private=True)
    except (OSError, UnicodeDecodeError, UserError) as exc:  # the other settings are still saved
        log.warning("the Remote GPU pairing could not be saved in %s: %s", file, exc)


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
