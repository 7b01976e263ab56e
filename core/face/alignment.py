"""Face alignment: a square crop framed like the vox training data, locked at calibration, smoothed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.media.crop import Crop
from core.frames import DrivingFace
from core.face.landmarks import FaceLandmarker, inter_ocular, yaw_ratio
from core.face.plausibility import FaceGate, Implausible, PlausibilitySettings
from core.face.smoothing import OneEuroFilter


@dataclass(frozen=True)
class AlignmentSettings:
    """How faces are framed and smoothed. ``smoothing`` 0 is raw landmarks, 1 the steadiest."""

    zoom: float = 2.0  # crop side over the landmark box's larger side: face centred, about half the crop
    raise_centre: float = 0.12  # of the box height, so the crop takes in hair rather than neck
    edge_margin: float = 0.06  # of the crop side: a face this close to the edge re-centres the locked crop
    recentre_rate: float = 0.12  # fraction of the way back per frame: smooth, never a jump
    smoothing: float = 0.5
    frontal_yaw: float = 0.08  # |yaw ratio| under this counts as frontal for automatic calibration
    stable_frames: int = 8
    stable_motion: float = 0.06  # of the inter-ocular distance, frame to frame
    auto_calibrate_after: int = 60  # frames with a face: calibrate anyway if none was steady and frontal
    region_slack: float = 0.1  # the face moves (of the search region's side) or grows this much to move it
    plausibility: PlausibilitySettings = PlausibilitySettings()


def face_crop(points: np.ndarray, settings: AlignmentSettings = AlignmentSettings()) -> Crop:
    """The vox-style crop around a face's landmarks."""
    low, high = points[:, :2].min(0), points[:, :2].max(0)
    w, h = high - low
    return Crop(float((low[0] + high[0]) / 2), float((low[1] + high[1]) / 2 - settings.raise_centre * h),
                float(settings.zoom * max(w, h)))


def search_region(points: np.ndarray) -> Crop:
    """Where to look for a face next frame: a generous square around where it was."""
    low, high = points[:, :2].min(0), points[:, :2].max(0)
    return Crop(float((low[0] + high[0]) / 2), float((low[1] + high[1]) / 2), float(2.5 * (high - low).max()))


@dataclass(frozen=True)
class AlignedFrame:
    """One aligned frame: engine input, the crop it came from, and the landmarks in frame pixels."""

    face: DrivingFace
    crop: Crop
    landmarks: np.ndarray
    steady_frontal: bool


