"""Is this a face? A detection that is implausible next to the calibrated neutral is treated as no face.

The tracker sometimes finds a "face" in a title, a poster or a patterned shirt once the person has gone: a
head a quarter of the size, twisted, or of another shape. Animating the avatar from that draws a monster on
the call. So each detection is checked against the neutral pose: its size, where it is, its pose, the shape
of its skull, and how fast it moved since the last frame; and after the face was lost, a new one counts only
once it has been plausible for a few frames in a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from core.face.landmarks import eye_centres, inter_ocular, yaw_ratio
from core.face.pose import SKULL, pose_change


class Implausible(Enum):
    """Why a detection was not taken for the driver's face."""

    SIZE = "its size is far from the neutral pose's"
    PLACE = "it is far from where the face was at calibration"
    POSE = "it is turned or tilted further than a head turns"
    SHAPE = "its shape is not the calibrated face's"
    SPEED = "it jumped faster than a head moves"
    UNCONFIRMED = "it has not been seen for long enough yet"


@dataclass(frozen=True)
class PlausibilitySettings:
    """Limits measured on real webcam footage, with a margin: a real face in a call stays well inside them."""

    size_range: tuple[float, float] = (0.55, 1.8)  # inter-ocular distance over the neutral's
    max_offset: float = 8.0  # neutral inter-ocular distances from the neutral's place: about a webcam's width
    max_yaw: float = 0.45  # landmarks.yaw_ratio; a real face in a call reached 0.26
    max_roll_degrees: float = 50.0
    max_turn_degrees: float = 45.0  # yaw or pitch from the neutral: a face squashed flat is a nod too far
    max_shape: float = 0.12  # pose.PoseChange.residual from the neutral; a real face reached 0.09
    max_speed: float = 10.0  # inter-ocular distances per second; a real head shake reached 2.5
    confirm_frames: int = 3  # plausible detections in a row before a face that came back counts


class FaceGate:
    """Checks each detection against the neutral pose (``set_neutral``) and the last accepted face."""

    def __init__(self, settings: PlausibilitySettings = PlausibilitySettings()):
        self.settings = settings
        self._neutral: np.ndarray | None = None
        self._last: tuple[np.ndarray, float] | None = None  # the last accepted face's rigid centre, and when
        self._confirmed = 0

    def set_neutral(self, points: np.ndarray) -> None:
        """Judge faces against ``points`` from now on; the face they came from needs no probation."""
        self._neutral = points.astype(np.float64)
        self._confirmed = max(self._confirmed, self.settings.confirm_frames)

    def lost(self) -> None:
        """No face in this frame: the next one must prove itself again."""
        self._last, self._confirmed = None, 0

    def check(self, points: np.ndarray, timestamp: float) -> Implausible | None:
        """None if ``points`` (frame pixels, (478, 3)) are taken for the face, else why not."""
        reason = self._judge(points.astype(np.float64), timestamp)
        if reason is not None:
            self.lost()
            return reason
        self._confirmed += 1
        self._last = (points[SKULL, :2].mean(0), timestamp)
        if self._neutral is not None and self._confirmed < self.settings.confirm_frames:
            return Implausible.UNCONFIRMED
        return None

    def _judge(self, points: np.ndarray, timestamp: float) -> Implausible | None:
        s = self.settings
        right, left = eye_centres(points)
        roll = np.degrees(np.arctan2(left[1] - right[1], left[0] - right[0]))
        if abs(yaw_ratio(points)) > s.max_yaw or abs(roll) > s.max_roll_degrees:
            return Implausible.POSE
        eyes = inter_ocular(points)
        centre = points[SKULL, :2].mean(0)
        if self._last is not None:
            last_centre, last_time = self._last
            elapsed = max(timestamp - last_time, 1e-3)
            if np.linalg.norm(centre - last_centre) / eyes / elapsed > s.max_speed:
                return Implausible.SPEED
        if self._neutral is None:
            return None
        neutral_eyes = inter_ocular(self._neutral)
        if not s.size_range[0] <= eyes / neutral_eyes <= s.size_range[1]:
            return Implausible.SIZE
        if np.linalg.norm(centre - self._neutral[SKULL, :2].mean(0)) / neutral_eyes > s.max_offset:
            return Implausible.PLACE
        change = pose_change(self._neutral, points)
        if max(abs(change.yaw), abs(change.pitch)) > s.max_turn_degrees:
            return Implausible.POSE
        if change.residual > s.max_shape:
            return Implausible.SHAPE
        return None
