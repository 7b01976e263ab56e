"""Pairing strings: the worker's address, its public key, and the client's secret key, in one line.

``facade1@HOST:PORT/SERVER_PUBLIC/CLIENT_SECRET`` (keys as hex). Whoever holds it can use the worker and is
sure to talk to that worker alone (CurveZMQ authenticates both ends and encrypts everything), so it is handed
over like a password. The worker keeps its keys in a file of its own, so a restarted worker keeps its pairing.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import zmq
from zmq.utils import z85

from core.errors import UserError

_PREFIX = "facade1@"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pairing:
    """What a client needs: where the worker is, how to recognise it, and its own key."""

    host: str
    port: int
    server_public: bytes  # z85, as zmq takes keys
    client_secret: bytes

    @property
    def address(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    @property
    def client_public(self) -> bytes:
        return zmq.curve_public(self.client_secret)

    def __str__(self) -> str:
        return (f"{_PREFIX}{self.host}:{self.port}/{z85.decode(self.server_public).hex()}/"
                f"{z85.decode(self.client_secret).hex()}")


def parse_pairing(text: str) -> Pairing:
    """A pairing string, or the path of a file holding one; UserError saying what is wrong."""
    text = text.strip()
    if not text.startswith(_PREFIX) and Path(text).is_file():
        try:
            text = Path(text).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{text}: cannot read the pairing file ({exc})") from None
    shown = text if len(text) < 40 else text[:40] + "…"
    try:
        if not text.startswith(_PREFIX):
            raise ValueError
        where, server, client = text[len(_PREFIX):].split("/")
        host, port = where.rsplit(":", 1)
        keys = [bytes.fromhex(key) for key in (server, client)]
        if not host or not 0 < int(port) < 65536 or any(len(key) != 32 for key in keys):
            raise ValueError
    except ValueError:
        raise UserError(f"--remote {shown}: not a pairing string or a file holding one",
                        "copy the line that `python main.py serve` printed (it starts with facade1@)") from None
    return Pairing(host, int(port), *(z85.encode(key) for key in keys))


@dataclass(frozen=True)
class WorkerKeys:
    """The worker's own key pair and the one client key pair it accepts."""

    server_public: bytes
    server_secret: bytes
    client_secret: bytes

    @property
    def client_public(self) -> bytes:
        return zmq.curve_public(self.client_secret)

    def pairing(self, host: str, port: int) -> Pairing:
        return Pairing(host, port, self.server_public, self.client_secret)


def load_or_create_keys(path: Path) -> WorkerKeys:
    """The worker's keys from ``path`` (readable by the user alone), made on first use."""
    if path.exists():
        _keep_private(path)
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            return WorkerKeys(*(z85.encode(bytes.fromhex(stored[k]))
                                for k in ("server_public", "server_secret", "client_secret")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{path}: not a Facade worker key file ({exc})",
                            "delete it to make a new pairing (clients then need the new one)") from None
    server_public, server_secret = zmq.curve_keypair()
    _, client_secret = zmq.curve_keypair()
    keys = WorkerKeys(server_public, server_secret, client_secret)
    stored = {name: z85.decode(getattr(keys, name)).hex()
              for name in ("server_public", "server_secret", "client_secret")}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(stored, file)
    except OSError as exc:
        raise UserError(f"{path}: cannot write the worker's keys ({exc.strerror or exc})") from None
    return keys


def _keep_private(path: Path) -> None:
    """A key file others can read is made the user's alone, with a warning: the pairing may have leaked."""
    mode = path.stat().st_mode & 0o777
    if os.name != "posix" or not mode & 0o077:
        return
    try:
        os.chmod(path, 0o600)
        done = "made it readable by you alone"
    except OSError as exc:
        done = f"could not make it private ({exc.strerror or exc})"
    log.warning("%s: the worker's keys were readable by other users (mode %o): %s. Whoever read it can use this "
                "worker; delete the file and restart to make a new pairing.", path, mode, done)


def bind_host(bind: str) -> str:
    """The host of a ``serve --bind`` address, ``tcp://HOST:PORT`` (port 0 or ``*``: any free one); a
    UserError for any other form, or a port out of range, which zmq would otherwise take modulo 65536."""
    advice = "use tcp://HOST:PORT, e.g. tcp://0.0.0.0:5555 (every address) or tcp://127.0.0.1:5555"
    scheme, _, where = bind.partition("://")
    if scheme != "tcp":
        raise UserError(f"--bind {bind}: a worker serves over TCP only (the pairing string carries a TCP address)",
                        advice)
    host, _, port = where.rpartition(":")
    if not host or not (port == "*" or port.isdigit()):
        raise UserError(f"--bind {bind}: not tcp://HOST:PORT", advice)
    if port != "*" and int(port) > 65535:
        raise UserError(f"--bind {bind}: port {port} is out of range (0 to 65535)", advice)
    return host


def reachable_host(bind_host: str) -> str:
    """The host to put in a pairing string: the bound one, or for a wildcard this machine's LAN address."""
    if bind_host not in ("*", "0.0.0.0", ""):
        return bind_host
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))  # no packet is sent: this only picks the outgoing interface
        return probe.getsockname()[0]
    except OSError:
        return socket.gethostname()
    finally:
        probe.close()
