"""What a client and a worker say: a JSON header and at most one image, as a two-part ZeroMQ message.

No pickle, no code: a header is a small JSON object with a ``type``; an image is JPEG (the default: frames
travel at the model's resolution, so a 256x256 face is about 15 kB) or PNG (lossless). Anything else, or
anything too large, is refused by ``decode`` with a MessageError and dropped by the receiver.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum

import cv2
import numpy as np

VERSION = 1
MAX_MESSAGE_BYTES = 8 * 1024 * 1024  # an image at a model's resolution is far smaller; the socket enforces it
MAX_HEADER_BYTES = 4096
MAX_IMAGE_SIDE = 1024
JPEG_QUALITY = 92


class Kind(Enum):
    HELLO = "hello"  # client -> worker: who I am; worker -> client: ready, with the model's resolution
    AVATAR = "avatar"  # client -> worker: the avatar image (replayed after a reconnect)
    CALIBRATE = "calibrate"  # client -> worker: this driving frame is the neutral pose
    FRAME = "frame"  # client -> worker: a driving frame; worker -> client: the animated avatar
    PING = "ping"  # client -> worker: are you there; worker -> client: yes
    BYE = "bye"  # client -> worker: I am done; forget my state now (not after the idle timeout)
    UNKNOWN_CLIENT = "unknown_client"  # worker -> client: I hold no state for you (I restarted): replay it
    ERROR = "error"  # worker -> client: a request failed; ``message`` says why


class MessageError(ValueError):
    """A malformed, unknown or oversized message."""


@dataclass(frozen=True)
class Message:
    kind: Kind
    seq: int = 0
    fields: dict = field(default_factory=dict)  # small values only: numbers and short strings
    image: np.ndarray | None = None


def encode(message: Message, lossless: bool = False) -> list[bytes]:
    header = {"v": VERSION, "type": message.kind.value, "seq": message.seq, **message.fields}
    parts = [json.dumps(header, separators=(",", ":")).encode()]
    if message.image is not None:
        ok, data = cv2.imencode(".png" if lossless else ".jpg", cv2.cvtColor(message.image, cv2.COLOR_RGB2BGR),
                                [] if lossless else [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise MessageError("the image could not be encoded")
        parts.append(data.tobytes())
    return parts


def decode(parts: list[bytes]) -> Message:
    """The message in ``parts``; MessageError for anything that is not one of ours."""
    if not 1 <= len(parts) <= 2 or len(parts[0]) > MAX_HEADER_BYTES:
        raise MessageError(f"{len(parts)} parts, header of {len(parts[0]) if parts else 0} bytes")
    try:
        header = json.loads(parts[0])
        kind = Kind(header.pop("type"))
        version, seq = header.pop("v"), header.pop("seq")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MessageError(f"bad header ({exc})") from None
    if version != VERSION or not isinstance(seq, int):
        raise MessageError(f"protocol version {version!r}, seq {seq!r}")
    image = None
    if len(parts) == 2:
        if len(parts[1]) > MAX_MESSAGE_BYTES:
            raise MessageError(f"image of {len(parts[1])} bytes")
        width, height = _declared_size(parts[1])
        if not (0 < width <= MAX_IMAGE_SIDE and 0 < height <= MAX_IMAGE_SIDE):
            raise MessageError(f"an image of {width}x{height}")  # refused before it is decompressed
        bgr = cv2.imdecode(np.frombuffer(parts[1], np.uint8), cv2.IMREAD_COLOR)
        if bgr is None or max(bgr.shape[:2]) > MAX_IMAGE_SIDE:
            raise MessageError("not a JPEG or PNG image of at most 1024 pixels a side")
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return Message(kind, seq, header, image)


def _declared_size(data: bytes) -> tuple[int, int]:
    """The (width, height) a PNG or JPEG says it has, read from its header; (0, 0) if neither."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] != b"\xff\xd8":
        return 0, 0
    at = 2
    while at + 9 < len(data) and data[at] == 0xFF:
        marker, length = data[at + 1], int.from_bytes(data[at + 2:at + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            return int.from_bytes(data[at + 7:at + 9], "big"), int.from_bytes(data[at + 5:at + 7], "big")
        at += 2 + length
    return 0, 0
