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
MAX_HEADER_DEPTH = 2  # the header object and, at most, lists in it: deep nesting is refused before parsing
MAX_IMAGE_SIDE = 1024
JPEG_QUALITY = 92


class Kind(Enum):
    HELLO = "hello"  # client -> worker: who I am; worker -> client: ready, with the model's resolution
    AVATAR = "avatar"  # client -> worker: the avatar image (replayed after a reconnect)
    CALIBRATE = "calibrate"  # client -> worker: this driving frame is the neutral pose
    FRAME = "frame"  # client -> worker: a driving frame, with the motion strength (``head``, ``expressions``:
    # numbers, 1 as driven; absent: 1); worker -> client: the animated avatar
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
    if _nesting(parts[0]) > MAX_HEADER_DEPTH:
        raise MessageError(f"a header nested more than {MAX_HEADER_DEPTH} deep")
    try:
        header = json.loads(parts[0])
        kind = Kind(header.pop("type"))
        version, seq = header.pop("v"), header.pop("seq")
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise MessageError(f"bad header ({type(exc).__name__}: {exc})"[:200]) from None
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


def _nesting(text: bytes) -> int:
    """How deep arrays and objects nest in a JSON text, read without parsing it (strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in text:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # a backslash: the next character is escaped
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b"]}":
            depth -= 1
    return deepest


# JPEG markers (ITU T.81, B.1.1.3 and Table B.1): the frame headers (SOFn) that carry the size, and the
# standalone markers that have no length field after them (TEM and RST0-7; SOI and EOI end the search).
_JPEG_FRAMES = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_JPEG_SOS = 0xDA


def _declared_size(data: bytes) -> tuple[int, int]:
    """The (width, height) a PNG or JPEG says it has, read from its header; (0, 0) if neither, or if a
    JPEG's segments do not lead to a frame header before its first scan."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] != b"\xff\xd8":
        return 0, 0
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker == 0xFF:  # a fill byte before the marker
            at += 1
            continue
        if marker in _JPEG_STANDALONE:
            at += 2
            continue
        if marker in (0xD8, 0xD9, _JPEG_SOS):  # another SOI, the end, or pixels before any size
            return 0, 0
        length = int.from_bytes(data[at + 2:at + 4], "big")  # it counts its own two bytes
        if marker in _JPEG_FRAMES:
            if length < 8 or at + 9 > len(data):
                return 0, 0
            return int.from_bytes(data[at + 7:at + 9], "big"), int.from_bytes(data[at + 5:at + 7], "big")
        if length < 2:
            return 0, 0
        at += 2 + length
    return 0, 0
