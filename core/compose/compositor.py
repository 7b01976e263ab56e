"""Paste-back: the engine's animated face crop put back into the whole portrait, framed for the call.

Everything outside the face crop is the portrait itself, at its own resolution and never moving; inside,
the engine's output is blended in with a feathered edge, and its colour is matched to the portrait's at
the seam so the pasted square never shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from core.compose.canvas import CALL_SIZE
from core.face.segmentation import live_segmenter, person_mask
from core.media.crop import Crop

FITS = ("cover", "contain")
# The person with nothing behind: the picture carries an alpha matte, which only NDI sends on; every other output
# shows the portrait's own backdrop.
TRANSPARENT = "transparent"
BACKGROUNDS = ("portrait", "blur", "green", TRANSPARENT)  # and any colour: a name below or #RRGGBB
_COLOURS = {"green": (0, 177, 64), "blue": (0, 71, 187), "black": (0, 0, 0), "white": (255, 255, 255),
            "grey": (128, 128, 128), "gray": (128, 128, 128), "magenta": (255, 0, 255)}
OUTPUT_SIZES = ("1280x720", "1920x1080", "960x540", "640x360")  # offered in the window; any even WxH on the CLI
_MAX_SIDE = 3840  # the largest output side accepted (4K)
PORTRAIT_CAP = 2048  # a portrait's long side is capped here when the output takes the portrait's own size


@dataclass(frozen=True)
class OutputSettings:
    """The call picture: ``size`` (width, height; None: the portrait's own, capped at PORTRAIT_CAP); ``fit``
    cover crops the portrait to fill it, contain shows it whole over a backdrop; ``background`` the portrait's
    own, ``blur`` (the person sharp over their own background blurred), a colour for chroma key, or
    ``transparent`` (the portrait's own, with an alpha matte of the person for outputs that carry alpha);
    ``feather``: the blend's soft edge, a fraction of the crop."""

    size: tuple[int, int] | None = CALL_SIZE
    fit: str = "cover"
    background: str = "portrait"
    feather: float = 0.14


def parse_size(text: str) -> tuple[int, int]:
    """``1280x720`` as (1280, 720); ValueError saying what is wrong (even sides, at most 3840)."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"{text!r}: not a size such as 1280x720") from None
    if not (16 <= width <= _MAX_SIDE and 16 <= height <= _MAX_SIDE):
        raise ValueError(f"{text}: each side must be between 16 and {_MAX_SIDE}")
    if width % 2 or height % 2:
        raise ValueError(f"{text}: width and height must be even (video encoders need it)")
    return width, height


def background_colour(spec: str) -> tuple[int, int, int] | None:
    """The RGB of a colour background (``green``, ``#00b140``); None for ``portrait``, ``blur`` and
    ``transparent``; ValueError for anything else."""
    spec = spec.strip().lower()
    if spec in ("portrait", "blur", TRANSPARENT):
        return None
    if spec in _COLOURS:
        return _COLOURS[spec]
    if len(spec) == 7 and spec[0] == "#":
        try:
            return tuple(int(spec[i:i + 2], 16) for i in (1, 3, 5))
        except ValueError:
            pass
    raise ValueError(f"{spec!r}: not a background (portrait, blur, transparent, a colour name such as green, or #RRGGBB)")


def portrait_size(portrait: np.ndarray, cap: int = PORTRAIT_CAP) -> tuple[int, int]:
    """The portrait's own (width, height), the long side capped at ``cap``, rounded to even sides."""
    h, w = portrait.shape[:2]
    scale = min(1.0, cap / max(h, w))
    return max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2)


def replace_background(portrait: np.ndarray, background: str) -> np.ndarray:
    """The portrait with its background replaced (once per avatar: the person is cut out by segmentation).
    A transparent background keeps the portrait whole: the matte is the compositor's."""
    colour = background_colour(background)
    if background.strip().lower() in ("portrait", TRANSPARENT):
        return portrait
    if colour is None:  # blur, as call apps do: strong enough that nothing behind the person is legible
        sigma = max(portrait.shape[:2]) / 40
        backdrop = cv2.GaussianBlur(portrait, (0, 0), sigma)
    else:
        backdrop = np.empty_like(portrait)
        backdrop[:] = colour
    mask = person_mask(portrait)[..., None]
    return (portrait * mask + backdrop * (1 - mask)).round().astype(np.uint8)


class Compositor:
    """Prepared once per avatar: the portrait (background already replaced) fitted to the output, and where
    the face crop lands in it. ``face`` is that square as pictured (``face_side`` pixels): the avatar to
    give an engine that renders at the avatar's size. ``transparent``: ``matte`` gives each picture's alpha."""

    def __init__(self, portrait: np.ndarray, crop: Crop, settings: OutputSettings = OutputSettings()):
        self.settings = settings
        self.size = width, height = settings.size or portrait_size(portrait)
        h, w = portrait.shape[:2]
        scale = (max if settings.fit == "cover" else min)(width / w, height / h)
        centre = np.array([w / 2, h / 2])
        if settings.fit == "cover":
            # The window on the portrait follows the face (a little below it, for the shoulders), inside it.
            half = np.array([width, height]) / scale / 2
            centre = np.clip([crop.cx, crop.cy + 0.15 * crop.size], half, np.maximum(half, np.array([w, h]) - half))
        to_output = np.array([[scale, 0, width / 2 - scale * centre[0]], [0, scale, height / 2 - scale * centre[1]]])
        # The face square is snapped (by under a pixel) to a whole number of whole output pixels: a face
        # rendered at that size is pasted without resampling.
        side = max(2, int(round(crop.size * scale)))
        x0, y0 = (int(v) for v in np.round(to_output[:, :2] @ [crop.cx, crop.cy] + to_output[:, 2] - side / 2))
        flags = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        self.background = cv2.warpAffine(portrait, to_output, (width, height), flags=flags,
                                         borderMode=cv2.BORDER_REFLECT)
        self.face = cv2.warpAffine(portrait, to_output - [[0, 0, x0], [0, 0, y0]], (side, side), flags=flags,
                                   borderMode=cv2.BORDER_REFLECT)  # the face square, pixel for pixel as pictured
        inside = cv2.warpAffine(np.ones((h, w), np.uint8), to_output, (width, height)) > 0
        if settings.fit == "contain":
            colour = background_colour(settings.background)
            if colour is None:
                backdrop = cv2.resize(cv2.resize(portrait, (16, 9), interpolation=cv2.INTER_AREA), (width, height))
            else:
                backdrop = np.empty_like(self.background)
                backdrop[:] = colour
            self.background[~inside] = backdrop[~inside]
        self.transparent = settings.background == TRANSPARENT
        if self.transparent:  # the person in the still portrait; the face square is segmented anew each picture
            mask = np.round(person_mask(portrait) * 255).astype(np.uint8)
            self._matte = cv2.warpAffine(mask, to_output, (width, height), flags=flags, borderMode=cv2.BORDER_REFLECT)
            self._matte[~inside] = 0
        self.face_side = side
        ox0, oy0, ox1, oy1 = max(x0, 0), max(y0, 0), min(x0 + side, width), min(y0 + side, height)
        self._out = (slice(oy0, oy1), slice(ox0, ox1))
        self._face = (slice(oy0 - y0, oy1 - y0), slice(ox0 - x0, ox1 - x0))
        alpha = _feathered_square(side, settings.feather)[self._face]
        self._alpha = np.ascontiguousarray(np.repeat(alpha[..., None], 3, axis=2))
        self._under = (self.background[self._out] * (1 - self._alpha)).astype(np.float32)  # fixed: computed once
        seam = (alpha > 0.05) & (alpha < 0.6)
        self._seam = seam.astype(np.uint8)
        self._target_colour = np.array(cv2.mean(self.background[self._out], self._seam)[:3]) if seam.any() else None

    def compose(self, face: np.ndarray, blend: bool = True) -> np.ndarray:
        """The call picture with ``face`` (the engine's square output) pasted into the portrait.

        ``blend`` False: pasted as it is, for an engine whose output already meets the portrait at the
        square's edge (``Engine.pinned_border``); a feathered blend would only show the moved hair twice.
        """
        picture = self.background.copy()
        if not self._face_in_picture:
            return picture
        pasted = self._pasted(face)
        if not blend:
            picture[self._out] = pasted
            return picture
        shift = (0.0, 0.0, 0.0)
        if self._target_colour is not None:
            # A colour or brightness drift of the engine shows as a square edge: shift it back at the seam.
            shift = tuple(self._target_colour - cv2.mean(pasted, self._seam)[:3])
        # picture = (face + shift) * alpha + background * (1 - alpha), the second term computed once.
        lifted = cv2.add(pasted, (*shift, 0.0), dtype=cv2.CV_32F)
        blended = cv2.add(cv2.multiply(lifted, self._alpha), self._under)
        picture[self._out] = cv2.convertScaleAbs(blended)  # rounds and saturates to 0..255
        return picture

    def matte(self, face: np.ndarray) -> np.ndarray | None:
        """The alpha (uint8, the picture's size) of the picture ``compose(face)`` makes; None unless transparent.

        Outside the face square the portrait stands still, and so does its person mask; inside it the head
        moves, so the face as the engine drew it is segmented again and feathered in as the face is.
        """
        if not self.transparent:
            return None
        matte = self._matte.copy()
        if not self._face_in_picture:
            return matte
        alpha = self._alpha[..., 0]
        drawn = live_segmenter().mask(self._pasted(face)) * 255
        matte[self._out] = np.round(drawn * alpha + self._matte[self._out] * (1 - alpha)).astype(np.uint8)
        return matte

    @property
    def _face_in_picture(self) -> bool:
        return self._out[0].start < self._out[0].stop and self._out[1].start < self._out[1].stop

    def _pasted(self, face: np.ndarray) -> np.ndarray:
        """The part of the engine's square ``face`` that lands in the picture, at the size it is pictured."""
        if face.shape[0] != self.face_side:
            interpolation = cv2.INTER_CUBIC if self.face_side > face.shape[0] else cv2.INTER_AREA
            face = cv2.resize(face, (self.face_side, self.face_side), interpolation=interpolation)
        return face[self._face]


def _feathered_square(side: int, feather: float) -> np.ndarray:
    """1 inside, falling smoothly to 0 at the square's edge over ``feather`` of its side (round corners)."""
    ramp = max(1.0, feather * side)
    distance = np.minimum(np.arange(side), np.arange(side)[::-1]).astype(np.float32) + 0.5
    edge = np.clip(distance / ramp, 0, 1)
    alpha = np.minimum.outer(edge, edge) * np.sqrt(np.minimum(1, np.multiply.outer(edge, edge) * 2))
    return (alpha * alpha * (3 - 2 * alpha)).astype(np.float32)  # smoothstep: no visible band
