"""Driving landmarks with known expressions, made by editing a real face's landmarks."""

import numpy as np

from core.face.pose import RIGID, head_rotation

RIGHT_UPPER_LID = [246, 161, 160, 159, 158, 157, 173]
RIGHT_LOWER_LID = [7, 163, 144, 145, 153, 154, 155]
LEFT_UPPER_LID = [466, 388, 387, 386, 385, 384, 398]
LEFT_LOWER_LID = [249, 390, 373, 374, 380, 381, 382]
MOUTH_CORNERS = (61, 291)
BROWS = [70, 63, 105, 66, 107, 46, 53, 52, 65, 55, 300, 293, 334, 296, 336, 276, 283, 282, 295, 285]


def open_mouth(points: np.ndarray, amount: float) -> np.ndarray:
    """The jaw dropped by ``amount`` times the inter-ocular distance.

    Points below the line of the mouth corners move down, fully from the lower lip's middle on; points far
    to the side drop less, as a jaw hinged near the ears does.
    """
    out = points.copy()
    iod = np.linalg.norm(points[33, :2] - points[263, :2])
    corners = points[list(MOUTH_CORNERS), 1].mean()
    lower_lip = points[14, 1]
    weight = np.clip((points[:, 1] - corners) / max(lower_lip - corners, 1.0), 0, 1)
    side = np.abs(points[:, 0] - points[14, 0]) / iod
    out[:, 1] += amount * iod * weight * np.clip(1.2 - 0.6 * side, 0.3, 1.0)
    return out


def close_eyes(points: np.ndarray, amount: float = 0.9) -> np.ndarray:
    """Upper eyelids lowered ``amount`` of the way to the lower ones (irises follow half-way)."""
    out = points.copy()
    for upper, lower in ((RIGHT_UPPER_LID, RIGHT_LOWER_LID), (LEFT_UPPER_LID, LEFT_LOWER_LID)):
        out[upper] = points[upper] + amount * (points[lower] - points[upper])
    for iris in (range(468, 473), range(473, 478)):
        iris = list(iris)
        centre_y = points[iris, 1].mean()
        out[iris, 1] = centre_y + (1 - amount) * (points[iris, 1] - centre_y) + 0.3 * amount * 2
    return out


def eye_openness(points: np.ndarray) -> float:
    iod = np.linalg.norm(points[33, :2] - points[263, :2])
    return float((np.linalg.norm(points[159, :2] - points[145, :2]) +
                  np.linalg.norm(points[386, :2] - points[374, :2])) / (2 * iod))


def mouth_gap(points: np.ndarray) -> float:
    iod = np.linalg.norm(points[33, :2] - points[263, :2])
    return float(np.linalg.norm(points[13, :2] - points[14, :2]) / iod)


def raise_brows(points: np.ndarray, amount: float) -> np.ndarray:
    """Both brows raised by ``amount`` times the inter-ocular distance, the forehead above them still (as the face
    mesh reports a real raise: its forehead points hardly move)."""
    out = points.copy()
    out[BROWS, 1] -= amount * np.linalg.norm(points[33, :2] - points[263, :2])
    return out


def turned(points: np.ndarray, yaw: float = 0.0, pitch: float = 0.0) -> np.ndarray:
    """``points`` as mediapipe reports the head turned by ``yaw`` and ``pitch`` degrees: on real clips the mesh's
    depth is a third more than the face's (at three quarters of it, a turn's corners stopped reading as a smile)."""
    depth = np.array([1.0, 1.0, 0.75])
    centre = points[RIGID].mean(0)
    return (((points - centre) * depth) @ head_rotation(np.radians(yaw), np.radians(pitch), 0.0).T) / depth + centre
