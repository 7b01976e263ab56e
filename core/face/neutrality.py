"""How far a face is from a good neutral pose: turned, tilted, lips apart, eyes narrowed.

Every engine plays the motion measured from the neutral pose, so the neutral decides what each later frame
means: taken with the eyes half shut and the head down (the first frame of a real clip often is), every open
eye after it reads as eyes opened wide and every frontal look as a nod. Live, the user calibrates on a relaxed
face; a clip has no one to press the key, so offline the clip's most neutral frame is taken.
"""

from __future__ import annotations

import numpy as np

from core.face.landmarks import inter_ocular, yaw_ratio

# What one unit of distance is, for each way a face can be away from neutral.
_YAW = 0.08  # yaw ratio (nose off the cheeks' middle, of the face's width): live calibration's frontal limit
_ROLL_DEGREES = 10.0
_LIPS_APART = 0.05  # lip gap in inter-ocular distances that a relaxed mouth may have
_LIP_UNIT = 0.1
_EYES_OPEN = 0.25  # lid gap over the eye's width of an eye open at rest (real faces: 0.24 to 0.37)
_EYE_UNIT = 0.1
# Face-mesh landmarks: the inner lips' middle, each eye's lids' middle and corners.
_LIPS = (13, 14)
_EYES = ((159, 145, 33, 133), (386, 374, 263, 362))


def neutral_distance(points: np.ndarray) -> float:
    """0 for a frontal, upright face with lips together and eyes open; each unit is one clear way off it."""
    xy = points[:, :2].astype(np.float64)
    gap = np.linalg.norm(xy[_LIPS[0]] - xy[_LIPS[1]]) / inter_ocular(points)
    eyes = min(np.linalg.norm(xy[upper] - xy[lower]) / np.linalg.norm(xy[outer] - xy[inner])
               for upper, lower, outer, inner in _EYES)
    dx, dy = xy[_EYES[1][2]] - xy[_EYES[0][2]]
    roll = abs(np.degrees(np.arctan2(dy, dx)))
    return float(abs(yaw_ratio(points)) / _YAW + roll / _ROLL_DEGREES
                 + max(0.0, gap - _LIPS_APART) / _LIP_UNIT + max(0.0, _EYES_OPEN - eyes) / _EYE_UNIT)
