"""Global keys: Facade's keys while another program (Zoom, OBS, a game) has focus.

On X11 each key is grabbed on the root window with python-xlib: the program in focus never gets it, and a
key that the desktop or another program already holds is refused by the X server (BadAccess) and reported.
On Windows and macOS pynput's listener watches the keyboard on a thread of its own (macOS: only once Facade
may use Accessibility). Wayland lets no program read keys meant for another: there Facade asks the desktop's
GlobalShortcuts portal (app/portal_keys.py), which binds them after its own dialog, or says why it cannot.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from typing import Callable

from PySide6.QtCore import QObject, QSocketNotifier, Qt, Signal

from .hotkeys import BY_NAME, split_key
from .portal_keys import Bound, PortalMissing, PortalShortcuts, Shortcut

log = logging.getLogger(__name__)


class Unavailable(Enum):
    """Why no global key works."""

    WAYLAND = "wayland"
    NO_DISPLAY = "no display"
    NO_LIBRARY = "no library"
    UNTRUSTED = "untrusted"  # macOS: Accessibility not granted
    DECLINED = "declined"  # Wayland: the desktop's dialog was cancelled, or the desktop refused


class Refused(Enum):
    """Why one global key does not work."""

    TAKEN = "taken"  # the desktop or another program holds it
    NO_SUCH_KEY = "no such key"  # this keyboard has no key that types it
    NOT_BOUND = "not bound"  # Wayland: the desktop (or the user, in its dialog) left it out


@dataclass(frozen=True)
class Listening:
    """What ``GlobalKeys.listen`` achieved: the keys refused (action name -> why), or why none work at all
    (``detail``: the system's own words). On Wayland: ``waiting`` while the desktop asks the user, then the
    keys as the desktop bound them (``bound``: action name -> its trigger, in the desktop's words)."""

    refused: dict[str, Refused] = field(default_factory=dict)
    unavailable: Unavailable | None = None
    detail: str = ""
    waiting: bool = False
    bound: dict[str, str] = field(default_factory=dict)

    def describe(self, keys: dict[str, str]) -> str:
        """The window's message about it (``keys``: the bindings asked for), or '' when every key works."""
        if self.waiting:
            return "Global keys: waiting for the desktop to bind them (answer its dialog)."
        if self.unavailable in (Unavailable.WAYLAND, Unavailable.DECLINED):
            return (f"Global keys are not available on Wayland: {self.detail}. Log in with an X11 session (e.g. "
                    "“GNOME on Xorg”) to use them, or give your desktop's own keyboard shortcuts a command that "
                    "drives Facade through its control API (README: Keys).")
        if self.unavailable == Unavailable.UNTRUSTED:
            return ("Global keys need Facade (or the terminal that runs it) to be allowed under System Settings → "
                    "Privacy & Security → Accessibility; allow it, then turn global keys off and on in Settings…")
        if self.unavailable is not None:
            return f"Global keys are off: {self.detail or self.unavailable.value}. The window's keys still work."
        if not self.refused:
            return ""
        taken = [f"{keys[n]} ({BY_NAME[n].label})" for n, why in self.refused.items() if why == Refused.TAKEN]
        missing = [f"{keys[n]} ({BY_NAME[n].label})" for n, why in self.refused.items()
                   if why == Refused.NO_SUCH_KEY]
        left_out = [BY_NAME[n].label for n, why in self.refused.items() if why == Refused.NOT_BOUND]
        if left_out:  # Wayland: the desktop's settings bind keys, not Facade's
            return (f"Global keys: the desktop did not bind {', '.join(left_out)}. Your desktop's keyboard settings "
                    "can bind them.")
        parts = ([f"{', '.join(taken)} {'is' if len(taken) == 1 else 'are'} taken by the desktop or another "
                  "program"] if taken else []) + ([f"this keyboard has no {', '.join(missing)}"] if missing else [])
        return f"Global keys: {'; '.join(parts)}. Pick other keys in Settings…"


class Backend(Enum):
    """How keys are heard: X11 grabs (Linux, BSD) or pynput (Windows, macOS)."""

    X11 = "x11"
    PYNPUT = "pynput"


class GlobalKeys(QObject):
    """Listens for keys everywhere; ``pressed`` gives the action's name, on the Qt thread. ``settled`` gives
    what the desktop's answer made of a ``listen`` that was ``waiting`` (Wayland)."""

    pressed = Signal(str)
    settled = Signal(object)  # Listening
    _heard = Signal(str)  # emitted on the listener's thread (pynput's), delivered on the Qt thread

    def __init__(self, parent=None, backend: Backend | None = None):
        super().__init__(parent)
        self._heard.connect(self.pressed, Qt.ConnectionType.QueuedConnection)
        self._kind = {Backend.X11: _X11Keys, Backend.PYNPUT: _PynputKeys}[backend or (
            Backend.X11 if sys.platform.startswith(("linux", "freebsd", "openbsd")) else Backend.PYNPUT)]
        self._listener: _X11Keys | _PynputKeys | PortalShortcuts | None = None
        self._desktop: tuple[dict[str, str], Listening] | None = None  # Wayland: the keys asked for, and the answer

    def listen(self, keys: dict[str, str]) -> Listening:
        """Listen for ``keys`` (action name -> key as Qt writes it, e.g. "Ctrl+Alt+Shift+X") instead of those
        before; none stops listening."""
        keys = {name: key for name, key in keys.items() if key}
        if self._desktop is not None and self._desktop[0] == keys and self._desktop[1].unavailable is None:
            return self._desktop[1]  # the desktop has them, or is asking: asking again would show its dialog again
        self.stop()
        if not keys:
            return Listening()
        if os.environ.get("WAYLAND_DISPLAY") or os.environ.get("XDG_SESSION_TYPE") == "wayland":
            # An X11 grab under XWayland sees keys only while an X11 window has focus: not global.
            return self._ask_desktop(keys)
        try:
            self._listener = self._kind(keys, self._heard.emit)
        except _CannotStart as exc:
            log.info("global keys are off: %s", exc.detail)
            return Listening(unavailable=exc.why, detail=exc.detail)
        return Listening(refused=self._listener.refused)

    def _ask_desktop(self, keys: dict[str, str]) -> Listening:
        shortcuts = {name: Shortcut(BY_NAME[name].label, portal_trigger(key)) for name, key in keys.items()}
        try:
            self._listener = PortalShortcuts(shortcuts, self.pressed.emit, partial(self._answered, keys))
        except PortalMissing as exc:
            log.info("global keys are off: %s", exc)
            return Listening(unavailable=Unavailable.WAYLAND, detail=str(exc))
        self._desktop = (keys, Listening(waiting=True))
        return self._desktop[1]

    def _answered(self, keys: dict[str, str], answer: Bound) -> None:
        if answer.declined:
            settled = Listening(unavailable=Unavailable.DECLINED, detail=answer.declined)
        else:
            settled = Listening(refused={n: Refused.NOT_BOUND for n in keys if n not in answer.triggers},
                                bound={n: t for n, t in answer.triggers.items() if n in keys})
        self._desktop = (keys, settled)
        self.settled.emit(settled)

    def stop(self) -> None:
        self._desktop = None
        if self._listener is not None:
            self._listener.stop()
            self._listener = None


class _CannotStart(Exception):
    def __init__(self, why: Unavailable, detail: str = ""):
        super().__init__(detail)
        self.why, self.detail = why, detail


# X11.

# Qt's names of keys that X names otherwise; a single character is its own keysym (Latin-1 keysyms are the
# characters' code points, others are 0x01000000 + the code point).
_X_NAMES = {"PgDown": "Next", "PgUp": "Prior", "Space": "space", "Ins": "Insert", "Del": "Delete", "Esc": "Escape",
            "Backspace": "BackSpace", "Enter": "KP_Enter", "Print": "Print", "ScrollLock": "Scroll_Lock"}


class _X11Keys:
    """The keys grabbed on the root window; their presses read on the Qt thread as the connection has data."""

    def __init__(self, keys: dict[str, str], heard: Callable[[str], None]):
        try:
            from Xlib import X, XK, display, error
        except ImportError as exc:
            raise _CannotStart(Unavailable.NO_LIBRARY, f"python-xlib is not installed ({exc})") from None
        if not os.environ.get("DISPLAY"):
            raise _CannotStart(Unavailable.NO_DISPLAY, "no X display (DISPLAY is not set)")
        try:
            self._display = display.Display()
        except Exception as exc:  # python-xlib raises several types, and OSError, for a display it cannot open
            raise _CannotStart(Unavailable.NO_DISPLAY, f"the X display {os.environ['DISPLAY']} does not open "
                                                       f"({exc})") from None
        self._X, self._heard = X, heard
        self._root = self._display.screen().root
        self._modifiers = {"Ctrl": X.ControlMask, "Shift": X.ShiftMask, "Alt": X.Mod1Mask, "Meta": X.Mod4Mask}
        self._mask = X.ControlMask | X.ShiftMask | X.Mod1Mask | X.Mod4Mask
        # Caps Lock and Num Lock change the state a press comes with: each key is grabbed with both, either, none.
        self._locks = (0, X.LockMask, X.Mod2Mask, X.LockMask | X.Mod2Mask)
        self._bound: dict[tuple[int, int], str] = {}  # (keycode, modifiers) -> action name
        self.refused: dict[str, Refused] = {}
        for name, key in keys.items():
            mods, bare = split_key(key)
            keysym = XK.string_to_keysym(_X_NAMES.get(bare, bare)) if len(bare) > 1 else _char_keysym(bare)
            keycode = self._display.keysym_to_keycode(keysym) if keysym else 0
            if not keycode:
                self.refused[name] = Refused.NO_SUCH_KEY
                continue
            grab = (keycode, sum(self._modifiers[m] for m in mods))
            caught = error.CatchError(error.BadAccess)
            for lock in self._locks:
                self._root.grab_key(grab[0], grab[1] | lock, False, X.GrabModeAsync, X.GrabModeAsync,
                                    onerror=caught)
            self._display.sync()
            if caught.get_error() is not None:
                self._ungrab(grab)  # the variants that were granted
                self.refused[name] = Refused.TAKEN
            else:
                self._bound[grab] = name
        self._released: dict[int, int] = {}  # keycode -> time of its last release
        self._notifier = QSocketNotifier(self._display.fileno(), QSocketNotifier.Type.Read)
        self._notifier.activated.connect(self._read)
        self._read()  # what sync() already took off the socket

    def _ungrab(self, grab: tuple[int, int]) -> None:
        for lock in self._locks:
            self._root.ungrab_key(grab[0], grab[1] | lock)

    def _read(self, *_) -> None:
        X = self._X
        try:
            while self._display.pending_events():
                event = self._display.next_event()
                if event.type == X.KeyRelease:
                    self._released[event.detail] = event.time
                elif event.type == X.KeyPress:
                    if self._released.get(event.detail) == event.time:
                        continue  # auto-repeat: X sends a release and a press at one instant while a key is held
                    name = self._bound.get((event.detail, event.state & self._mask))
                    if name is not None:
                        self._heard(name)
                elif event.type == X.MappingNotify:
                    self._display.refresh_keyboard_mapping(event)
        except Exception as exc:  # the X server went away: nothing more will come
            log.warning("global keys stopped: %s", exc)
            self._notifier.setEnabled(False)

    def stop(self) -> None:
        self._notifier.setEnabled(False)
        self._notifier.deleteLater()
        try:
            for grab in self._bound:
                self._ungrab(grab)
            self._display.close()
        except Exception as exc:  # a connection already lost has nothing to release
            log.info("closing the global keys' X connection: %s", exc)


def _char_keysym(char: str) -> int:
    code = ord(char.lower())
    return code if code < 0x100 else 0x01000000 + code


def portal_trigger(key: str) -> str:
    """``key`` as Qt writes it, as the shortcuts spec writes a trigger ("CTRL+ALT+SHIFT+x": XKB's modifier and
    keysym names), or '' for a key it cannot name (the user picks one in the desktop's dialog)."""
    mods, bare = split_key(key)
    names = {"Ctrl": "CTRL", "Alt": "ALT", "Shift": "SHIFT", "Meta": "LOGO"}
    keysym = bare.lower() if len(bare) == 1 and bare.isalnum() and bare.isascii() else _X_NAMES.get(bare, bare)
    if not keysym.replace("_", "").isalnum() or not keysym.isascii():
        return ""
    return "+".join([names[m] for m in ("Ctrl", "Alt", "Shift", "Meta") if m in mods] + [keysym])


# pynput (Windows, macOS).

_PYNPUT_NAMES = {"PgDown": "page_down", "PgUp": "page_up", "Ins": "insert", "Del": "delete", "Return": "enter",
                 "Print": "print_screen", "ScrollLock": "scroll_lock"}


def pynput_key(key: str, platform: str = sys.platform) -> str:
    """``key`` as Qt writes it, in pynput's hotkey syntax. On macOS Qt's Ctrl is ⌘ and its Meta is Control."""
    mods, bare = split_key(key)
    names = {"Ctrl": "cmd", "Meta": "ctrl"} if platform == "darwin" else {"Ctrl": "ctrl", "Meta": "cmd"}
    parts = [f"<{names.get(m, m.lower())}>" for m in ("Ctrl", "Alt", "Shift", "Meta") if m in mods]
    return "+".join(parts + [bare.lower() if len(bare) == 1 else f"<{_PYNPUT_NAMES.get(bare, bare.lower())}>"])


class _PynputKeys:
    """pynput's listener, on its own thread; ``heard`` is called there."""

    def __init__(self, keys: dict[str, str], heard: Callable[[str], None]):
        try:
            from pynput import keyboard
        except ImportError as exc:  # not installed, or (Linux) no display to connect to
            raise _CannotStart(Unavailable.NO_LIBRARY, f"pynput does not load ({exc})") from None
        self.refused: dict[str, Refused] = {}
        hotkeys = {}
        for name, key in keys.items():
            try:
                keyboard.HotKey.parse(pynput_key(key))
            except ValueError:
                self.refused[name] = Refused.NO_SUCH_KEY
                continue
            hotkeys[pynput_key(key)] = partial(heard, name)
        try:
            self._listener = keyboard.GlobalHotKeys(hotkeys)
            self._listener.start()
            self._listener.wait()
        except Exception as exc:  # the platform refused the hook or event tap: the window carries on without
            raise _CannotStart(Unavailable.NO_LIBRARY, f"pynput's listener did not start ({exc})") from None
        if sys.platform == "darwin" and not getattr(self._listener, "IS_TRUSTED", True):
            self.stop()
            raise _CannotStart(Unavailable.UNTRUSTED)

    def stop(self) -> None:
        # No more presses come once stop() returns; not joined: on X11 (where Facade grabs instead, but tests
        # run this too) pynput's thread ends only at the next key anyone presses.
        self._listener.stop()
