"""The mesh engine: first-order motion with face-mesh landmarks as keypoints and no learned weights.

The driver's motion since calibration splits into a rigid head pose (3-D similarity fitted on landmarks that
expressions do not move) and an expression residual. The avatar's landmarks take the residual in their own
frame and scale, then turn with the head. Rings around the face follow the head, fixed anchors hold the
image border, and a piecewise-affine backward warp over their triangulation moves the avatar's pixels.
A mouth opened wider than the avatar's own gets a dark interior and teeth.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from core.errors import UserError
from core.face.landmarks import FaceLandmarker, inter_ocular
from core.frames import DrivingFace

# Landmarks that move with the skull, not with expressions: forehead, temples, nose bridge, eye corners,
# cheekbones. The head pose is fitted on these alone.
_RIGID = np.array([10, 109, 67, 103, 338, 297, 332, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 33, 133, 362, 263,
                   234, 454, 127, 356, 162, 389, 21, 251, 54, 284, 116, 345, 123, 352, 50, 280])
_FACE_OVAL = np.array([10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
                       152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109])
_UPPER_INNER_LIP = np.array([78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308])
_LOWER_INNER_LIP = np.array([78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308])
_LIP_GAP = (13, 14)


@dataclass(frozen=True)
class MeshOptions:
    resolution: int = 256
    head_ring: float = 1.3  # ring around the face (hair, ears), scaled from the face oval; moves with the head
    outer_ring: float = 1.9  # ring that moves half as much: the neck and hair ends blend into a still background
    outer_follow: float = 0.5
    border_anchors: int = 8  # fixed points per image side
    mouth_interior: bool = True
    mouth_colour: tuple[int, int, int] = (58, 18, 22)
    teeth_colour: tuple[int, int, int] = (236, 232, 222)


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


def _affine_2d(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares 2x3 affine with dst ~ A [src, 1]."""
    homogeneous = np.hstack([src, np.ones((len(src), 1))])
    solution, *_ = np.linalg.lstsq(homogeneous, dst, rcond=None)
    return solution.T


