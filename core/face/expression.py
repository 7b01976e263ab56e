"""Expressions, not deformation: what a face does, as a dozen numbers that any other face can do too.

A driver's landmarks, once the head's rigid pose is taken out, still move for three reasons: expressions, the
perspective of a head leaning in or turning, and the tracker's noise. Carried onto an avatar point by point,
all three deform it: a chin that rises, a face that widens, a grin on top of a grin. So the motion is read
as a few expressions instead: the jaw opening, each lip, each mouth corner, each eyelid and each brow. Each
is a displacement field defined on a face's own landmarks at rest (the jaw turns the chin down most and its
angles least; a blink brings the upper lid down by the eye's own opening), fitted to the driver's motion on
the driver's face, and played on the avatar's face in the avatar's own proportions. The outline, the skull
and the nose move only where an expression moves them (the jaw). Small values are noise and read as zero;
each expression is clamped to what a face can do, and a smile has only the room the avatar's own smile left.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.face.landmarks import (LEFT_LOWER_LID, LEFT_UPPER_LID, RIGHT_LOWER_LID, RIGHT_UPPER_LID, eye_centres,
                                  inter_ocular)
from core.face.pose import RIGID


@dataclass(frozen=True)
class _Expression:
    name: str
    low: float  # clamped to [low, high], in the expression's own unit
    high: float
    noise: float  # values this small are tracker noise, and read as zero


# Units: the jaw, lips, corners and brows in inter-ocular distances (the distance between the eye centres),
# the eyelids in fractions of the eye's own opening (1: shut). Positive: open, raise, outwards, shut.
EXPRESSIONS = (
    _Expression("jaw_open", -0.05, 0.7, 0.012),
    _Expression("upper_lip_raise", -0.06, 0.15, 0.015),
    _Expression("lower_lip_drop", -0.06, 0.25, 0.015),
    _Expression("right_corner_out", -0.15, 0.2, 0.018),
    _Expression("right_corner_up", -0.12, 0.16, 0.018),
    _Expression("left_corner_out", -0.15, 0.2, 0.018),
    _Expression("left_corner_up", -0.12, 0.16, 0.018),
    _Expression("right_blink", -0.3, 1.0, 0.15),
    _Expression("left_blink", -0.3, 1.0, 0.15),
    _Expression("right_brow_inner", -0.12, 0.2, 0.021),
    _Expression("right_brow_outer", -0.12, 0.2, 0.021),
    _Expression("left_brow_inner", -0.12, 0.2, 0.021),
    _Expression("left_brow_outer", -0.12, 0.2, 0.021),
)
_INDEX = {e.name: i for i, e in enumerate(EXPRESSIONS)}
_BLINKS = (_INDEX["right_blink"], _INDEX["left_blink"])
_LIDS = ((RIGHT_UPPER_LID, RIGHT_LOWER_LID), (LEFT_UPPER_LID, LEFT_LOWER_LID))
_PARTING = np.array([_INDEX[n] for n in ("upper_lip_raise", "lower_lip_drop")])  # what parts the lips off the teeth
_BROW_MOVES = np.array([_INDEX[f"{side}_brow_{part}"] for side in ("right", "left") for part in ("inner", "outer")])
_LOW = np.array([e.low for e in EXPRESSIONS])
_HIGH = np.array([e.high for e in EXPRESSIONS])
_NOISE = np.array([e.noise for e in EXPRESSIONS])

# Landmarks of mediapipe's face mesh. "Right" is the subject's right (the image's left, unmirrored).
_UPPER_LIP = np.array([185, 40, 39, 37, 0, 267, 269, 270, 409, 191, 80, 81, 82, 13, 312, 311, 310, 415])
_LOWER_LIP = np.array([146, 91, 181, 84, 17, 314, 405, 321, 375, 95, 88, 178, 87, 14, 317, 402, 318, 324])
_RIGHT_CORNER, _LEFT_CORNER = np.array([61, 78, 62, 76]), np.array([291, 308, 292, 306])
_CHIN = 152
_EAR_LEVEL = (234, 454)  # the cheeks' sides at the ears: the jaw's hinge lies about here
_RIGHT_IRIS, _LEFT_IRIS = np.arange(468, 473), np.arange(473, 478)
_RIGHT_BROW = np.array([70, 63, 105, 66, 107, 46, 53, 52, 65, 55])
_LEFT_BROW = np.array([300, 293, 334, 296, 336, 276, 283, 282, 295, 285])
_OVAL = np.array([10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
                  152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109])
_BROWS = np.concatenate([_RIGHT_BROW, _LEFT_BROW])
_EYES = np.concatenate([RIGHT_UPPER_LID, RIGHT_LOWER_LID, LEFT_UPPER_LID, LEFT_LOWER_LID, _RIGHT_IRIS,
                        _LEFT_IRIS, [33, 133, 263, 362]])
# Never moved by an expression's spread: the skull, the outline, and (for the mouth and brows) the eyes.
_STILL = np.union1d(RIGID, _OVAL)

# A smile's room: the mouth's width and its corners' lift (above the lips' middle), in inter-ocular distances,
# of a relaxed face and of a full smile, measured on real faces with mediapipe.
_NEUTRAL_WIDTH, _FULL_SMILE_WIDTH = 0.84, 1.12
_NEUTRAL_LIFT, _FULL_SMILE_LIFT = 0.04, 0.2
_UPPER_LID_SHARE = 0.85  # of a blink's travel; the lower lid rises the rest of the way
# The face mesh's ring just above each upper lid: a portrait's lash line lies between it and the mesh's lid, and
# it comes down with the lid this much (held still, the lashes stayed up and a half-closed eye looked open).
_RIGHT_LID_SKIN = np.array([247, 30, 29, 27, 28, 56, 190])
_LEFT_LID_SKIN = np.array([467, 260, 259, 257, 258, 286, 414])
_LID_SKIN_FOLLOW = 0.8
# On a brow's few points its inner and outer halves move nearly alike: this ridge keeps their difference from
# turning a still face's tracker noise into a frown.
_BROW_RIDGE = 0.2


@dataclass(frozen=True)
class FaceFrame:
    """A face's own axes: from the middle of the eyes, x towards the subject's left eye, y down the face,
    in inter-ocular distances."""

    origin: np.ndarray
    rotation: np.ndarray  # (2, 2): face coordinates = (image - origin) @ rotation.T / unit
    unit: float

    @staticmethod
    def of(points: np.ndarray) -> "FaceFrame":
        right, left = eye_centres(points)
        axis = (left - right) / np.linalg.norm(left - right)
        return FaceFrame((right + left) / 2, np.array([axis, [-axis[1], axis[0]]]), inter_ocular(points))

    def to_face(self, xy: np.ndarray) -> np.ndarray:
        return (xy - self.origin) @ self.rotation.T / self.unit

    def displacement_to_image(self, d: np.ndarray) -> np.ndarray:
        return d @ self.rotation * self.unit


class ExpressionRig:
    """The expressions' displacement fields on one face at rest (``points``: (478, 3) landmarks)."""

    def __init__(self, points: np.ndarray, ridge: float = 1e-3):
        self.frame = FaceFrame.of(points)
        q = self.frame.to_face(points[:, :2].astype(np.float64))
        self._bases = _bases(q, points[:, 2].astype(np.float64) / self.frame.unit)  # (K, N, 2)
        used = np.abs(self._bases).max((0, 2)) > 0.02
        a = self._bases[:, used].reshape(len(EXPRESSIONS), -1).T
        self._used = used
        self._solve = np.linalg.solve(a.T @ a + ridge * np.eye(a.shape[1]), a.T)
        brows = self._bases[_BROW_MOVES][:, _BROWS].reshape(len(_BROW_MOVES), -1).T
        self._brow_solve = np.linalg.solve(brows.T @ brows + _BROW_RIDGE * np.eye(len(_BROW_MOVES)), brows.T)
        self._rest = q
        self._eyes_open = [_lid_gap(q, upper, lower) for upper, lower in _LIDS]
        self._own_gap = max(float(q[14, 1] - q[13, 1]), 0.0)  # the lips' own parting at rest
        width = np.linalg.norm(q[61] - q[291])
        lift = (q[0, 1] + q[17, 1]) / 2 - (q[61, 1] + q[291, 1]) / 2
        # How much of a full smile this face has left: a smiling avatar is not given a second smile.
        self.smile_room = (float(np.clip((_FULL_SMILE_WIDTH - width) / (_FULL_SMILE_WIDTH - _NEUTRAL_WIDTH), 0, 1)),
                           float(np.clip((_FULL_SMILE_LIFT - lift) / (_FULL_SMILE_LIFT - _NEUTRAL_LIFT), 0, 1)))

    def read(self, motion: np.ndarray) -> np.ndarray:
        """The expressions that best explain ``motion`` ((478, 2+) image-pixel displacements from this face at
        rest, the head's pose already taken out), with noise read as zero and each clamped."""
        d = motion[:, :2] @ self.frame.rotation.T / self.frame.unit
        values = self._solve @ d[self._used].reshape(-1)
        # The brows are read on the brows alone: fitted with the forehead their spread moves, which the tracker
        # hardly moves, the avatar's brows followed the driver's height at 0.42 (0.55 now) on the expressive clip.
        values[_BROW_MOVES] = self._brow_solve @ d[_BROWS].reshape(-1)
        # A blink is read as what it is, how much of the gap between the lids is gone: fitted to the points around
        # the eye too, a look down read as half a blink on one eye and as most of one on the other.
        now = self._rest + d
        for index, (upper, lower), rest in zip(_BLINKS, _LIDS, self._eyes_open):
            values[index] = 1 - _lid_gap(now, upper, lower) / rest if rest > 0 else 0.0
        # Below the noise level nothing; above it, nearly the value itself (the non-negative garrote: continuous,
        # and unlike subtracting the noise level it does not weaken a whole expression).
        values = np.where(np.abs(values) > _NOISE, values - _NOISE ** 2 / np.where(values == 0, 1, values), 0.0)
        return np.clip(values, _LOW, _HIGH)

    def play(self, values: np.ndarray) -> np.ndarray:
        """(478, 3) image-pixel displacements of this face making ``values`` (in its own proportions; a smile
        only as far as this face's own smile left room for)."""
        values = values.copy()
        width_room, lift_room = self.smile_room
        for side in ("right", "left"):
            out, up = _INDEX[f"{side}_corner_out"], _INDEX[f"{side}_corner_up"]
            values[out] *= width_room if values[out] > 0 else 1.0
            values[up] *= lift_room if values[up] > 0 else 1.0
        parting = values[_PARTING].clip(0).sum()
        if parting > 0 and self._own_gap > 0:
            # Lips already parted are part of any parting of the lips: they part to the larger of the two, smoothly
            # (an avatar showing its teeth is not given the driver's whole smile on top of its own). The jaw is
            # another matter: it drops the teeth too, and opens a parted mouth as much as a closed one.
            values[_PARTING] = np.where(values[_PARTING] > 0, values[_PARTING] * (
                np.hypot(self._own_gap, parting) - self._own_gap) / parting, values[_PARTING])
        d = np.tensordot(values, self._bases, axes=1)
        return np.column_stack([self.frame.displacement_to_image(d), np.zeros(len(d))])


