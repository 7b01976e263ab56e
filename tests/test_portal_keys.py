"""Global keys on Wayland through the GlobalShortcuts portal, on a private D-Bus session bus (dbus-daemon) with
a small portal of our own on it (no GNOME or KDE here): the calls, the Request objects' Responses and the
Activated signal as xdg-desktop-portal sends them. Also a bus without a portal, one whose portal lacks the
interface, and a dialog the user cancels."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from dataclasses import dataclass, field

import pytest
from jeepney import DBusAddress, HeaderFields, MessageType, new_error, new_method_return, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

from app import settings as app_settings
from app.banner import Concern
from app.global_keys import GlobalKeys, Refused, Unavailable, portal_trigger
from app.portal_keys import PORTAL
from conftest import open_window

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/>
  </policy>
</busconfig>
"""


@pytest.fixture
def session_bus(tmp_path, monkeypatch):
    """A D-Bus session bus of our own, with nothing on it (no services to start either), as a Wayland session
    would have it."""
    if shutil.which("dbus-daemon") is None:
        pytest.skip("needs dbus-daemon (apt install dbus)")
    config = tmp_path / "bus.conf"
    socket_dir = tmp_path / "bus"
    socket_dir.mkdir()
    config.write_text(_BUS_CONFIG.format(dir=socket_dir))
    daemon = subprocess.Popen(["dbus-daemon", "--config-file", str(config), "--nofork", "--print-address"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    address = daemon.stdout.readline().strip()
    if not address:
        daemon.kill()
        pytest.skip("dbus-daemon did not start")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    yield address
    daemon.terminate()
    daemon.wait()


@dataclass
class FakePortal:
    """org.freedesktop.portal.Desktop with the GlobalShortcuts interface (or, ``interface`` False, without),
    on its own connection and thread. BindShortcuts binds what ``bind`` names (id -> trigger description;
    None: every shortcut, described as asked), or the user cancels the dialog (``cancel``)."""

    address: str
    interface: bool = True
    registry: bool = True  # the host Registry of xdg-desktop-portal 1.20 on
    bind: dict[str, str] | None = None
    cancel: bool = False
    asked: list = field(default_factory=list)  # the shortcuts each BindShortcuts was given
    closed: list = field(default_factory=list)  # sessions closed
    calls: list = field(default_factory=list)  # the methods called, in order

    def __post_init__(self):
        self._bus = open_dbus_connection(self.address)
        self._bus.send_and_get_reply(message_bus.RequestName(PORTAL.bus_name))
        self._lock = threading.Lock()  # the test's thread sends Activated while this one answers calls
        self._running = True
        self.session = ""
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _send(self, message) -> None:
        with self._lock:
            self._bus.send(message)

    def _serve(self) -> None:
        while self._running:
            try:
                message = self._bus.receive(timeout=0.05)
            except TimeoutError:
                continue
            if message.header.message_type == MessageType.method_call:
                self._answer(message)

    def _answer(self, call) -> None:
        fields = call.header.fields
        member, interface = fields[HeaderFields.member], fields.get(HeaderFields.interface)
        caller = fields[HeaderFields.sender][1:].replace(".", "_")
        self.calls.append(member)
        if member == "Register" and interface == "org.freedesktop.host.portal.Registry" and self.registry:
            assert call.body == ("io.github.facade.Facade", {})
            self._send(new_method_return(call))
        elif member == "Get" and interface == "org.freedesktop.DBus.Properties":
            if not self.interface or call.body != (PORTAL.interface, "version"):
                self._send(new_error(call, "org.freedesktop.DBus.Error.InvalidArgs", "s", ("No such interface",)))
            else:
                self._send(new_method_return(call, "v", (("u", 1),)))
        elif member == "CreateSession":
            options = call.body[0]
            self.session = f"/org/freedesktop/portal/desktop/session/{caller}/{options['session_handle_token'][1]}"
            self._respond(call, options, 0, {"session_handle": ("s", self.session)})
        elif member == "BindShortcuts":
            session, shortcuts, _parent, options = call.body
            assert session == self.session
            self.asked.append(shortcuts)
            bound = [(name, {"description": props["description"],
                             "trigger_description": ("s", props.get("preferred_trigger", ("s", "?"))[1]
                                                     if self.bind is None else self.bind[name])})
                     for name, props in shortcuts if self.bind is None or name in self.bind]
            self._respond(call, options, 1 if self.cancel else 0, {} if self.cancel else {
                "shortcuts": ("a(sa{sv})", bound)})
        elif member == "Close":
            self.closed.append(fields[HeaderFields.path])
        else:
            self._send(new_error(call, "org.freedesktop.DBus.Error.UnknownMethod"))

    def _respond(self, call, options: dict, code: int, results: dict) -> None:
        caller = call.header.fields[HeaderFields.sender][1:].replace(".", "_")
        handle = f"/org/freedesktop/portal/desktop/request/{caller}/{options['handle_token'][1]}"
        self._send(new_method_return(call, "o", (handle,)))
        self._send(new_signal(DBusAddress(handle, interface="org.freedesktop.portal.Request"), "Response",
                              "ua{sv}", (code, results)))

    def press(self, shortcut: str, session: str | None = None) -> None:
        """The user presses a bound shortcut: the portal's Activated signal (then Deactivated, ignored)."""
        for member in ("Activated", "Deactivated"):
            self._send(new_signal(PORTAL, member, "osta{sv}", (session or self.session, shortcut, 1234, {})))

    def change(self, shortcut: str, trigger: str) -> None:
        """The user gives a shortcut another trigger in the desktop's settings."""
        self._send(new_signal(PORTAL, "ShortcutsChanged", "oa(sa{sv})", (self.session, [
            (shortcut, {"description": ("s", ""), "trigger_description": ("s", trigger)})])))

    def stop(self) -> None:
        self._running = False
        self._thread.join()
        self._bus.close()


@pytest.fixture
def portal(session_bus):
    made = []

    def make(**kwargs) -> FakePortal:
        made.append(FakePortal(session_bus, **kwargs))
        return made[-1]

    yield make
    for one in made:
        one.stop()


def _listening(qtbot, keys):
    listener = GlobalKeys()
    heard, settled = [], []
    listener.pressed.connect(heard.append)
    listener.settled.connect(settled.append)
    return listener, listener.listen(keys), heard, settled


def test_the_desktop_binds_the_keys_and_its_presses_arrive(qtbot, portal):
    fake = portal(bind={"calibrate": "Ctrl+Alt+Shift+X", "hide": "Super+H"})  # the user changed Hide's key
    keys = {"calibrate": "Ctrl+Alt+Shift+X", "hide": "Ctrl+Alt+Shift+H", "next_avatar": "Ctrl+Alt+Shift+PgDown"}
    listener, listening, heard, settled = _listening(qtbot, keys)
    assert listening.waiting and "waiting for the desktop" in listening.describe(keys)
    qtbot.waitUntil(lambda: bool(settled), timeout=10000)
    assert fake.asked[0] == [
        ("calibrate", {"description": ("s", "Calibrate (take the neutral pose)"),
                       "preferred_trigger": ("s", "CTRL+ALT+SHIFT+x")}),
        ("hide", {"description": ("s", "Hide the call picture behind a card, or show it again"),
                  "preferred_trigger": ("s", "CTRL+ALT+SHIFT+h")}),
        ("next_avatar", {"description": ("s", "Next avatar"), "preferred_trigger": ("s", "CTRL+ALT+SHIFT+Next")})]
    assert fake.calls == ["Register", "Get", "CreateSession", "BindShortcuts"]  # the app's id before any call
    result = settled[0]
    assert result.bound == {"calibrate": "Ctrl+Alt+Shift+X", "hide": "Super+H"}
    assert result.refused == {"next_avatar": Refused.NOT_BOUND}
    assert result.describe(keys) == ("Global keys: the desktop did not bind Next avatar. Your desktop's keyboard "
                                     "settings can bind them.")
    fake.press("hide")
    fake.press("calibrate", session="/org/freedesktop/portal/desktop/session/other/app")  # another app's
    fake.press("calibrate")
    qtbot.waitUntil(lambda: len(heard) == 2, timeout=10000)
    qtbot.wait(100)
    assert heard == ["hide", "calibrate"]
    fake.change("calibrate", "Super+C")  # in the desktop's settings, later
    qtbot.waitUntil(lambda: len(settled) == 2, timeout=10000)
    assert settled[1].bound == {"calibrate": "Super+C", "hide": "Super+H"}
    assert settled[1].refused == {"next_avatar": Refused.NOT_BOUND}
    result = settled[1]
    assert listener.listen(keys) is result and len(fake.asked) == 1  # the same keys: no second dialog
    first = fake.session
    assert listener.listen({**keys, "hide": "Ctrl+Alt+Shift+Y"}).waiting  # other keys: asked again
    qtbot.waitUntil(lambda: len(settled) == 3, timeout=10000)
    assert fake.closed == [first] and fake.asked[1][1][1]["preferred_trigger"] == ("s", "CTRL+ALT+SHIFT+y")
    listener.stop()
    qtbot.waitUntil(lambda: fake.closed == [first, fake.session], timeout=10000)  # the desktop frees the keys
    fake.press("hide")
    qtbot.wait(200)
    assert heard == ["hide", "calibrate"]


def test_a_cancelled_dialog_says_so(qtbot, portal):
    fake = portal(cancel=True, registry=False)  # a portal before the Registry: asked all the same
    listener, listening, heard, settled = _listening(qtbot, {"calibrate": "Ctrl+Alt+Shift+X"})
    assert listening.waiting
    qtbot.waitUntil(lambda: bool(settled), timeout=10000)
    assert fake.calls == ["Register", "Get", "CreateSession", "BindShortcuts"]
    assert settled[0].unavailable == Unavailable.DECLINED and not settled[0].bound
    assert settled[0].describe({}).startswith(
        "Global keys are not available on Wayland: you cancelled the desktop's dialog. Log in with an X11 session")
    listener.stop()


@pytest.mark.parametrize("with_portal, reason", [
    (False, "the desktop has no GlobalShortcuts portal (org.freedesktop.DBus.Error.ServiceUnknown)"),
    (True, "the desktop has no GlobalShortcuts portal (org.freedesktop.DBus.Error.InvalidArgs)"),
])
def test_no_portal_says_why(qtbot, portal, with_portal, reason):
    if with_portal:
        portal(interface=False)  # a portal without the GlobalShortcuts interface
    listener, listening, _, settled = _listening(qtbot, {"calibrate": "Ctrl+Alt+Shift+X"})
    assert listening.unavailable == Unavailable.WAYLAND and listening.detail == reason
    assert listening.describe({}) == (
        f"Global keys are not available on Wayland: {reason}. Log in with an X11 session (e.g. “GNOME on Xorg”) "
        "to use them, or give your desktop's own keyboard shortcuts a command that drives Facade through its "
        "control API (README: Keys).")
    assert not settled


def test_no_session_bus_says_why(qtbot, monkeypatch):
    for name in ("DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    listening = GlobalKeys().listen({"calibrate": "Ctrl+Alt+Shift+X"})
    assert listening.unavailable == Unavailable.WAYLAND
    assert listening.detail == ("there is no session bus to reach the desktop's portal on "
                                "(DBUS_SESSION_BUS_ADDRESS is not set)")


def test_the_window_calibrates_by_a_key_the_desktop_bound(qtbot, tmp_path, camera_video, portal):
    fake = portal(bind={"calibrate": "Ctrl+Alt+Shift+X", "hide": "Super+H"})
    app_settings.save(app_settings.open_settings(tmp_path / "facade.ini"), app_settings.AppSettings(global_keys=True))
    window = open_window(qtbot, tmp_path, str(camera_video))
    try:
        qtbot.waitUntil(lambda: bool(window._bound_keys), timeout=15000)  # the window starts meanwhile
        assert window._bound_keys == {"calibrate": "Ctrl+Alt+Shift+X", "hide": "Super+H"}
        assert window.warnings[Concern.KEYS].startswith("Global keys: the desktop did not bind Virtual camera on/off")
        qtbot.waitUntil(lambda: window.avatar_view.frames_shown > 3, timeout=15000)
        pipeline = window.session.pipeline
        qtbot.waitUntil(lambda: pipeline.calibrated, timeout=15000)
        count = pipeline.calibrations
        fake.press("calibrate")
        qtbot.waitUntil(lambda: pipeline.calibrations == count + 1, timeout=10000)
        fake.press("hide")
        qtbot.waitUntil(lambda: window.session.hidden, timeout=10000)
    finally:
        window.close()


def test_qt_keys_as_portal_triggers():
    assert portal_trigger("Ctrl+Alt+Shift+X") == "CTRL+ALT+SHIFT+x"
    assert portal_trigger("Ctrl+Alt+Shift+PgUp") == "CTRL+ALT+SHIFT+Prior"
    assert portal_trigger("Meta+F9") == "LOGO+F9"
    assert portal_trigger("Ctrl+Alt+Shift+1") == "CTRL+ALT+SHIFT+1"
    assert portal_trigger("Ctrl++") == ""  # no keysym name known here: the user picks it in the dialog
