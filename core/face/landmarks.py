"""Face landmarks from mediapipe's face mesh (the offline ``solutions`` API of mediapipe 0.10.21)."""

from __future__ import annotations

import os

import numpy as np

from core.media.crop import Crop

# mediapipe's C++ side logs to stderr on import and first use; keep the terminal for Facade's own messages.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class FaceLandmarker:
    """Landmarks of the faces in RGB frames, as (478, 3) float32 pixels (z scaled like x), largest face first.

    ``video=True`` tracks across frames (one face, fast); ``video=False`` treats each image on its own.
    Not thread-safe: one instance per thread.
    """

    def __init__(self, video: bool, max_faces: int = 1, min_confidence: float = 0.5):
        from mediapipe.python.solutions import face_mesh

        self._mesh = face_mesh.FaceMesh(static_image_mode=not video, max_num_faces=max_faces,
                                        refine_landmarks=True, min_detection_confidence=min_confidence,
                                        min_tracking_confidence=min_confidence)

    def detect(self, rgb: np.ndarray, region: Crop | None = None, work_size: int = 384) -> list[np.ndarray]:
        """Faces in ``rgb``, or only in ``region`` of it (resampled to work_size), in frame pixels.

        The detector sees a 128-pixel version of its input, so a small face in a wide frame is found
        only when a region around it is given.
        """
        if region is None:
            return self._detect(rgb)
        faces = self._detect(region.extract(rgb, work_size))
        return [region.from_crop(face, work_size) for face in faces]

    def _detect(self, rgb: np.ndarray) -> list[np.ndarray]:
        h, w = rgb.shape[:2]
        result = self._mesh.process(np.ascontiguousarray(rgb))
        faces = []
        for face in result.multi_face_landmarks or ():
            points = np.array([(p.x, p.y, p.z) for p in face.landmark], dtype=np.float32)
            faces.append(points * np.array([w, h, w], dtype=np.float32))
        return sorted(faces, key=_box_area, reverse=True)

    def close(self) -> None:
        self._mesh.close()


def _box_area(points: np.ndarray) -> float:
    span = points[:, :2].max(0) - points[:, :2].min(0)
    return float(span[0] * span[1])


# Landmark indices of the mesh (mediapipe's canonical face model).
LEFT_EYE_CORNERS = (263, 362)  # the subject's left eye: outer, inner
RIGHT_EYE_CORNERS = (33, 133)
# Each eye's lids, corner to corner; "right" is the subject's right (the image's left, unmirrored).
RIGHT_UPPER_LID = np.array([246, 161, 160, 159, 158, 157, 173])
RIGHT_LOWER_LID = np.array([7, 163, 144, 145, 153, 154, 155])
LEFT_UPPER_LID = np.array([466, 388, 387, 386, 385, 384, 398])
LEFT_LOWER_LID = np.array([249, 390, 373, 374, 380, 381, 382])
# Each eye's outline: outer corner, upper lid, inner corner, lower lid back (right eye, then left).
EYE_OUTLINES = tuple(np.concatenate([[outer], upper, [inner], lower[::-1]]) for (outer, inner), upper, lower in (
    (RIGHT_EYE_CORNERS, RIGHT_UPPER_LID, RIGHT_LOWER_LID), (LEFT_EYE_CORNERS, LEFT_UPPER_LID, LEFT_LOWER_LID)))
LEFT_CHEEK, RIGHT_CHEEK = 454, 234
NOSE_TIP = 1


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the subject's right and left eyes (image left and right for a frontal face)."""
    return (points[list(RIGHT_EYE_CORNERS), :2].mean(0), points[list(LEFT_EYE_CORNERS), :2].mean(0))


def inter_ocular(points: np.ndarray) -> float:
    right, left = eye_centres(points)
    return float(np.linalg.norm(left - right))


def yaw_ratio(points: np.ndarray) -> float:
    """How far the nose sits from the middle of the cheeks, as a fraction of face width: 0 when frontal."""
    left, right = points[LEFT_CHEEK, 0], points[RIGHT_CHEEK, 0]
    width = abs(left - right) or 1.0
    return float((points[NOSE_TIP, 0] - (left + right) / 2) / width)


def eye_opening(outline: np.ndarray) -> float:
    """An eye's mean opening over its width, from its outline's points ((16, 2+), ``EYE_OUTLINES`` order): the
    area inside over the squared distance between the corners; about 0.25 for an eye open at rest, 0 shut."""
    x, y = outline[:, 0].astype(np.float64), outline[:, 1].astype(np.float64)
    area = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    return float(area / max(np.sum((outline[8, :2] - outline[0, :2]) ** 2), 1e-12))
