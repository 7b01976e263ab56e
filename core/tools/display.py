"""Whether the window can open here: a display, and the system libraries Qt's X11 (xcb) plugin needs.

Without them Qt prints its reason among other lines and aborts; Facade asks first and names the fix.
Qt itself is never imported here: the check must work where importing it would be the failure.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from core.errors import UserError

# The Debian/Ubuntu package of each library Qt's xcb plugin links to (from `ldd` and `dpkg -S` on Debian 12).
DEBIAN_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4", "libxcb-util.so.1": "libxcb-util1",
    "libxcb-image.so.0": "libxcb-image0", "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0", "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-render.so.0": "libxcb-render0", "libxcb-shm.so.0": "libxcb-shm0", "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-shape.so.0": "libxcb-shape0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb.so.1": "libxcb1", "libX11-xcb.so.1": "libx11-xcb1", "libX11.so.6": "libx11-6",
    "libxkbcommon.so.0": "libxkbcommon0", "libxkbcommon-x11.so.0": "libxkbcommon-x11-0", "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1", "libfontconfig.so.1": "libfontconfig1", "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0", "libdbus-1.so.3": "libdbus-1-3"}
_README = "the README's Quick start lists them for Fedora and Arch too"


class NoDisplay(UserError):
    """No graphical session to open a window in."""


class MissingLibraries(UserError):
    """The system lacks libraries Qt's platform plugin needs."""


def display_problem(env: dict[str, str] | None = None, platform: str = sys.platform) -> UserError | None:
    """Why the window could not open here (NoDisplay or MissingLibraries), with what to do; None when
    nothing stands in the way."""
    env = os.environ if env is None else env
    if not platform.startswith("linux"):
        return None
    chosen = env.get("QT_QPA_PLATFORM", "")
    if chosen and not chosen.startswith("xcb"):
        return None  # offscreen, wayland, vnc...: Qt's own business
    if not chosen and env.get("WAYLAND_DISPLAY"):
        return None  # Qt may use Wayland; only xcb's needs are checked
    if not env.get("DISPLAY"):
        return NoDisplay("no display: the window needs a graphical session (DISPLAY is unset)",
                         "start Facade from your desktop, or headless with xvfb-run python main.py; "
                         "run, animate and serve need no display")
    missing = missing_xcb_libraries()
    if missing:
        packages = sorted({DEBIAN_PACKAGES.get(name, name) for name in missing})
        return MissingLibraries(f"the window cannot open: Qt's X11 plugin needs {', '.join(missing)}, not installed",
                                f"on Debian/Ubuntu: sudo apt install {' '.join(packages)} ({_README})")
    return None


def missing_xcb_libraries() -> list[str]:
    """The libraries Qt's xcb plugin links to that the system's loader cannot find (empty where it cannot tell)."""
    plugin = _xcb_plugin()
    if plugin is None:
        return []
    try:
        listing = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []  # no ldd: Qt will say it itself
    return unresolved(listing)


def unresolved(ldd_output: str) -> list[str]:
    """The ``NAME => not found`` lines of ``ldd``'s output, in order, once each."""
    names = [line.split("=>")[0].strip() for line in ldd_output.splitlines() if "=> not found" in line]
    return list(dict.fromkeys(names))


def _xcb_plugin() -> Path | None:
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    plugin = Path(next(iter(spec.submodule_search_locations))) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None