class FaceAligner:
    """Finds the driving face in each frame and cuts the engine's input from it.

    Before calibration the crop follows the face; ``lock`` holds it still so head motion shows as motion
    inside the crop, and it drifts back only when the face nears an edge. A detection implausible next to the
    face at ``lock`` is no face; ``rejected`` says why.
    """

    def __init__(self, out_size: int, settings: AlignmentSettings = AlignmentSettings()):
        self.out_size = out_size
        self.settings = settings
        self._landmarker = FaceLandmarker(video=True)
        self._points_filter = self._make_filter()
        self._crop_filter = OneEuroFilter(min_cutoff=0.5, beta=0.001)
        self._crop: Crop | None = None
        self._locked = False
        self._steady = 0
        self._previous: np.ndarray | None = None
        self._region: Crop | None = None  # where the tracker looks: the same crop frame after frame
        self._gate = FaceGate(settings.plausibility)
        self.rejected: Implausible | None = None  # why the last frame's detection was not taken for the face
        self.frames_with_face = 0

    @property
    def locked(self) -> bool:
        return self._locked

    def set_smoothing(self, strength: float) -> None:
        self.settings = _replace(self.settings, smoothing=float(np.clip(strength, 0, 1)))
        self._points_filter = self._make_filter()

    def lock(self) -> None:
        """Hold the current crop still, and judge faces against the current one: called when the neutral pose
        is taken."""
        self._locked = self._crop is not None
        if self._previous is not None:
            self._gate.set_neutral(self._previous)

    def lock_at(self, crop: Crop, points: np.ndarray) -> None:
        """Hold ``crop`` still and judge faces against ``points`` (frame pixels): a neutral pose taken before."""
        self._crop, self._locked = crop, True
        self._gate.set_neutral(points)

    def process(self, rgb: np.ndarray, timestamp: float) -> AlignedFrame | None:
        """Align one frame; None when no face is found, or the one found is not plausibly the driver's."""
        raw = self._find_face(rgb)
        self.rejected = None if raw is None else self._gate.check(raw, timestamp)
        if raw is None or self.rejected is not None:
            if raw is None:
                self._gate.lost()
            self._points_filter.reset()
            self._steady, self._previous = 0, None
            if self.rejected != Implausible.UNCONFIRMED:  # a face on probation is tracked where it is
                self._region = None
            return None
        points = self._points_filter(raw, timestamp).astype(np.float32) if self.settings.smoothing > 0 else raw
        target = face_crop(points, self.settings)
        if self._crop is None or not self._locked:
            smoothed = self._crop_filter(np.array([target.cx, target.cy, target.size]), timestamp)
            self._crop = Crop(*map(float, smoothed))
        elif self._near_edge(points):
            self._crop = self._crop.moved_towards(Crop(target.cx, target.cy, self._crop.size),
                                                  self.settings.recentre_rate)
        self.frames_with_face += 1
        features = DrivingFace(self._crop.extract(rgb, self.out_size), self._crop.to_crop(points, self.out_size))
        return AlignedFrame(features, self._crop, points, self._update_steadiness(raw))

    def close(self) -> None:
        self._landmarker.close()

    def _find_face(self, rgb: np.ndarray) -> np.ndarray | None:
        """Look around the last face first, then the frame's central square, then the whole frame.

        mediapipe's tracker wants the same crop frame after frame: fed crops that alternated (around the
        face, then the central square) it lost the face every other frame and, when it did not, gave meshes
        distorted by a third of the eye distance (a grotesque avatar for a frame); fed a crop that followed
        the landmarks' own jitter, it fed that jitter back. So the search region stays still while the face
        is well inside it, and a face found by the wider search is looked at again through its new region.
        """
        if self._region is not None:
            faces = self._landmarker.detect(rgb, self._region)
            if faces:
                self._follow(faces[0])
                return faces[0]
        h, w = rgb.shape[:2]
        for region in (Crop(w / 2, h / 2, min(h, w)), None):
            faces = self._landmarker.detect(rgb, region)
            if faces:
                self._region = search_region(faces[0])
                face = (self._landmarker.detect(rgb, self._region) or faces)[0]
                self._follow(face)
                return face
        return None

    def _follow(self, points: np.ndarray) -> None:
        """Move the search region only when the face has moved or grown well within it."""
        target, region = search_region(points), self._region
        if (max(abs(target.cx - region.cx), abs(target.cy - region.cy)) > self.settings.region_slack * region.size
                or abs(np.log(target.size / region.size)) > self.settings.region_slack):
            self._region = target

    def _near_edge(self, points: np.ndarray) -> bool:
        inside = self._crop.to_crop(points, self.out_size)[:, :2] / self.out_size
        margin = self.settings.edge_margin
        return bool((inside < margin).any() or (inside > 1 - margin).any())

    def _update_steadiness(self, points: np.ndarray) -> bool:
        s = self.settings
        still = (self._previous is not None and
                 np.abs(points[:, :2] - self._previous[:, :2]).max() < s.stable_motion * inter_ocular(points))
        frontal = abs(yaw_ratio(points)) < s.frontal_yaw
        self._steady = self._steady + 1 if (still and frontal) else 0
        self._previous = points
        return self._steady >= s.stable_frames

    def _make_filter(self) -> OneEuroFilter:
        # Stronger smoothing lowers the cutoff for a still face; speed still opens it, so motion does not lag.
        strength = self.settings.smoothing
        return OneEuroFilter(min_cutoff=8.0 * (1 - strength) + 0.4 * strength, beta=0.02)


def _replace(settings: AlignmentSettings, **changes) -> AlignmentSettings:
    from dataclasses import replace

    return replace(settings, **changes)
