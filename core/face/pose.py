"""The head's rigid pose: a 3-D similarity fitted on the landmarks that expressions do not move."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.face.landmarks import inter_ocular

# Landmarks that move with the skull, not with expressions: the nose's bridge and tip, the eye corners and the
# temples. Not the forehead nor the cheekbones: mediapipe's mesh pulls the forehead along when the brows move and
# the cheekbones when the face smiles, and a pose fitted on them took a part of each expression for a nod (with
# the top of the forehead in, identity distance on real footage was 0.316 against 0.301 without).
RIGID = np.array([168, 6, 197, 195, 5, 4, 1, 122, 351, 193, 417, 33, 133, 362, 263, 234, 454, 127, 356, 162, 389])
# The face mesh's depth is deeper than its width and height say: fitted as they are, a turned head left its mouth's
# near corner further out than the far one, and a turn read as a lopsided smile (the two corners' difference
# followed the yaw, correlation -0.59 on the expressive clip and -0.72 on carphone). At this fraction of its depth
# the difference no longer follows the turn (0.7 on one clip, 0.75 on the other).
MESH_DEPTH = 0.75
# The skull's shape as a detection must have it to be the calibrated face: forehead, temples, nose, eye corners
# and cheekbones. Broader than RIGID; expressions move some of these points a little, far less than a face of
# another shape would (see plausibility).
SKULL = np.array([10, 109, 67, 103, 338, 297, 332, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 33, 133, 362, 263,
                  234, 454, 127, 356, 162, 389, 21, 251, 54, 284, 116, 345, 123, 352, 50, 280])


def similarity_3d(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Umeyama's least-squares (s, R, t) with dst ~ s R src + t, for (N, 3) point sets."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    u, sigma, vt = np.linalg.svd(b.T @ a / len(src))
    d = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1  # a reflection is not a head pose
    rotation = u @ np.diag(d) @ vt
    scale = float((sigma * d).sum() / a.var(0).sum())
    return scale, rotation, mu_d - scale * rotation @ mu_s


_DEPTH = np.array([1.0, 1.0, MESH_DEPTH])


def head_pose(reference: np.ndarray, points: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The head's motion (s, R, t) from ``reference`` to ``points`` ((N, 3) landmarks), fitted on RIGID with the
    mesh's depth at MESH_DEPTH of its x and y: R is the turn a real head made (at full depth, a nod read as 0.85
    of itself and a turn as 1.08)."""
    return similarity_3d(reference[RIGID].astype(np.float64) * _DEPTH, points[RIGID].astype(np.float64) * _DEPTH)


def into_pose(reference: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``points`` ((N, 3) landmarks) moved rigidly into ``reference``'s head pose: what is left of their
    difference is the face's own motion."""
    s, r, t = head_pose(points, reference)
    return (s * (points.astype(np.float64) * _DEPTH) @ r.T + t) / _DEPTH


def turn_angles(rotation: np.ndarray) -> tuple[float, float, float]:
    """A head's (yaw, pitch, roll) in radians, of ``rotation`` = Rz(roll) Ry(yaw) Rx(pitch) in image axes."""
    return (float(np.arcsin(np.clip(-rotation[2, 0], -1, 1))), float(np.arctan2(rotation[2, 1], rotation[2, 2])),
            float(np.arctan2(rotation[1, 0], rotation[0, 0])))


def head_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rz(roll) Ry(yaw) Rx(pitch), angles in radians: what ``turn_angles`` reads back."""
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return rz @ ry @ rx


@dataclass(frozen=True)
class PoseChange:
    """How a face moved from a reference: its turn in degrees, and how far its skull is from a rigid copy of
    the reference's (the mean 2-D distance of the SKULL landmarks from their best 3-D similarity fit, in the
    face's inter-ocular distances)."""

    yaw: float
    pitch: float
    roll: float
    residual: float


def pose_change(reference: np.ndarray, points: np.ndarray) -> PoseChange:
    """The skull's motion from ``reference`` to ``points`` ((478, 3) landmarks each), and what it leaves over."""
    src, dst = reference[SKULL].astype(np.float64), points[SKULL].astype(np.float64)
    s, r, t = similarity_3d(src, dst)
    residual = np.linalg.norm((s * src @ r.T + t - dst)[:, :2], axis=1).mean() / inter_ocular(points)
    yaw, pitch, roll = np.degrees(turn_angles(r))
    return PoseChange(float(yaw), float(pitch), float(roll), float(residual))
