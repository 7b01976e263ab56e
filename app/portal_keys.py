"""Global keys on Wayland: the desktop's GlobalShortcuts portal (xdg-desktop-portal) on the session bus.

Wayland gives no program the keys meant for another; a program asks the desktop instead. It creates a
shortcuts session, asks the desktop to bind its shortcuts (the desktop shows its own dialog, where the user may
change each trigger or refuse), then hears the portal's Activated signal when one is pressed. Each answer comes
later as the Response signal of a Request object, so the bus is read on the Qt thread as data arrives; jeepney
(pure Python) speaks D-Bus, as PySide6's QtDBus cannot send the portal's a(sa{sv}) shortcuts list.
"""

from __future__ import annotations

import itertools
import logging
import os
from dataclasses import dataclass
from typing import Callable

from jeepney import DBusAddress, HeaderFields, MessageType, Properties, message_bus, new_method_call
from jeepney.bus_messages import MatchRule
from jeepney.io.blocking import open_dbus_connection
from jeepney.wrappers import DBusErrorResponse, unwrap_msg
from PySide6.QtCore import QSocketNotifier

log = logging.getLogger(__name__)

PORTAL = DBusAddress("/org/freedesktop/portal/desktop", "org.freedesktop.portal.Desktop",
                     "org.freedesktop.portal.GlobalShortcuts")
_REQUEST = "org.freedesktop.portal.Request"
# xdg-desktop-portal 1.20 on gives a program outside a sandbox shortcuts only once it has said which application
# it is, before its first portal call; older portals lack the Registry (the call fails, and is not needed).
_REGISTRY = DBusAddress(PORTAL.object_path, PORTAL.bus_name, "org.freedesktop.host.portal.Registry")
APP_ID = "io.github.facade.Facade"
_SESSION = "org.freedesktop.portal.Session"
_START_TIMEOUT_S = 10  # the bus starts the portal on the first call to it, which can take seconds
# Request::Response's codes other than 0 (success).
_ENDED = {1: "you cancelled the desktop's dialog", 2: "the desktop ended the request"}


class PortalMissing(Exception):
    """No GlobalShortcuts portal to ask; the message says why."""


@dataclass(frozen=True)
class Shortcut:
    """One shortcut to ask for: what it does, and the trigger preferred (shortcuts spec: "CTRL+ALT+SHIFT+x";
    '' for none, the user picks one in the desktop's dialog)."""

    description: str
    trigger: str = ""


@dataclass(frozen=True)
class Bound:
    """The desktop's answer: the shortcuts it bound (id -> how to trigger it, in the desktop's words), or, with
    none, why (``declined``)."""

    triggers: dict[str, str]
    declined: str = ""


def _session_bus() -> str:
    address = os.environ.get("DBUS_SESSION_BUS_ADDRESS", "")
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if not address and runtime and os.path.exists(os.path.join(runtime, "bus")):
        address = f"unix:path={os.path.join(runtime, 'bus')}"  # the systemd user bus, where the variable is unset
    if not address:
        raise PortalMissing("there is no session bus to reach the desktop's portal on (DBUS_SESSION_BUS_ADDRESS "
                            "is not set)")
    return address


