"""The remote engine: FOMM on a worker elsewhere (``serve``), behind the same contract as a local engine.

Latency first: a frame goes out at the model's resolution, its answer is awaited for a bounded time, and an
answer that comes too late is dropped (at most the current frame and one late one are ever in flight).
Live, when the worker does not answer or the link drops, the local mesh engine renders instead, with a
visible message; the link is probed once a second, and when the worker answers again the client replays its
state (avatar, neutral pose) and switches back. Offline (no local engine) every answer is awaited, and one
that does not come is an error: an offline output is the worker's or nothing.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from typing import Callable

import numpy as np
import zmq
from zmq.utils.monitor import recv_monitor_message

from core.engines.base import Engine
from core.engines.choice import OFFLINE_REPLY_TIMEOUT
from core.engines.strength import MotionStrength
from core.errors import UserError
from core.frames import DrivingFace
from core.link.pairing import Pairing
from core.link.protocol import MAX_MESSAGE_BYTES, Kind, Message, MessageError, decode, encode
from core.media.images import resize_square

_HANDSHAKE_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                     | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
# Live, an answer is awaited this many times the 95th percentile of the worker's recent round trips (at least
# the engine's reply_timeout, at most OFFLINE_REPLY_TIMEOUT): a worker slower than a fixed second (a CPU, a busy
# GPU) is used at its own pace instead of being dropped at every frame.
_WAIT_PER_P95 = 5
_ANSWERS = (Kind.AVATAR, Kind.CALIBRATE, Kind.FRAME)  # replies whose round trip measures the worker


class RemoteEngine:
    """Animates on a paired worker; ``local`` renders while the worker is away, and ``on_event(problem, text)``
    says when it switches either way. ``reply_timeout``: live, the shortest wait for an answer (the wait follows
    the worker's measured time); with ``local`` None (offline), the wait for each answer, after which the
    request is a UserError."""

    name = "remote"

    def __init__(self, pairing: Pairing, local: Engine | None, lossless: bool = False, reply_timeout: float = 1.0,
                 connect_timeout: float = 5.0, on_event: Callable[[bool, str], None] | None = None):
        self.pairing, self.lossless, self.local = pairing, lossless, local
        self._reply_timeout, self._on_event = reply_timeout, on_event or (lambda problem, text: None)
        self._context = zmq.Context()
        self._socket = self._connect()
        self._seq = 0
        self._avatar: np.ndarray | None = None
        self._neutral: np.ndarray | None = None
        self._motion: dict = {}  # the strength, as each frame carries it to the worker
        self._rtt_ms: deque[float] = deque(maxlen=256)
        self._worker_ms: deque[float] = deque(maxlen=256)
        self._sent_at: dict[int, float] = {}  # seq -> when sent, of the requests whose answers may still come
        self._reply_ms: deque[float] = deque(maxlen=32)  # recent round trips, in time or late: what the wait follows
        self.frames_lost = 0
        self._replaying = False
        self.connected = False
        try:
            ready = self._handshake(connect_timeout)
        except BaseException:
            self.close()
            raise
        self.resolution = int(ready.fields.get("resolution", 256))
        self.device = f"{ready.fields.get('device', '?')} at {pairing.host}"
        self.precision = str(ready.fields.get("precision", ""))
        self.connected = True
        self._next_probe = 0.0

    @property
    def pinned_border(self) -> bool:
        return not self.connected and self.local.pinned_border

    # The contract.

    def set_avatar(self, rgb: np.ndarray) -> None:
        self._avatar = rgb
        if self.local is not None:
            self.local.set_avatar(rgb)
        if self.connected:
            self._request(Kind.AVATAR, resize_square(rgb, self.resolution))

    def calibrate(self, frame: DrivingFace) -> None:
        self._neutral = frame.image
        if self.local is not None:
            self.local.calibrate(frame)
        if self.connected:
            self._request(Kind.CALIBRATE, frame.image)

    def set_motion(self, strength: MotionStrength) -> None:
        """Every frame carries the strength (``head``, ``expressions``): nothing to replay to a restarted worker."""
        self._motion = {"head": strength.head, "expressions": strength.expressions}
        if self.local is not None:
            self.local.set_motion(strength)

    def animate(self, frame: DrivingFace) -> np.ndarray:
        if self.local is None:
            for _ in range(2):  # again once the restarted worker has taken this client's state back
                reply = self._request(Kind.FRAME, frame.image, self._motion)
                if reply is not None:
                    return reply.image
            self._lose("the remote worker keeps losing this client's state")
        if self.connected:
            reply = self._request(Kind.FRAME, frame.image, self._motion)
            if reply is not None:
                return reply.image
        else:
            self._probe()
        return self.local.animate(frame)

    # Telemetry.

    def telemetry(self) -> dict:
        """Round-trip and worker times (medians of recent frames) and frames lost, for the stats JSON."""
        return {"remote_connected": self.connected,
                "remote_rtt_ms_p50": round(statistics.median(self._rtt_ms), 2) if self._rtt_ms else None,
                "remote_worker_ms_p50": round(statistics.median(self._worker_ms), 2) if self._worker_ms else None,
                "remote_frames_lost": self.frames_lost}

    def close(self) -> None:
        """Say goodbye (the worker frees this client's place at once) and release the link."""
        if self.connected:
            self._send(Kind.BYE)
        self._socket.close(linger=200)
        self._context.term()
        if self.local is not None:
            self.local.close()

    # The link.

    def _connect(self) -> zmq.Socket:
        socket = self._context.socket(zmq.DEALER)
        socket.curve_serverkey = self.pairing.server_public
        socket.curve_secretkey, socket.curve_publickey = self.pairing.client_secret, self.pairing.client_public
        socket.setsockopt(zmq.IMMEDIATE, 1)  # nothing is queued for a worker that is not connected
        socket.setsockopt(zmq.SNDHWM, 2)
        socket.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES + 8192)
        socket.linger = 0
        socket.connect(self.pairing.address)
        return socket

    def _handshake(self, timeout: float) -> Message:
        """HELLO answered within ``timeout``, or a UserError saying whether the worker refused this pairing
        or could not be reached at all."""
        monitor = self._socket.get_monitor_socket(_HANDSHAKE_FAILED | zmq.EVENT_HANDSHAKE_SUCCEEDED)
        where = f"remote worker at {self.pairing.host}:{self.pairing.port}"
        try:
            deadline = time.monotonic() + timeout
            sent = False
            poller = zmq.Poller()
            poller.register(self._socket, zmq.POLLIN)
            poller.register(monitor, zmq.POLLIN)
            while time.monotonic() < deadline:
                if not sent:
                    sent = self._send_hello()
                ready = dict(poller.poll(50))
                if monitor in ready:
                    event = recv_monitor_message(monitor)["event"]
                    if event & _HANDSHAKE_FAILED:
                        raise UserError(f"{where} refused this pairing (it answers, but with other keys)",
                                        "use the pairing string the worker printed when it last started")
                if self._socket in ready:
                    message = self._receive()
                    if message is not None and message.kind == Kind.ERROR:
                        raise UserError(f"{where}: {message.fields.get('message', 'refused')}")
                    if message is not None and message.kind == Kind.HELLO:
                        return message
        finally:
            self._socket.disable_monitor()
            monitor.close(0)
        raise UserError(f"{where} did not answer within {timeout:.0f} s",
                        "check that `python main.py serve` runs there and that the port is reachable from here")

    def _send_hello(self) -> bool:
        """Ask the worker to admit this client (again); it answers HELLO with its resolution and device."""
        return self._send(Kind.HELLO, fields={"lossless": self.lossless})

    def _send(self, kind: Kind, image: np.ndarray | None = None, fields: dict | None = None) -> bool:
        self._seq += 1
        try:
            self._socket.send_multipart(encode(Message(kind, self._seq, fields or {}, image), self.lossless),
                                        zmq.NOBLOCK)
            return True
        except zmq.Again:  # no connection to the worker right now
            return False

    def _receive(self) -> Message | None:
        try:
            return decode(self._socket.recv_multipart(zmq.NOBLOCK))
        except (zmq.Again, MessageError):
            return None

    def _request(self, kind: Kind, image: np.ndarray, fields: dict | None = None) -> Message | None:
        """Send and await the answer to this request; None if it does not come in time (live: the local engine
        takes over; offline: a UserError instead) or the worker lost this client's state."""
        sent_at = time.perf_counter()
        if not self._send(kind, image, fields):
            self._lose("the link to the remote worker is down")
            return None
        timeout = self._timeout()
        seq, deadline = self._seq, time.monotonic() + timeout
        self._sent_at[seq] = sent_at
        while len(self._sent_at) > 8:  # answers older than these are not waited for any more
            del self._sent_at[next(iter(self._sent_at))]
        while (left := deadline - time.monotonic()) > 0:
            if not self._socket.poll(left * 1000):
                break
            reply = self._receive()
            if reply is None or reply.seq != seq:
                if reply is not None:
                    self._measure(reply)  # a late answer still says how long the worker takes
                self.frames_lost += reply is not None and reply.kind == Kind.FRAME  # a late answer: dropped
                continue
            if reply.kind == Kind.UNKNOWN_CLIENT:  # the worker restarted: give it this client's state again
                if not self._replay():
                    self._lose("the remote worker lost this client's state")
                return None
            if reply.kind == Kind.ERROR:
                self._lose(f"the remote worker failed ({reply.fields.get('message', '')})")
                return None
            rtt_ms = self._measure(reply)
            if kind == Kind.FRAME:
                self._rtt_ms.append(rtt_ms)
                self._worker_ms.append(float(reply.fields.get("worker_ms", 0.0)))
            return reply
        self._lose(f"the remote worker did not answer within {timeout:.3g} s")
        return None

    def _timeout(self) -> float:
        """How long to await an answer: offline, ``reply_timeout``; live, _WAIT_PER_P95 times the p95 of the
        recent round trips, at least reply_timeout and at most OFFLINE_REPLY_TIMEOUT."""
        if self.local is None or not self._reply_ms:
            return self._reply_timeout
        recent = sorted(self._reply_ms)
        p95 = recent[min(len(recent) - 1, int(0.95 * len(recent)))]
        return max(self._reply_timeout, min(_WAIT_PER_P95 * p95 / 1000, OFFLINE_REPLY_TIMEOUT))

    def _measure(self, reply: Message) -> float:
        """The round trip in ms of the request ``reply`` answers (0 if unknown), kept for the wait."""
        sent_at = self._sent_at.pop(reply.seq, None)
        if sent_at is None or reply.kind not in _ANSWERS:
            return 0.0
        rtt_ms = (time.perf_counter() - sent_at) * 1000
        self._reply_ms.append(rtt_ms)
        return rtt_ms

    def _lose(self, why: str) -> None:
        self.frames_lost += 1
        if self.local is None:  # offline: no other engine may stand in for the worker's pictures
            raise UserError(f"{why} (at {self.pairing.host}:{self.pairing.port})",
                            "check that `python main.py serve` still runs there; an offline command never "
                            "renders with another engine (leave out --remote for the local one)")
        if self.connected:
            self.connected = False
            self._on_event(True, f"{why}: the local {self.local.name} engine carries on until it is back")

    def _probe(self) -> None:
        """While away: ask the worker once a second; when it answers, replay the state and switch back."""
        while (message := self._receive()) is not None:
            self._measure(message)  # a late answer: the worker is slower than the wait was
            if message.kind in (Kind.PING, Kind.UNKNOWN_CLIENT, Kind.HELLO) and self._replay():
                self.connected = True
                self._on_event(False, f"the remote worker answers again: back on {self.device}")
                return
        if time.monotonic() >= self._next_probe:
            self._next_probe = time.monotonic() + 1.0
            self._send(Kind.PING)

    def _replay(self) -> bool:
        """Say hello again and resend the avatar and the neutral pose; True when the worker took them all."""
        if self._replaying:
            return False
        self._replaying = True
        try:
            if not self._hello():
                return False
            if self._avatar is not None and self._request(Kind.AVATAR, resize_square(self._avatar, self.resolution)) is None:
                return False
            return self._neutral is None or self._request(Kind.CALIBRATE, self._neutral) is not None
        finally:
            self._replaying = False

    def _hello(self) -> bool:
        if not self._send_hello():
            return False
        seq, deadline = self._seq, time.monotonic() + self._timeout()
        while (left := deadline - time.monotonic()) > 0 and self._socket.poll(left * 1000):
            reply = self._receive()
            if reply is not None and reply.seq == seq:
                return reply.kind == Kind.HELLO
        return False