def _bases(q: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Each expression's displacement per unit, (K, N, 2), in face coordinates, from the face at rest."""
    n = len(q)
    bases = np.zeros((len(EXPRESSIONS), n, 2))
    corners = {"right": q[61], "left": q[291]}
    centre_x = (corners["right"][0] + corners["left"][0]) / 2
    half_width = abs(corners["left"][0] - corners["right"][0]) / 2
    lips = np.concatenate([_UPPER_LIP, _LOWER_LIP])
    # Along the lips, 0 in the middle to 1 at the corners.
    along = np.clip(np.abs(q[:, 0] - centre_x) / half_width, 0, 1)

    # The jaw turns about a hinge by the ears: what lies furthest in front of the hinge (the chin, the lower
    # lip) goes down most, the jaw's angles least; nothing above the mouth's corners moves.
    hinge_z = z[list(_EAR_LEVEL)].mean()
    reach = np.clip((hinge_z - z) / (hinge_z - z[_CHIN]), 0, 1)
    corner_y = (corners["right"][1] + corners["left"][1]) / 2
    below = np.clip((q[:, 1] - corner_y) / 0.15 + 0.5, 0, 1)
    below[_LOWER_LIP], below[_UPPER_LIP] = 1.0, 0.0
    below[np.concatenate([_RIGHT_CORNER, _LEFT_CORNER])] = 0.35
    jaw = reach * below
    jaw[np.setdiff1d(RIGID, _OVAL)] = 0.0  # the nose and cheekbones stay with the skull
    bases[_INDEX["jaw_open"], :, 1] = jaw

    lip_shape = 1 - along ** 2
    # Each lip moves alone: closed, the other lip lies within the spread's reach, and dragged along it made a
    # parting read as half of what it was (the upper lip went down with the lower).
    _set(bases, "upper_lip_raise", q, _UPPER_LIP, np.column_stack([0 * lip_shape, -lip_shape])[_UPPER_LIP], 0.1,
         _LOWER_LIP)
    _set(bases, "lower_lip_drop", q, _LOWER_LIP, np.column_stack([0 * lip_shape, lip_shape])[_LOWER_LIP], 0.1,
         _UPPER_LIP)

    for side, sign, corner in (("right", -1.0, _RIGHT_CORNER), ("left", 1.0, _LEFT_CORNER)):
        members = np.union1d(lips, corner)
        pull = np.clip(1 - np.abs(q[members, 0] - corners[side][0]) / (2 * half_width), 0, 1) ** 2
        pull[np.isin(members, corner)] = 1.0
        zero = np.zeros_like(pull)
        _set(bases, f"{side}_corner_out", q, members, np.column_stack([sign * pull, zero]), 0.25)
        _set(bases, f"{side}_corner_up", q, members, np.column_stack([zero, -pull]), 0.25)

    for side, upper, lower, iris, skin in (("right", RIGHT_UPPER_LID, RIGHT_LOWER_LID, _RIGHT_IRIS, _RIGHT_LID_SKIN),
                                           ("left", LEFT_UPPER_LID, LEFT_LOWER_LID, _LEFT_IRIS, _LEFT_LID_SKIN)):
        # Each lid closes the eye's own opening where it is, the upper lid most of it: they meet when shut.
        upper_y, lower_y = _lid_at(q, upper, q[:, 0]), _lid_at(q, lower, q[:, 0])
        opening = np.maximum(lower_y - upper_y, 0)
        # What lies between the lids (the iris) goes with the lid it is nearest, so that the closing lid covers
        # it: carried halfway, the iris's top rose above the shut lid, and that fold drew the iris over the lid.
        between = np.clip((q[iris, 1] - upper_y[iris]) / np.maximum(opening[iris], 1e-6), 0, 1)
        members = np.concatenate([upper, lower, iris, skin])
        shift = np.concatenate([_UPPER_LID_SHARE * opening[upper], (_UPPER_LID_SHARE - 1) * opening[lower],
                                (_UPPER_LID_SHARE - between) * opening[iris],
                                _LID_SKIN_FOLLOW * _UPPER_LID_SHARE * opening[skin]])
        _set(bases, f"{side}_blink", q, members, np.column_stack([np.zeros_like(shift), shift]), 0.05)

    for side, brow in (("right", _RIGHT_BROW), ("left", _LEFT_BROW)):
        inner_x, outer_x = (q[brow, 0].max(), q[brow, 0].min()) if side == "right" else (
            q[brow, 0].min(), q[brow, 0].max())
        inner = np.clip((q[brow, 0] - outer_x) / (inner_x - outer_x), 0, 1)
        zero = np.zeros(len(brow))
        _set(bases, f"{side}_brow_inner", q, brow, np.column_stack([zero, -inner]), 0.2, _EYES)
        _set(bases, f"{side}_brow_outer", q, brow, np.column_stack([zero, -(1 - inner)]), 0.2, _EYES)
    return bases


def _lid_gap(q: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> float:
    """The mean gap between an eye's lids, under each upper-lid point, in face units (0 or less: shut)."""
    return float((_lid_at(q, lower, q[upper, 0]) - q[upper, 1]).mean())


def _lid_at(q: np.ndarray, lid: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The lid's height at each ``x``, linear between its points (held at its ends beyond them)."""
    order = np.argsort(q[lid, 0])
    return np.interp(x, q[lid[order], 0], q[lid[order], 1])


def _set(bases: np.ndarray, name: str, q: np.ndarray, members: np.ndarray, moves: np.ndarray, reach: float,
         also_still: np.ndarray = np.array([], dtype=int)) -> None:
    """One expression: ``members`` move by ``moves``; the skin around follows, less with distance (``reach``, a
    Gaussian's sigma in inter-ocular distances), and the still parts of the face do not."""
    distance = np.linalg.norm(q[:, None, :] - q[members][None, :, :], axis=-1)  # (N, M)
    weights = np.exp(-0.5 * (distance / reach) ** 2)
    spread = weights @ moves / np.maximum(weights.sum(1, keepdims=True), 1e-12)
    spread *= np.exp(-0.5 * (distance.min(1) / reach) ** 2)[:, None]
    spread[_STILL] = 0.0
    spread[also_still] = 0.0
    spread[members] = moves
    bases[_INDEX[name]] = spread
