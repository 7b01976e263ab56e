"""The remote worker: FOMM on a GPU machine for clients elsewhere, over CurveZMQ.

Each paired client keeps its own state here (its avatar encoded once, its neutral pose); driving frames
that arrive together from different clients go through the networks as one batch. Only the newest frame of
each client is rendered: an older one still waiting is dropped, so nothing queues. A malformed or oversized
message is dropped with a log line; nothing a client sends stops the worker.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import zmq
from zmq.auth.thread import ThreadAuthenticator

from core.engines.fomm import FommEngine, FommState
from core.engines.strength import MotionStrength
from core.errors import UserError
from core.link.pairing import WorkerKeys, bind_host
from core.link.protocol import MAX_MESSAGE_BYTES, Kind, Message, MessageError, decode, encode

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerLimits:
    max_clients: int = 16
    max_batch: int = 8  # frames per pass through the networks
    idle_seconds: float = 60.0  # a client silent this long is forgotten (it replays its state if it returns)


@dataclass
class _Client:
    state: FommState = field(default_factory=FommState)
    lossless: bool = False
    seen: float = field(default_factory=time.monotonic)


class Worker:
    """Binds ``bind`` (``tcp://HOST:PORT``, port ``*`` for any free one) and serves until ``stop`` is set."""

    def __init__(self, engine: FommEngine, keys: WorkerKeys, bind: str, limits: WorkerLimits = WorkerLimits()):
        bind_host(bind)  # another transport or a port out of range is a UserError, before zmq guesses
        self.engine, self.limits = engine, limits
        self._client_key = keys.client_public
        self._context = zmq.Context()
        self._auth = ThreadAuthenticator(self._context)
        self._auth.start()
        self._auth.configure_curve_callback("*", credentials_provider=self)
        self._socket = self._context.socket(zmq.ROUTER)
        self._socket.curve_server = True
        self._socket.curve_secretkey, self._socket.curve_publickey = keys.server_secret, keys.server_public
        self._socket.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES + 8192)  # larger: the connection is dropped
        self._socket.linger = 0
        try:
            self._socket.bind(bind)
        except zmq.ZMQError as exc:
            self.close()
            raise UserError(f"--bind {bind}: cannot listen there ({exc})",
                            "use tcp://HOST:PORT with a free port on an address of this machine") from None
        self.endpoint = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.port = int(self.endpoint.rsplit(":", 1)[1])
        self._clients: dict[bytes, _Client] = {}
        self.frames_rendered = 0
        self.batches = 0

    def callback(self, domain: str, key: bytes) -> bool:
        """ZAP: a client is let in only with the paired key (zmq's authenticator thread asks)."""
        return key == self._client_key

    def serve(self, stop: threading.Event) -> None:
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        while not stop.is_set():
            if not poller.poll(100):
                self._forget_idle()
                continue
            frames: dict[bytes, Message] = {}
            for _ in range(256):  # everything that has arrived, then render
                try:
                    identity, *body = self._socket.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                try:
                    self._handle(identity, decode(body), frames)
                except MessageError as exc:
                    log.warning("dropped a message: %s", exc)
                except Exception:  # a bug a client's message reaches must not stop the worker for every client
                    log.exception("dropped a message that could not be handled")
            if frames:
                self._render(frames)

    def close(self) -> None:
        self._socket.close(0)
        self._auth.stop()
        self._context.term()

    # Messages.

    def _handle(self, identity: bytes, message: Message, frames: dict[bytes, Message]) -> None:
        client = self._clients.get(identity)
        if message.kind == Kind.HELLO:
            if client is None and len(self._clients) >= self.limits.max_clients:
                self._reply(identity, Message(Kind.ERROR, message.seq,
                                              {"message": f"the worker is full ({self.limits.max_clients} clients)"}))
                return
            client = self._clients.setdefault(identity, _Client())
            client.lossless = bool(message.fields.get("lossless"))
            client.seen = time.monotonic()
            self._reply(identity, Message(Kind.HELLO, message.seq, {
                "resolution": self.engine.resolution, "device": self.engine.device,
                "precision": self.engine.precision}))
            return
        if client is None:
            self._reply(identity, Message(Kind.UNKNOWN_CLIENT, message.seq))
            return
        client.seen = time.monotonic()
        if message.kind == Kind.BYE:
            del self._clients[identity]
        elif message.kind == Kind.PING:
            self._reply(identity, Message(Kind.PING, message.seq))
        elif message.kind in (Kind.AVATAR, Kind.CALIBRATE, Kind.FRAME) and message.image is None:
            log.warning("dropped a %s without an image", message.kind.value)
        elif message.kind == Kind.AVATAR:
            self._guarded(identity, message, lambda: self.engine.set_state_avatar(client.state, message.image))
        elif message.kind == Kind.CALIBRATE:
            self._guarded(identity, message, lambda: self.engine.calibrate_state(client.state, message.image))
        elif message.kind == Kind.FRAME:
            if client.state.avatar is None:
                self._reply(identity, Message(Kind.UNKNOWN_CLIENT, message.seq))
            else:
                client.state.motion = _motion(message.fields, client.state.motion)
                frames[identity] = message  # the newest frame of each client wins
        else:
            log.warning("dropped a %s message from a client", message.kind.value)

    def _guarded(self, identity: bytes, message: Message, action) -> None:
        try:
            action()
        except (RuntimeError, ValueError) as exc:
            log.warning("%s failed: %s", message.kind.value, exc)
            self._reply(identity, Message(Kind.ERROR, message.seq, {"message": str(exc)[:300]}))
            return
        self._reply(identity, Message(message.kind, message.seq))

    def _render(self, frames: dict[bytes, Message]) -> None:
        items = list(frames.items())
        for start in range(0, len(items), self.limits.max_batch):
            batch = [(identity, message) for identity, message in items[start:start + self.limits.max_batch]
                     if identity in self._clients]
            if not batch:
                continue
            began = time.perf_counter()
            try:
                outputs = self.engine.animate_batch([self._clients[i].state for i, _ in batch],
                                                    [m.image for _, m in batch])
            except (RuntimeError, ValueError) as exc:  # e.g. CUDA out of memory: the clients fall back
                log.warning("a batch of %d failed: %s", len(batch), exc)
                for identity, message in batch:
                    self._reply(identity, Message(Kind.ERROR, message.seq, {"message": str(exc)[:300]}))
                continue
            worker_ms = round((time.perf_counter() - began) * 1000, 3)
            self.frames_rendered += len(batch)
            self.batches += 1
            for (identity, message), image in zip(batch, outputs):
                self._reply(identity, Message(Kind.FRAME, message.seq, {"worker_ms": worker_ms, "batch": len(batch)},
                                              image), self._clients[identity].lossless)

    def _reply(self, identity: bytes, message: Message, lossless: bool = False) -> None:
        try:
            self._socket.send_multipart([identity, *encode(message, lossless)], zmq.NOBLOCK)
        except zmq.ZMQError as exc:  # the client has gone, or is not reading: drop, never block
            log.info("reply dropped: %s", exc)

    def _forget_idle(self) -> None:
        now = time.monotonic()
        for identity in [i for i, c in self._clients.items() if now - c.seen > self.limits.idle_seconds]:
            del self._clients[identity]

    @property
    def clients(self) -> int:
        return len(self._clients)


def _motion(fields: dict, current: MotionStrength) -> MotionStrength:
    """The strength a frame carries (a client that sends none: full strength); a malformed one keeps ``current``."""
    try:
        return MotionStrength(*(float(fields.get(name, 1.0)) for name in ("head", "expressions")))
    except (TypeError, ValueError) as exc:
        log.warning("ignored a frame's motion strength: %s", exc)
        return current