class MeshEngine:
    """Landmark-driven warp behind the engine contract; runs on the CPU at any output resolution."""

    name = "mesh"
    device = "cpu"

    def __init__(self, options: MeshOptions = MeshOptions()):
        self.options = options
        self.resolution = options.resolution
        self._image_landmarker = FaceLandmarker(video=False, max_faces=4)
        self._frame_landmarker: FaceLandmarker | None = None  # only for frames that come without landmarks
        self._avatar: np.ndarray | None = None
        self._neutral: np.ndarray | None = None
        size = self.resolution
        ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
        self._pixels = np.stack([xs, ys, np.ones_like(xs)], axis=-1)  # homogeneous pixel coordinates
        self._last: np.ndarray | None = None

    # The contract.

    def set_avatar(self, rgb: np.ndarray) -> None:
        rgb = np.ascontiguousarray(rgb if rgb.shape[:2] == (self.resolution,) * 2
                                   else cv2.resize(rgb, (self.resolution, self.resolution)))
        faces = self._image_landmarker.detect(rgb)
        if not faces:
            raise UserError("the mesh engine needs a face in the avatar, and none was found in it")
        self._avatar = rgb
        self._last = rgb
        self._points = faces[0].astype(np.float64)
        self._rigid_centre = self._points[_RIGID].mean(0)
        self._ring_base, self._ring_follow = self._rings()
        self._source = np.vstack([self._points[:, :2], self._ring_base])
        self._triangles = _triangulate(self._source, self.resolution)
        self._avatar_gap = self._lip_gap(self._points)

    def calibrate(self, frame: DrivingFace) -> None:
        landmarks = self._landmarks(frame)
        if landmarks is not None:
            self._neutral = landmarks

    def animate(self, frame: DrivingFace) -> np.ndarray:
        if self._avatar is None:
            raise RuntimeError("set_avatar must be called before animate")
        landmarks = self._landmarks(frame)
        if landmarks is None:
            return self._last
        if self._neutral is None:
            self._neutral = landmarks
        moved = self.moved_points(landmarks)
        target = np.vstack([moved[:, :2], self._moved_rings(moved)])
        out = cv2.remap(self._avatar, self._backward_map(target), None, cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
        if self.options.mouth_interior:
            self._paint_mouth(out, moved)
        self._last = out
        return out

    # Motion.

    def moved_points(self, driving: np.ndarray) -> np.ndarray:
        """The avatar's landmarks moved as the driver moved since calibration: (478, 3) avatar pixels."""
        neutral, avatar = self._neutral, self._points
        s_p, r_p, t_p = similarity_3d(neutral[_RIGID], driving[_RIGID])  # the driver's head pose change
        expression = (r_p.T @ (driving - t_p).T).T / s_p - neutral  # in the neutral frame
        s_a, r_a, _ = similarity_3d(neutral[_RIGID], avatar[_RIGID])  # driver -> avatar frame and scale
        with_expression = avatar + s_a * (r_a @ expression.T).T
        turn = r_a @ r_p @ r_a.T
        shift = s_a * r_a @ (driving[_RIGID].mean(0) - neutral[_RIGID].mean(0))
        centre = self._rigid_centre
        return centre + s_p * (turn @ (with_expression - centre).T).T + shift

    def _rings(self) -> tuple[np.ndarray, np.ndarray]:
        """Control points beyond the face: a head ring, an outer ring, and the fixed border."""
        o, size = self.options, self.resolution
        oval = self._points[_FACE_OVAL, :2]
        centre = oval.mean(0)
        head = centre + o.head_ring * (oval - centre)
        outer = centre + o.outer_ring * (oval - centre)
        edge = np.linspace(0, size - 1, o.border_anchors + 1)
        border = np.array([(x, y) for x in edge for y in (0, size - 1)] +
                          [(x, y) for y in edge[1:-1] for x in (0, size - 1)], dtype=np.float64)
        inside = lambda p: p[(p >= 1).all(1) & (p <= size - 2).all(1)]  # noqa: E731
        head, outer = inside(head), inside(outer)
        follow = np.concatenate([np.ones(len(head)), np.full(len(outer), o.outer_follow), np.zeros(len(border))])
        return np.vstack([head, outer, border]), follow

    def _moved_rings(self, moved: np.ndarray) -> np.ndarray:
        affine = _affine_2d(self._points[_RIGID, :2], moved[_RIGID, :2])
        base = self._ring_base
        full = base @ affine[:, :2].T + affine[:, 2]
        return base + self._ring_follow[:, None] * (full - base)

    # Warp.

    def _backward_map(self, target: np.ndarray) -> np.ndarray:
        """Per output pixel, where to sample the avatar: each target triangle maps affinely to its source."""
        tri = self._triangles
        dst = np.concatenate([target[tri], np.ones((len(tri), 3, 1))], axis=2)  # (T, 3, 3)
        det = np.linalg.det(dst)
        ok = np.abs(det) > 1e-6
        affines = np.zeros((len(tri) + 1, 3, 2))
        affines[:-1][ok] = np.linalg.solve(dst[ok], self._source[tri][ok])  # degenerate triangles never drawn
        affines[-1] = [[1, 0], [0, 1], [0, 0]]  # pixels no triangle covers stay where they are
        ids = _rasterize(target[tri], ok, self.resolution)
        per_pixel = affines.astype(np.float32)[ids]  # (H, W, 3, 2)
        return np.einsum("hwk,hwkc->hwc", self._pixels, per_pixel)

    # Mouth.

    def _lip_gap(self, points: np.ndarray) -> float:
        return float(np.linalg.norm(points[_LIP_GAP[0], :2] - points[_LIP_GAP[1], :2]) / inter_ocular(points))

    def _paint_mouth(self, out: np.ndarray, moved: np.ndarray) -> None:
        """Where the mouth opens wider than the avatar's own: a shaded dark interior, the avatar's own teeth
        carried by the upper lip at their own size, and drawn teeth for an avatar whose mouth is closed."""
        opening = self._lip_gap(moved) - self._avatar_gap
        if opening <= 0.02:
            return
        strength = float(np.clip((opening - 0.02) / 0.06, 0, 1))
        upper, lower = moved[_UPPER_INNER_LIP, :2], moved[_LOWER_INNER_LIP, :2]
        polygon = np.vstack([upper, lower[::-1]])
        low = np.clip(np.floor(polygon.min(0)).astype(int) - 3, 0, self.resolution)
        high = np.clip(np.ceil(polygon.max(0)).astype(int) + 4, 0, self.resolution)
        if (high - low).min() < 2:
            return
        size = high - low
        mouth = _mask(polygon - low, size)
        gap = float(np.linalg.norm(moved[_LIP_GAP[0], :2] - moved[_LIP_GAP[1], :2]))
        # Interior: darkest deep inside, lighter towards the lips.
        depth = cv2.GaussianBlur(mouth, (0, 0), max(gap / 4, 1.0))
        interior = np.array(self.options.mouth_colour, np.float32) * (1.35 - 0.9 * depth[..., None])
        layer = interior
        if self._avatar_gap < 0.05:
            band = np.vstack([upper, (upper + [0, 0.28 * gap])[::-1]])
            teeth = _mask(band - low, size) * mouth
            shade = np.linspace(1.0, 0.82, size[1], dtype=np.float32)[:, None, None]
            teeth_rgb = np.array(self.options.teeth_colour, np.float32) * shade
            layer = layer * (1 - 0.9 * teeth[..., None]) + teeth_rgb * 0.9 * teeth[..., None]
        else:
            shift = (upper - self._points[_UPPER_INNER_LIP, :2]).mean(0)
            own_polygon = np.vstack([self._points[_UPPER_INNER_LIP, :2], self._points[_LOWER_INNER_LIP, :2][::-1]])
            own_mask = _mask(own_polygon + shift - low, size) * mouth
            # own[y, x] = avatar[y + low - shift]: the avatar's mouth moved with the upper lip, not stretched.
            source_of = np.float32([[1, 0, low[0] - shift[0]], [0, 1, low[1] - shift[1]]])
            own = cv2.warpAffine(self._avatar, source_of, (int(size[0]), int(size[1])),
                                 flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
            layer = layer * (1 - own_mask[..., None]) + own.astype(np.float32) * own_mask[..., None]
        alpha = (mouth * strength)[..., None]
        region = out[low[1]:high[1], low[0]:high[0]].astype(np.float32)
        out[low[1]:high[1], low[0]:high[0]] = np.clip(region * (1 - alpha) + layer * alpha, 0, 255).astype(np.uint8)

    def _landmarks(self, frame: DrivingFace) -> np.ndarray | None:
        if frame.landmarks is not None:
            scale = self.resolution / frame.image.shape[0]
            return frame.landmarks.astype(np.float64) * scale
        if self._frame_landmarker is None:
            self._frame_landmarker = FaceLandmarker(video=True)
        image = frame.image if frame.image.shape[0] == self.resolution else cv2.resize(
            frame.image, (self.resolution, self.resolution))
        faces = self._frame_landmarker.detect(image)
        return faces[0].astype(np.float64) if faces else None


def _rasterize(corners: np.ndarray, drawn: np.ndarray, size: int) -> np.ndarray:
    """Which triangle covers each pixel centre: (size, size) indices into ``corners`` (T, 3, 2), T for none.

    A scanline fill vectorised over every (triangle, row) pair: each row's span comes from where it crosses
    the triangle's edges. A handful of large numpy operations, not a drawing call per triangle, each of which
    would hand the GIL to the pipeline's other threads and wait to get it back.
    """
    count = len(corners)
    ids = np.full((size, size), count, dtype=np.int32)
    top = np.clip(np.ceil(corners[:, :, 1].min(1) - 1e-6), 0, size - 1).astype(np.int64)
    bottom = np.clip(np.floor(corners[:, :, 1].max(1) + 1e-6), 0, size - 1).astype(np.int64)
    rows = np.where(drawn, np.maximum(bottom - top + 1, 0), 0)
    owner = np.repeat(np.arange(count), rows)
    y = top[owner] + _ramp(rows)
    start, end = corners[owner], np.roll(corners[owner], -1, axis=1)  # the three edges of each row's triangle
    rise = end[:, :, 1] - start[:, :, 1]
    along = (y[:, None] - start[:, :, 1]) / np.where(rise == 0, np.inf, rise)
    crosses = (rise != 0) & (along >= -1e-9) & (along <= 1 + 1e-9)
    x = start[:, :, 0] + along * (end[:, :, 0] - start[:, :, 0])
    left = np.ceil(np.where(crosses, x, np.inf).min(1) - 1e-6)
    right = np.floor(np.where(crosses, x, -np.inf).max(1) + 1e-6)
    spans = np.isfinite(left) & np.isfinite(right)
    left = np.clip(np.where(spans, left, 0), 0, size - 1).astype(np.int64)
    right = np.clip(np.where(spans, right, -1), -1, size - 1).astype(np.int64)
    width = np.maximum(right - left + 1, 0)
    ids[np.repeat(y, width), np.repeat(left, width) + _ramp(width)] = np.repeat(owner, width)
    return ids


def _ramp(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., n-1 for each n in counts, concatenated."""
    return np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)


def _mask(polygon: np.ndarray, size: np.ndarray) -> np.ndarray:
    """A soft-edged (anti-aliased, lightly blurred) float mask of a polygon in a region of ``size`` (w, h)."""
    mask = np.zeros((int(size[1]), int(size[0])), np.float32)
    cv2.fillPoly(mask, [np.round(polygon * 16).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=4)
    return cv2.GaussianBlur(mask, (3, 3), 0.8)


def _triangulate(points: np.ndarray, size: int) -> np.ndarray:
    """Delaunay triangles over the control points, as (T, 3) indices into ``points``."""
    subdiv = cv2.Subdiv2D((-1, -1, size + 2, size + 2))
    index_of = {}
    for i, (x, y) in enumerate(points):
        key = (round(float(x), 3), round(float(y), 3))
        if key in index_of:
            continue
        index_of[key] = i
        subdiv.insert((float(x), float(y)))
    triangles = []
    for t in subdiv.getTriangleList().reshape(-1, 3, 2):
        keys = [(round(float(x), 3), round(float(y), 3)) for x, y in t]
        ids = [_nearest(index_of, points, k) for k in keys]
        if None not in ids:
            triangles.append(ids)
    return np.array(triangles, dtype=np.int64)


def _nearest(index_of: dict, points: np.ndarray, key: tuple[float, float]) -> int | None:
    if key in index_of:
        return index_of[key]
    # Subdiv2D stores float32 coordinates; match within a hair of a control point, never a virtual corner.
    distances = np.abs(points - key).sum(1)
    best = int(distances.argmin())
    return best if distances[best] < 1e-2 else None