class PortalShortcuts:
    """A GlobalShortcuts session: ``activated`` gets a shortcut's id at each press, ``answered`` the desktop's
    answer to the binding, and again whenever the user changes a trigger in the desktop's settings; both on
    the Qt thread. Raises PortalMissing when there is no portal to ask."""

    def __init__(self, shortcuts: dict[str, Shortcut], activated: Callable[[str], None],
                 answered: Callable[[Bound], None]):
        address = _session_bus()
        try:
            self._bus = open_dbus_connection(address)
        except Exception as exc:  # jeepney raises OSError, TimeoutError or ValueError for a bus it cannot use
            raise PortalMissing(f"the session bus {address} does not answer ({exc})") from None
        try:
            for member in ("Response", "Activated", "ShortcutsChanged"):
                rule = MatchRule(type="signal", sender=PORTAL.bus_name, member=member,
                                 interface=_REQUEST if member == "Response" else PORTAL.interface)
                self._call(message_bus.AddMatch(rule))
            self._register()
            version = self._call(Properties(PORTAL).get("version"))[0][1]
        except DBusErrorResponse as exc:  # ServiceUnknown: no portal; InvalidArgs/UnknownInterface: no such portal
            self._bus.close()
            raise PortalMissing(f"the desktop has no GlobalShortcuts portal ({exc.name})") from None
        except (OSError, TimeoutError) as exc:
            self._bus.close()
            raise PortalMissing(f"the desktop's portal does not answer ({exc or 'no answer in time'})") from None
        log.info("GlobalShortcuts portal version %s", version)
        self._shortcuts, self._activated, self._answered = shortcuts, activated, answered
        self._sender = self._bus.unique_name[1:].replace(".", "_")
        self._tokens = (f"facade{i}" for i in itertools.count())
        self._waiting: dict[str, Callable[[int, dict], None]] = {}  # request handle -> what its Response does
        self._replies: dict[int, str] = {}  # serial of a call -> the request handle it was told to use
        self._session = ""
        self._triggers: dict[str, str] = {}  # shortcut id -> its trigger, in the desktop's words
        self._notifier = QSocketNotifier(self._bus.sock.fileno(), QSocketNotifier.Type.Read)
        self._notifier.activated.connect(self._read)
        session_token = next(self._tokens)
        self._request(lambda options: new_method_call(PORTAL, "CreateSession", "a{sv}", (
            {**options, "session_handle_token": ("s", session_token)},)), self._created)
        self._read()  # what the calls above already took off the socket

    def _register(self) -> None:
        try:
            self._call(new_method_call(_REGISTRY, "Register", "sa{sv}", (APP_ID, {})))
        except DBusErrorResponse as exc:
            if exc.name == "org.freedesktop.DBus.Error.ServiceUnknown":
                raise
            log.info("the portal's Registry did not take Facade's app id: %s", exc)

    def _call(self, message):
        return unwrap_msg(self._bus.send_and_get_reply(message, timeout=_START_TIMEOUT_S))

    def _request(self, message: Callable[[dict], object], then: Callable[[int, dict], None]) -> None:
        """Send a portal call made by ``message`` (from its options), and give its Response to ``then``."""
        token = next(self._tokens)
        handle = f"/org/freedesktop/portal/desktop/request/{self._sender}/{token}"
        self._waiting[handle] = then  # known from the token, before the portal's reply names it
        serial = next(self._bus.outgoing_serial)
        self._replies[serial] = handle
        self._bus.send(message({"handle_token": ("s", token)}), serial=serial)

    def _read(self, *_) -> None:
        try:
            while True:
                try:
                    message = self._bus.receive(timeout=0)
                except TimeoutError:
                    return
                self._take(message)
        except OSError as exc:  # the bus went away: nothing more will come
            log.warning("global keys stopped: the session bus closed (%s)", exc)
            self._notifier.setEnabled(False)

    def _take(self, message) -> None:
        header = message.header
        kind = header.message_type
        if kind in (MessageType.method_return, MessageType.error):
            handle = self._replies.pop(header.fields.get(HeaderFields.reply_serial, -1), None)
            if handle is None:
                return
            if kind == MessageType.error:  # refused outright: no Response will come
                log.warning("the GlobalShortcuts portal refused a call: %s %s",
                            header.fields.get(HeaderFields.error_name), message.body)
                self._waiting.pop(handle)(2, {})
            elif message.body[0] != handle:  # a portal older than handle_token: its own handle
                self._waiting[message.body[0]] = self._waiting.pop(handle)
            return
        member = header.fields.get(HeaderFields.member)
        if member == "Response":
            then = self._waiting.pop(header.fields.get(HeaderFields.path), None)
            if then is not None:
                then(*message.body)
        elif message.body[0] != self._session:
            return  # another session's, or the binding is not answered yet
        elif member == "Activated":
            self._activated(message.body[1])
        elif member == "ShortcutsChanged" and self._triggers:
            # Which shortcuts it lists (the changed ones, or all) differs between desktops: those it names.
            self._triggers.update(_triggers(message.body[1]))
            self._answered(Bound(dict(self._triggers)))

    def _created(self, code: int, results: dict) -> None:
        if code:
            self._answered(Bound({}, _ENDED.get(code, f"the desktop answered {code}")))
            return
        self._session = results["session_handle"][1]
        shortcuts = [(name, {"description": ("s", s.description),
                             **({"preferred_trigger": ("s", s.trigger)} if s.trigger else {})})
                     for name, s in self._shortcuts.items()]
        self._request(lambda options: new_method_call(PORTAL, "BindShortcuts", "oa(sa{sv})sa{sv}", (
            self._session, shortcuts, "", options)), self._bound)

    def _bound(self, code: int, results: dict) -> None:
        if code:
            self._answered(Bound({}, _ENDED.get(code, f"the desktop answered {code}")))
            return
        self._triggers = _triggers(results.get("shortcuts", ("a(sa{sv})", []))[1])
        self._answered(Bound(dict(self._triggers)))

    def stop(self) -> None:
        """Close the session: the desktop frees the shortcuts."""
        self._notifier.setEnabled(False)
        self._notifier.deleteLater()
        try:
            if self._session:
                self._bus.send(new_method_call(DBusAddress(self._session, PORTAL.bus_name, _SESSION), "Close"))
            self._bus.close()
        except OSError as exc:  # a bus already gone has nothing to free
            log.info("closing the global keys' session: %s", exc)


def _triggers(shortcuts: list) -> dict[str, str]:
    """The portal's a(sa{sv}) shortcuts as id -> trigger, in the desktop's words."""
    return {name: props.get("trigger_description", ("s", ""))[1] for name, props in shortcuts}
