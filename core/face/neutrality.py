"""A good neutral pose: frontal and upright, lips together, eyes open; and, from a clip, one built from two frames.

Every engine plays the motion measured from the neutral pose, so the neutral decides what each later frame
means: taken with the eyes half shut and the head down (the first frame of a real clip often is), every open
eye after it reads as eyes opened wide; taken with the lips apart, every laugh reads as half a laugh. Live, the
user calibrates on a relaxed face. A clip has no one to press the key, and a person who talks and laughs through
it may never hold the whole face relaxed at once, so offline the neutral is composed: the upper face from the
frame whose eyes are most relaxed, the mouth and jaw from the frame whose mouth is, each nearest frontal.
"""

from __future__ import annotations

import numpy as np

from core.face.landmarks import NOSE_TIP, eye_centres, inter_ocular, yaw_ratio
from core.face.pose import into_pose

# What one unit of distance is, for each way a face can be away from neutral.
_YAW = 0.08  # yaw ratio (nose off the cheeks' middle, of the face's width): live calibration's frontal limit
_ROLL_DEGREES = 10.0
_LIPS_APART = 0.05  # lip gap in inter-ocular distances that a relaxed mouth may have
_LIP_UNIT = 0.1
_EYES_OPEN = 0.25  # lid gap over the eye's width of an eye open at rest (real faces: 0.24 to 0.37)
_EYE_UNIT = 0.1
# Face-mesh landmarks: the inner lips' middle, each eye's lids' middle and corners, the mouth's corners.
_LIPS = (13, 14)
_EYES = ((159, 145, 33, 133), (386, 374, 263, 362))
_MOUTH_CORNERS = (61, 291)


def neutral_distances(points: np.ndarray) -> tuple[float, float]:
    """How far a face is from neutral, as (mouth, eyes): each the head's turn and tilt plus the lips' parting
    or the eyes' narrowing; 0 for a frontal, upright face with lips together and eyes open, each unit one clear
    step off it."""
    xy = points[:, :2].astype(np.float64)
    gap = np.linalg.norm(xy[_LIPS[0]] - xy[_LIPS[1]]) / inter_ocular(points)
    eyes = min(np.linalg.norm(xy[upper] - xy[lower]) / np.linalg.norm(xy[outer] - xy[inner])
               for upper, lower, outer, inner in _EYES)
    dx, dy = xy[_EYES[1][2]] - xy[_EYES[0][2]]
    pose = abs(yaw_ratio(points)) / _YAW + abs(np.degrees(np.arctan2(dy, dx))) / _ROLL_DEGREES
    return (pose + max(0.0, gap - _LIPS_APART) / _LIP_UNIT, pose + max(0.0, _EYES_OPEN - eyes) / _EYE_UNIT)


def composed_neutral(eyes: np.ndarray, mouth: np.ndarray) -> np.ndarray:
    """One person's neutral face from two of their frames: the upper face of ``eyes`` and the mouth and jaw of
    ``mouth``, turned into ``eyes``'s head pose, blended between the nose's tip and the mouth's corners."""
    eyes, mouth = eyes.astype(np.float64), mouth.astype(np.float64)
    mouth = into_pose(eyes, mouth)
    right, left = eye_centres(eyes)
    across = (left - right) / np.linalg.norm(left - right)
    down = np.array([-across[1], across[0]])
    height = (eyes[:, :2] - eyes[NOSE_TIP, :2]) @ down
    corners = (eyes[list(_MOUTH_CORNERS), :2] - eyes[NOSE_TIP, :2]) @ down
    weight = np.clip(height / max(corners.mean(), 1e-6), 0, 1)[:, None]
    return (1 - weight) * eyes + weight * mouth
