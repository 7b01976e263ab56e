"""The local control API: WebSocket with JSON messages, and OSC over UDP on the same port number.

Both run on one thread with its own asyncio loop, so nothing a client sends can stall the picture or the
window: each command goes to the ``Controller`` (which returns a future at once), and a connection waits for
its own answer only. Loopback only unless ``lan``, and then every client must give the token. On loopback a
WebSocket handshake from a web page (an Origin other than this computer's) needs the token too: browsers let
any page open ``ws://127.0.0.1:PORT``, and only the Origin header says who asks.

WebSocket: connect to ``ws://HOST:PORT/?token=TOKEN`` (the token only on the LAN); send
``{"command": "avatar", "value": 2, "id": 7}``; the answer is ``{"ok": true, "command": "avatar", "id": 7}`` or
``{"error": "...", "id": 7}``; the state comes as ``{"state": {...}}`` on connecting and after every change.
OSC: ``/facade/<command> [value] [token]``; the answer goes back to the sender as ``/facade/ok <command>`` or
``/facade/error <message>``. ``/facade/subscribe [port] [token]`` sends the sender (at ``port``, else the port
it sent from) every field of the state as ``/facade/state/<field> <value>`` (booleans as 0 or 1, which every
show controller reads), then each field that changes, until ``/facade/unsubscribe [port]``.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import secrets
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket, ParseError
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from core.errors import UserError

from .actions import Action, ControlError, Controller, State, parse_action

log = logging.getLogger(__name__)

DEFAULT_PORT = 9870  # TCP for the WebSocket, UDP for OSC
LOOPBACK, LAN = "127.0.0.1", "0.0.0.0"
OSC_PREFIX = "/facade/"
MAX_MESSAGE = 64 * 1024  # bytes: a command is a few dozen; anything bigger is answered with an error
# A bigger WebSocket message is not even read into memory: the connection is closed (code 1009, "too big").
_MAX_READ = 4 * MAX_MESSAGE
RATE = 30.0  # commands a second a client may send, sustained (a Stream Deck press is one)
BURST = 30  # commands a client may send at once before the rate applies
_MAX_SENDERS = 256  # OSC senders whose rates are tracked at once
ACTION_TIMEOUT = 10.0  # seconds a client waits for an action's answer (a restart of the engine takes a few)
SUBSCRIBE, UNSUBSCRIBE = "subscribe", "unsubscribe"  # OSC only: the WebSocket pushes the state to every client
MAX_SUBSCRIBERS = 16  # OSC subscribers told at once; one more replaces the oldest (UDP never says who left)


@dataclass(frozen=True)
class ApiSettings:
    port: int = DEFAULT_PORT
    lan: bool = False  # listen on every interface, and require the token
    token: str = ""


def new_token() -> str:
    return secrets.token_urlsafe(18)


class TokenBucket:
    """``BURST`` commands at once, then ``RATE`` a second: a flood is refused, never queued."""

    def __init__(self, rate: float = RATE, burst: int = BURST, clock=time.monotonic):
        self._rate, self._burst, self._clock = rate, burst, clock
        self._tokens = float(burst)
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class ControlServer:
    """Serves the API until ``stop``; ``publish`` tells every WebSocket client the new state (any thread)."""

    def __init__(self, controller: Controller, settings: ApiSettings = ApiSettings()):
        if settings.lan and not settings.token:
            raise UserError("the control API on the LAN needs a token")
        self._controller = controller
        self.settings = settings
        self._state = State()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._clients: set[ServerConnection] = set()
        self._osc_tasks: set[asyncio.Future] = set()
        self._osc_transport: asyncio.DatagramTransport | None = None
        self._subscribers: dict[tuple[str, int], None] = {}  # OSC (host, port), oldest first
        self._thread: threading.Thread | None = None
        self._started: Future = Future()
        self.port: int | None = None  # the WebSocket's (the OSC one is the same unless port 0 was asked for)
        self.osc_port: int | None = None

    @property
    def host(self) -> str:
        return LAN if self.settings.lan else LOOPBACK

    def start(self) -> "ControlServer":
        """Listen; raises UserError (port taken, say) once it is known that it cannot."""
        self._thread = threading.Thread(target=self._run, name="control-api", daemon=True)
        self._thread.start()
        self._started.result(timeout=10)
        return self

    def stop(self) -> None:
        """Close every connection and the sockets; returns once the thread has ended."""
        if self._thread is None:
            return
        try:
            self._loop.call_soon_threadsafe(self._stopped.set)
        except RuntimeError:  # the loop has already ended (it never listened)
            pass
        self._thread.join(5)
        self._thread = None

    def publish(self, state: State) -> None:
        """Tell every WebSocket client ``state``, and every OSC subscriber the fields that changed, if any did;
        never waits on a client."""
        if state == self._state:
            return
        before, self._state = self._state.as_dict(), state
        if self._loop is not None and not self._loop.is_closed():
            fields = state.as_dict()
            changed = {name: value for name, value in fields.items() if before[name] != value}
            message = json.dumps({"state": fields})

            def tell():
                broadcast(self._clients, message)
                for subscriber in self._subscribers:
                    self._osc_state(subscriber, changed)
            try:
                self._loop.call_soon_threadsafe(tell)
            except RuntimeError:  # the loop closed in between: nobody is left to tell
                pass

    # The loop's thread.

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:  # a failure to bind has been reported through _started; this is a crash
            if not self._started.done():
                self._started.set_exception(exc)
            log.exception("the control API stopped")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        try:
            server = await serve(self._serve_client, self.host, self.settings.port, max_size=_MAX_READ,
                                 process_request=self._check_token, compression=None)
            self.port = server.sockets[0].getsockname()[1]
            transport, _ = await self._loop.create_datagram_endpoint(lambda: _OscProtocol(self),
                                                                     local_addr=(self.host, self.port))
        except OSError as exc:
            self._started.set_exception(UserError(
                f"the control API cannot listen on port {self.settings.port} ({exc.strerror or exc})",
                "choose another port in Settings"))
            return
        self._osc_transport = transport
        self.osc_port = transport.get_extra_info("sockname")[1]
        self._started.set_result(None)
        try:
            await self._stopped.wait()
        finally:
            transport.close()
            server.close()
            await server.wait_closed()

    def _token_given(self, token: str | None) -> bool:
        return bool(token and self.settings.token) and hmac.compare_digest(token.encode(),
                                                                             self.settings.token.encode())

    def _token_ok(self, token: str | None) -> bool:
        return not self.settings.lan or self._token_given(token)

    def _check_token(self, connection: ServerConnection, request):
        """Refuse the handshake without the right token: on the LAN (HTTP 401), or from a web page (403)."""
        token = parse_qs(urlsplit(request.path).query).get("token", [None])[0]
        if self._token_given(token):
            return None
        if self.settings.lan:
            return connection.respond(401, "wrong or missing token: connect to ws://HOST:PORT/?token=TOKEN\n")
        origin = request.headers.get("Origin")
        if not local_origin(origin):
            return connection.respond(403, f"a web page ({origin[:100]}) may connect only with the token: "
                                           "ws://127.0.0.1:PORT/?token=TOKEN (Settings, Control API)\n")
        return None

    async def _serve_client(self, connection: ServerConnection) -> None:
        bucket = TokenBucket()
        self._clients.add(connection)
        try:
            await connection.send(json.dumps({"state": self._state.as_dict()}))
            async for message in connection:
                reply = await self._answer(message, bucket)
                await connection.send(json.dumps(reply))
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(connection)

    async def _answer(self, message: str | bytes, bucket: TokenBucket) -> dict:
        if len(message) > MAX_MESSAGE:
            return {"error": f"message too long ({len(message)} bytes; at most {MAX_MESSAGE})"}
        if not bucket.take():
            return {"error": f"too many commands: at most {RATE:.0f} a second"}
        try:
            request = json.loads(message)
        except (ValueError, UnicodeDecodeError):
            return {"error": "not JSON: send {\"command\": \"...\", \"value\": ...}"}
        if not isinstance(request, dict):
            return {"error": "send a JSON object: {\"command\": \"...\", \"value\": ...}"}
        ident = request.get("id")
        reply = {} if ident is None else {"id": ident}
        try:
            action = parse_action(request.get("command"), request.get("value"))
            await self._perform(action)
        except ControlError as exc:
            return {**reply, "error": str(exc)}
        return {**reply, "ok": True, "command": action.command.value}

    async def _perform(self, action: Action) -> None:
        try:
            await asyncio.wait_for(asyncio.wrap_future(self._controller.perform(action)), ACTION_TIMEOUT)
        except asyncio.TimeoutError:
            raise ControlError(f"{action.command.value}: no answer within {ACTION_TIMEOUT:.0f} s") from None
        except ControlError:
            raise
        except Exception as exc:  # the controller's own failure: said, and the API carries on
            raise ControlError(f"{action.command.value} failed: {exc}") from None

    # OSC.

    def _osc_received(self, data: bytes, sender, transport: asyncio.DatagramTransport,
                      buckets: dict[tuple, TokenBucket]) -> None:
        if len(buckets) > _MAX_SENDERS:  # senders on the LAN come and go: their buckets must not pile up
            buckets.clear()
        bucket = buckets.setdefault(sender[:2], TokenBucket())
        try:
            if len(data) > MAX_MESSAGE:
                raise ControlError(f"message too long ({len(data)} bytes; at most {MAX_MESSAGE})")
            if not bucket.take():
                raise ControlError(f"too many commands: at most {RATE:.0f} a second")
            try:
                messages = [timed.message for timed in OscPacket(data).messages]
            except ParseError:
                raise ControlError("not an OSC message: send /facade/<command> [value]") from None
            for message in messages:
                self._osc_command(message.address, list(message.params), sender, transport)
        except ControlError as exc:
            _osc_reply(transport, sender, "error", str(exc))

    def _osc_command(self, address: str, params: list, sender, transport) -> None:
        if self.settings.lan:
            token = params.pop() if params and isinstance(params[-1], str) else None
            if not self._token_ok(token):
                raise ControlError("wrong or missing token: send it as the last argument")
        if not address.startswith(OSC_PREFIX) or len(params) > 1:
            raise ControlError(f"send {OSC_PREFIX}<command> with at most one value")
        name, value = address[len(OSC_PREFIX):], params[0] if params else None
        if name in (SUBSCRIBE, UNSUBSCRIBE):
            subscriber = (sender[0], _osc_port(value, sender[1]))  # on its sender's host: never another machine
            self._subscribers.pop(subscriber, None)
            _osc_reply(transport, sender, "ok", name)
            if name == SUBSCRIBE:
                if len(self._subscribers) >= MAX_SUBSCRIBERS:
                    self._subscribers.pop(next(iter(self._subscribers)))
                self._subscribers[subscriber] = None
                self._osc_state(subscriber, self._state.as_dict())
            return
        action = parse_action(name, value)

        async def perform():
            try:
                await self._perform(action)
            except ControlError as exc:
                _osc_reply(transport, sender, "error", str(exc))
                return
            _osc_reply(transport, sender, "ok", action.command.value)

        task = asyncio.ensure_future(perform())
        self._osc_tasks.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._osc_tasks.discard)

    def _osc_state(self, subscriber: tuple[str, int], fields: dict) -> None:
        for name, value in fields.items():
            builder = OscMessageBuilder(f"{OSC_PREFIX}state/{name}")
            builder.add_arg(int(value) if isinstance(value, bool) else value)
            self._osc_transport.sendto(builder.build().dgram, subscriber)


def local_origin(origin: str | None) -> bool:
    """Whether a WebSocket handshake's Origin is this computer's own: none (not a browser), or a page served
    from localhost. "null" is refused: a sandboxed frame of any web site sends it."""
    if origin is None:
        return True
    host = urlsplit(origin).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _osc_port(value, sender_port: int) -> int:
    """The port a subscriber asks to be told at: ``value`` (1 to 65535), or where it sent from."""
    if value is None:
        return sender_port
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ControlError("subscribe takes the UDP port to send the state to (1 to 65535), or nothing")
    return value


class _OscProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: ControlServer):
        self._server = server
        self._buckets: dict[tuple, TokenBucket] = {}
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self._transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self._server._osc_received(data, addr, self._transport, self._buckets)


def _osc_reply(transport: asyncio.DatagramTransport, sender, kind: str, text: str) -> None:
    builder = OscMessageBuilder(f"{OSC_PREFIX}{kind}")
    builder.add_arg(text)
    transport.sendto(builder.build().dgram, sender)
