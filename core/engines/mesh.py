"""The mesh engine: first-order motion with face-mesh landmarks as keypoints and no learned weights.

The driver's motion since calibration splits into a rigid head pose (3-D similarity fitted on landmarks that
expressions do not move) and a few expressions (``core.face.expression``: the jaw, lips, mouth corners,
eyelids and brows), read on the driver's face and played on the avatar's in its own proportions; then the
avatar's landmarks turn with the head. Rings around the face follow the head, fixed anchors hold the
image border, and a piecewise-affine backward warp over their triangulation moves the avatar's pixels.
The warp is solved on a grid of ``resolution`` and applied to the avatar at its own size (the backward
map upsampled, which also smooths the triangle boundaries), so a large avatar comes out as sharp as it
went in. A mouth opened wider than the avatar's own gets a dark interior and teeth.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from core.engines.strength import MotionStrength
from core.errors import UserError
from core.face.avatar import NO_FACE_ADVICE_MESH
from core.face.expression import ExpressionRig
from core.face.landmarks import EYE_OUTLINES, FaceLandmarker, eye_opening, inter_ocular
from core.face.pose import RIGID as _RIGID, head_pose, head_rotation, into_pose, turn_angles
from core.frames import DrivingFace

_FACE_OVAL = np.array([10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
                       152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109])
_UPPER_INNER_LIP = np.array([78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308])
_LOWER_INNER_LIP = np.array([78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308])
# How far a row of teeth shows from its lip, at most: (a fraction of the lips' gap, of the mouth's width).
_UPPER_TEETH, _LOWER_TEETH = (0.45, 0.11), (0.22, 0.06)
_INTERIOR_TINT = np.array([0.6, 0.35, 0.35], np.float32)  # a mouth's inside is its lips' colour, redder and darker
_OUTER_LIPS = np.array([61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146])
_LIP_GAP = (13, 14)
_IDENTITY_AFFINE = np.array([[1, 0], [0, 1], [0, 0]])  # [x y 1] @ it = (x, y)
_MAP_SMOOTHING = 1.0  # grid pixels: anti-aliases fold edges, leaves affine (smooth) regions unchanged
_LASH_LINE_LIFT = 0.4  # of an eye's opening: how far above the mesh's upper lid a portrait draws its lash line


@dataclass(frozen=True)
class MeshOptions:
    resolution: int = 256  # the grid the warp is solved on; the output has the avatar's own size
    head_ring: float = 1.3  # ring around the face (hair, ears), scaled from the face oval; moves with the head
    outer_ring: float = 1.9  # ring that moves half as much: the neck and hair ends blend into a still background
    outer_follow: float = 0.5
    jaw_follow: float = 0.8  # the head ring follows the jaw's opening this much, the outer ring half: so does the neck
    neck_follow: float = 0.25  # below the chin the rings follow the head this much: the body holds the neck
    # A nod is drawn up to about this many degrees, then eases off (see _eased_nod).
    nod_limit: float = 6.0
    # The face's depth a turn is drawn with, of its own: a warp turns a face by stretching its picture, and with the
    # whole depth the nose slid over the cheek and the far cheek's outline tore into steps at 30 degrees.
    turn_depth: float = 0.5
    border_anchors: int = 8  # fixed points per image side
    mouth_interior: bool = True
    teeth_colour: tuple[int, int, int] = (236, 232, 222)  # drawn teeth, for an avatar whose mouth is closed


def _similarity_2d(src: np.ndarray, dst: np.ndarray, scales: tuple[float, float] = (0.85, 1.15)
                   ) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares (s, R, t) with dst ~ s R src + t for (N, 2) points, the scale held within ``scales``."""
    a, b = src - src.mean(0), dst - dst.mean(0)
    along, across = (a * b).sum(), (a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).sum()  # the closed form in 2-D
    angle = np.arctan2(across, along)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    scale = float(np.clip(np.hypot(along, across) / max((a ** 2).sum(), 1e-12), *scales))
    return scale, rotation, dst.mean(0) - scale * rotation @ src.mean(0)


def _eased_nod(rotation: np.ndarray, limit: float) -> np.ndarray:
    """``rotation`` with its pitch (the nod, about the image's x axis) eased off softly beyond ``limit`` degrees.

    A warp can only stretch the picture it has: a head nodded 15 degrees is drawn squashed from above, with no
    forehead coming forward and no chin going under, and a face model read that squash as another person
    (identity distance 0.27-0.33 on such frames, 0.09-0.15 within 5 degrees, on real footage)."""
    yaw, pitch, roll = turn_angles(rotation)
    limit = np.radians(limit)
    return head_rotation(yaw, limit * np.tanh(pitch / limit), roll)


def _affine_2d(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares 2x3 affine with dst ~ A [src, 1]."""
    homogeneous = np.hstack([src, np.ones((len(src), 1))])
    solution, *_ = np.linalg.lstsq(homogeneous, dst, rcond=None)
    return solution.T


class MeshEngine:
    """Landmark-driven warp behind the engine contract; runs on the CPU and renders at the avatar's size."""

    name = "mesh"
    device = "cpu"
    pinned_border = True  # the warp's border anchors never move
    needs_avatar_face = True  # it moves the face mesh it finds: a picture without a face cannot be animated
    calibrates_from_landmarks = True  # the neutral pose is the driver's landmarks; the picture is not read

    def __init__(self, options: MeshOptions = MeshOptions()):
        self.options = options
        self.resolution = options.resolution
        self._image_landmarker = FaceLandmarker(video=False, max_faces=4)
        self._frame_landmarker: FaceLandmarker | None = None  # only for frames that come without landmarks
        self._avatar: np.ndarray | None = None
        self._neutral: np.ndarray | None = None
        self._driver_rig: ExpressionRig | None = None  # the driver's expressions, on the neutral face
        self.motion = MotionStrength()
        size = self.resolution
        ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
        self._pixels = np.stack([xs, ys, np.ones_like(xs)], axis=-1)  # homogeneous pixel coordinates
        self._last: np.ndarray | None = None

    # The contract.

    def set_avatar(self, rgb: np.ndarray) -> None:
        full = np.ascontiguousarray(rgb)
        rgb = full if full.shape[0] == self.resolution else cv2.resize(
            full, (self.resolution, self.resolution), interpolation=cv2.INTER_AREA)
        faces = self._image_landmarker.detect(rgb)
        if not faces:
            raise UserError("the mesh engine needs a face in the avatar, and none was found in it", NO_FACE_ADVICE_MESH)
        self._avatar = full
        self._scale = full.shape[0] / self.resolution  # output pixels per grid pixel
        ys, xs = np.mgrid[0:full.shape[0], 0:full.shape[0]].astype(np.float32)
        self._identity = np.dstack([xs, ys])  # each avatar pixel's own position: the map where nothing moves
        self._last = full
        self._last_motion: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (moved, target, depth)
        self._points = faces[0].astype(np.float64)
        self._avatar_rig = ExpressionRig(self._points)
        self._rigid_centre = self._points[_RIGID].mean(0)
        self._ring_base, self._ring_follow, self._ring_jaw, self._ring_oval = self._rings()
        self._source = np.vstack([self._points[:, :2], self._ring_base])
        self._triangles = _triangulate(self._source, self.resolution)
        self._avatar_gap = self._lip_gap(self._points)
        self._lip_rgb = self._lip_colour()  # the interior is shaded from it: the avatar's own colours
        self._lids = [_lid_colours(full, (self._points[outline, :2] + 0.5) * self._scale - 0.5)
                      for outline in EYE_OUTLINES]

    def calibrate(self, frame: DrivingFace) -> None:
        landmarks = self._landmarks(frame)
        if landmarks is not None:
            self._set_neutral(landmarks)

    def animate(self, frame: DrivingFace) -> np.ndarray:
        if self._avatar is None:
            raise RuntimeError("set_avatar must be called before animate")
        landmarks = self._landmarks(frame)
        if landmarks is None:
            return self._last
        if self._neutral is None:
            self._set_neutral(landmarks)
        expression = self._avatar_rig.play(self.expressions(landmarks))
        moved = self._posed(landmarks, self._points + expression)
        outline = (moved - self._posed(landmarks, self._points))[_FACE_OVAL, :2]  # what the jaw did to it
        rings = self._moved_rings(moved, outline)
        target = np.vstack([moved[:, :2], rings])
        # Rings lie behind the face: where a turn folds the cheek over them, the face is drawn on top.
        depth = np.concatenate([moved[:, 2], np.full(len(rings), moved[:, 2].max() + 1)])
        self._last_motion = (moved, target, depth)
        self._last = self._render(moved, target, depth)
        return self._last

    def ease(self, weight: float) -> np.ndarray:
        """The last animated picture with its motion eased towards the avatar at rest (0: at rest, 1: as it
        was): the face slides back into place, where a cross-fade of two pictures would show both at once."""
        if self._last_motion is None or weight <= 0:
            return self._avatar
        moved, target, depth = self._last_motion
        return self._render(self._points + weight * (moved - self._points),
                            self._source + weight * (target - self._source), depth)

    def _render(self, moved: np.ndarray, target: np.ndarray, depth: np.ndarray) -> np.ndarray:
        # Cubic, not bilinear: bilinear sampling at sub-pixel offsets took 57% of a painted portrait's
        # Laplacian variance on a head tilt, cubic 37%, for about a millisecond more at a 531-pixel face.
        out = cv2.remap(self._avatar, self._backward_map(target, depth), None, cv2.INTER_CUBIC,
                        borderMode=cv2.BORDER_REPLICATE)
        self._paint_lids(out, moved)
        if self.options.mouth_interior:
            self._paint_mouth(out, moved)
        return out

    def close(self) -> None:
        self._image_landmarker.close()
        if self._frame_landmarker is not None:
            self._frame_landmarker.close()

    # Motion.

    def set_motion(self, strength: MotionStrength) -> None:
        self.motion = strength

    def _set_neutral(self, landmarks: np.ndarray) -> None:
        self._neutral = landmarks
        self._driver_rig = ExpressionRig(landmarks)

    def expressions(self, driving: np.ndarray) -> np.ndarray:
        """The driver's expressions since calibration (``core.face.expression.EXPRESSIONS``), times the
        expression strength."""
        return self.motion.expressions * self._driver_rig.read(into_pose(self._neutral, driving) - self._neutral)

    def moved_points(self, driving: np.ndarray) -> np.ndarray:
        """The avatar's landmarks moved as the driver moved since calibration: (478, 3) avatar pixels."""
        return self._posed(driving, self._points + self._avatar_rig.play(self.expressions(driving)))

    def _posed(self, driving: np.ndarray, points: np.ndarray) -> np.ndarray:
        """``points`` (in the avatar's frame) turned and moved as the driver's head has since calibration, drawn
        with ``turn_depth`` of the face's depth."""
        neutral, avatar = self._neutral, self._points
        s_p, r_p, _ = head_pose(neutral, driving)  # the driver's head pose change
        s_p, r_p, moved = self.motion.head_motion(s_p, r_p, driving[_RIGID].mean(0) - neutral[_RIGID].mean(0))
        r_p = _eased_nod(r_p, self.options.nod_limit)
        s_a, r_a, _ = head_pose(neutral, avatar)  # driver -> avatar frame and scale
        turn = r_a @ r_p @ r_a.T
        shift = s_a * r_a @ moved
        centre = self._rigid_centre
        return centre + s_p * (turn @ ((points - centre) * [1, 1, self.options.turn_depth]).T).T + shift

    def _rings(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Control points beyond the face: a head ring, an outer ring, and the fixed border; how much each follows
        the head and the jaw, and which outline point each ring point lies beyond (-1: the border)."""
        o, size = self.options, self.resolution
        oval = self._points[_FACE_OVAL, :2]
        centre = oval.mean(0)
        head = centre + o.head_ring * (oval - centre)
        outer = centre + o.outer_ring * (oval - centre)
        edge = np.linspace(0, size - 1, o.border_anchors + 1)
        border = np.array([(x, y) for x in edge for y in (0, size - 1)] +
                          [(x, y) for y in edge[1:-1] for x in (0, size - 1)], dtype=np.float64)
        inside = lambda p: (p >= 1).all(1) & (p <= size - 2).all(1)  # noqa: E731
        keep_head, keep_outer = inside(head), inside(outer)
        head, outer = head[keep_head], outer[keep_outer]
        # Below the chin the rings lie on the neck, which the body holds: a head that moves or rolls there carried a
        # block of collar along and stretched a straight seam under it; the neck now gives from the chin down.
        low = self._below_mouth(oval)
        follow = np.concatenate([1 - (1 - o.neck_follow) * low[keep_head],
                                 o.outer_follow * (1 - (1 - o.neck_follow) * low[keep_outer]), np.zeros(len(border))])
        jaw = np.concatenate([np.full(len(head), o.jaw_follow), np.full(len(outer), o.jaw_follow / 2),
                              np.zeros(len(border))])
        ids = np.arange(len(_FACE_OVAL))
        oval_of = np.concatenate([ids[keep_head], ids[keep_outer], np.full(len(border), -1)])
        return np.vstack([head, outer, border]), follow, jaw, oval_of

    def _below_mouth(self, oval: np.ndarray) -> np.ndarray:
        """Per outline point, 0 above the mouth's corners to 1 at the chin, smoothly, along the face's own axis."""
        frame = self._avatar_rig.frame
        y = frame.to_face(oval)[:, 1]
        corners, chin = frame.to_face(self._points[[61, 291], :2])[:, 1].mean(), frame.to_face(self._points[152, :2])[1]
        t = np.clip((y - corners) / max(chin - corners, 1e-6), 0, 1)
        return t * t * (3 - 2 * t)

    def _moved_rings(self, moved: np.ndarray, outline: np.ndarray) -> np.ndarray:
        """The rings moved with the head, and beyond the jaw's outline with the jaw (``outline``: how far the
        expressions moved each outline point)."""
        affine = _affine_2d(self._points[_RIGID, :2], moved[_RIGID, :2])
        base = self._ring_base
        full = base @ affine[:, :2].T + affine[:, 2]
        jaw = np.where((self._ring_oval >= 0)[:, None], outline[self._ring_oval], 0.0)
        return base + self._ring_follow[:, None] * (full - base) + self._ring_jaw[:, None] * jaw

    # Warp.

    def _backward_map(self, target: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Per avatar pixel, where to sample the avatar: each target triangle maps affinely to its source.

        Triangles are drawn far to near (``depth`` per point, larger is farther), so a fold shows the near one.
        The map is solved on the grid as a displacement, smoothed, and upsampled to the avatar's size: an
        affine map stays as it is, but where a turn folds triangles over each other the map jumps from one
        pixel to the next, and that jump drawn pixel by pixel is a stair-step edge.
        """
        displacement, moving = self._grid_displacement(target, depth)
        smoothed = cv2.GaussianBlur(displacement, (0, 0), _MAP_SMOOTHING, borderType=cv2.BORDER_REPLICATE)
        smoothed *= moving[..., None]  # what stands still stays exactly still
        if self._scale == 1:
            return cv2.add(self._identity, smoothed)
        side = self._avatar.shape[0]
        upsampled = cv2.resize(smoothed * np.float32(self._scale), (side, side), interpolation=cv2.INTER_LINEAR)
        return cv2.add(self._identity, upsampled)

    def _grid_displacement(self, target: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, 2) grid-pixel offsets from each grid pixel to where it samples the avatar, and (H, W) 1 where
        they move (0 where nothing does: no triangle, one whose corners all stay put, the fixed border)."""
        tri = self._triangles[np.argsort(-depth[self._triangles].mean(1), kind="stable")]
        corners = target[tri]
        (x0, x1, x2), (y0, y1, y2) = corners[..., 0].T, corners[..., 1].T
        # Each triangle's affine from target to source, [x y 1] @ A = source, by the 3x3 adjugate: one
        # vectorised expression for every triangle instead of a batched LAPACK solve.
        det = x0 * (y1 - y2) + x1 * (y2 - y0) + x2 * (y0 - y1)
        ok = np.abs(det) > 1e-6  # degenerate triangles are never drawn
        adjugate = np.stack([np.stack([y1 - y2, y2 - y0, y0 - y1], -1), np.stack([x2 - x1, x0 - x2, x1 - x0], -1),
                             np.stack([x1 * y2 - x2 * y1, x2 * y0 - x0 * y2, x0 * y1 - x1 * y0], -1)], 1)
        offsets = np.zeros((len(tri) + 1, 3, 2))
        offsets[:-1][ok] = (np.einsum("tij,tjc->tic", adjugate[ok], self._source[tri][ok]) / det[ok, None, None]
                            - _IDENTITY_AFFINE)
        still = np.append(np.abs(corners - self._source[tri]).max((1, 2)) < 1e-3, True)  # the last: no triangle
        offsets[still] = 0
        ids = _rasterize(corners, ok, self.resolution)
        displacement = np.einsum("hwk,hwkc->hwc", self._pixels, offsets.astype(np.float32)[ids])
        return displacement, (np.abs(displacement).max(-1) >= 1e-3).astype(np.float32)

    # Eyes.

    def _paint_lids(self, out: np.ndarray, moved: np.ndarray) -> None:
        """Over an eye closed more than 60 % (wholly from 95 %): its lid, in the skin colour around that eye, and
        the lashes where the lids meet. Warped alone a shut eye was a dark slit: on a portrait the face mesh puts
        the upper lid a pixel or two inside the lash line, and what lies between (lashes, the iris's top) came
        down with the lid, where a real lid covers it."""
        k = self._scale
        for outline, (rest_opening, skin, lashes) in zip(EYE_OUTLINES, self._lids):
            points = (moved[outline, :2] + 0.5) * k - 0.5
            width = float(np.linalg.norm(points[0] - points[8]))
            if width < 2 or rest_opening <= 0:
                continue
            closure = 1 - eye_opening(points) / rest_opening
            alpha = float(np.clip((closure - 0.6) / 0.35, 0, 1))
            if alpha <= 0:
                continue
            alpha = alpha * alpha * (3 - 2 * alpha)
            across = (points[8] - points[0]) / width
            up = np.array([across[1], -across[0]])
            up = up if up[1] < 0 else -up
            # The lid covers what the eye showed at rest up to its lash line, which a portrait draws a little above
            # the mesh's upper lid and which stays about where it was while the lid's edge comes down.
            along = np.sin(np.linspace(0, np.pi, 9))[1:8]
            lid = points.copy()
            lid[1:8] += ((closure + _LASH_LINE_LIFT) * rest_opening * width) * along[:, None] * up
            pad = int(np.ceil(rest_opening * width)) + 3  # room for the soft edge
            low = np.clip(np.floor(lid.min(0)).astype(int) - pad, 0, out.shape[1::-1])
            high = np.clip(np.ceil(lid.max(0)).astype(int) + pad, 0, out.shape[1::-1])
            if (high - low).min() < 2:
                continue
            size = high - low
            mask = cv2.GaussianBlur(_mask(lid - low, size), (0, 0), max(0.25 * rest_opening * width, 0.5))
            lash = np.zeros((int(size[1]), int(size[0])), np.float32)
            meeting = _smooth_curve(np.vstack([points[8:], points[:1]]))  # where the shut lids meet
            cv2.polylines(lash, [np.round((meeting - low) * 16).astype(np.int32)], False, 1.0,
                          max(1, int(round(0.15 * rest_opening * width))), cv2.LINE_AA, shift=4)
            lash = cv2.GaussianBlur(lash, (3, 3), 0.6)
            rows = np.linspace(0, 1, int(size[1]), dtype=np.float32)[:, None, None]
            layer = skin * (1.0 - 0.12 * rows)  # a lid is lit from above and shaded towards the lashes
            region = out[low[1]:high[1], low[0]:high[0]].astype(np.float32)
            region = region * (1 - alpha * mask[..., None]) + layer * alpha * mask[..., None]
            region = region * (1 - 0.9 * alpha * lash[..., None]) + lashes * 0.9 * alpha * lash[..., None]
            out[low[1]:high[1], low[0]:high[0]] = np.clip(region, 0, 255).astype(np.uint8)

    # Mouth.

    def _lip_gap(self, points: np.ndarray) -> float:
        return float(np.linalg.norm(points[_LIP_GAP[0], :2] - points[_LIP_GAP[1], :2]) / inter_ocular(points))

    def _lip_colour(self) -> np.ndarray:
        """The mean colour of the avatar's lips (between their outer and inner outlines), float32 RGB."""
        k = self._scale
        to_out = lambda p: (p + 0.5) * k - 0.5  # noqa: E731
        side = np.array([self._avatar.shape[1], self._avatar.shape[0]])
        lips = _mask(to_out(self._points[_OUTER_LIPS, :2]), side)
        inner = np.vstack([self._points[_UPPER_INNER_LIP, :2], self._points[_LOWER_INNER_LIP[::-1], :2]])
        lips = np.clip(lips - _mask(to_out(inner), side), 0, 1)
        if lips.sum() < 1:
            return np.array([150, 70, 70], np.float32)
        return (self._avatar.astype(np.float32) * lips[..., None]).sum((0, 1)) / lips.sum()

    def _paint_mouth(self, out: np.ndarray, moved: np.ndarray) -> None:
        """Where the mouth opens wider than the avatar's own: an interior shaded in the avatar's lip colour
        (darkest at the back, lit towards the lips, soft-edged), and teeth that go with the lips: the avatar's
        own, its upper row hanging from the upper lip as far as teeth reach and its lower row carried by the
        lower lip, or, for an avatar whose mouth is closed, drawn rows that narrow and darken towards the corners
        as real teeth recede."""
        opening = self._lip_gap(moved) - self._avatar_gap
        if opening <= 0.02:
            return
        strength = float(np.clip((opening - 0.02) / 0.06, 0, 1))
        k, side = self._scale, out.shape[0]  # the mouth is drawn in output pixels
        to_out = lambda p: (p + 0.5) * k - 0.5  # noqa: E731
        upper, lower = to_out(moved[_UPPER_INNER_LIP, :2]), to_out(moved[_LOWER_INNER_LIP, :2])
        polygon = np.vstack([upper, lower[::-1]])
        low = np.clip(np.floor(polygon.min(0)).astype(int) - 3, 0, side)
        high = np.clip(np.ceil(polygon.max(0)).astype(int) + 4, 0, side)
        if (high - low).min() < 2:
            return
        size = high - low
        mouth = _mask(polygon - low, size)
        gap = float(np.linalg.norm(moved[_LIP_GAP[0], :2] - moved[_LIP_GAP[1], :2])) * k
        width = float(np.linalg.norm(upper[-1] - upper[0]))
        depth = cv2.GaussianBlur(mouth, (0, 0), max(gap / 3, 1.0))  # 1 deep inside, falling towards the lips
        # The tongue lies low in the mouth: the lower part of the interior is lit, the back under the palate dark.
        rows = (np.arange(int(size[1]), dtype=np.float32) + low[1] - upper[:, 1].mean()) / max(gap, 1.0)
        tongue = np.clip(rows - 0.55, 0, 0.45)[:, None, None]
        layer = self._lip_rgb * _INTERIOR_TINT * (1.0 - 0.6 * depth[..., None] + 1.5 * tongue)
        if self._avatar_gap < 0.05:
            layer = self._drawn_teeth(layer, upper, lower, low, size, gap, width, mouth)
        else:
            own_upper = to_out(self._points[_UPPER_INNER_LIP, :2])
            own_lower = to_out(self._points[_LOWER_INNER_LIP, :2])
            middle = (own_upper + own_lower) / 2
            # The upper row hangs from the upper lip as far as teeth reach (as drawn teeth do), its own sliver
            # stretched down to it: held at the sliver a portrait's parted lips show, a laugh's upper teeth were a
            # thin line over a wide dark band.
            scale, rotation, _ = _similarity_2d(own_upper, upper)
            down = rotation @ np.array([0.0, 1.0])
            reach = _teeth_reach(upper, gap, width, _UPPER_TEETH)
            own_height = np.linalg.norm(middle - own_upper, axis=1) * scale
            edge = upper + np.maximum(own_height, reach)[:, None] * down
            edge[:, 1] = np.minimum(edge[:, 1], np.maximum(lower[:, 1], upper[:, 1]))
            own = cv2.remap(self._avatar, _strip_map((own_upper, middle), (upper, edge), low, size), None,
                            cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            own_mask = _mask(np.vstack([upper, edge[::-1]]) - low, size) * mouth
            layer = layer * (1 - own_mask[..., None]) + own.astype(np.float32) * own_mask[..., None]
            # The lower row goes where the lower lip went: moved, turned with a tilted head, and scaled a little
            # with a wider mouth, never stretched out of shape.
            scale, rotation, shift = _similarity_2d(own_lower, lower)
            own_mask = _mask((np.vstack([own_lower, middle[::-1]]) @ rotation.T) * scale + shift - low, size) * mouth
            inverse = rotation.T / scale  # own[y, x] = avatar at the similarity's inverse of (x, y) + low
            source_of = np.hstack([inverse, (inverse @ (low - shift))[:, None]]).astype(np.float32)
            own = cv2.warpAffine(self._avatar, source_of, (int(size[0]), int(size[1])),
                                 flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
            layer = layer * (1 - own_mask[..., None]) + own.astype(np.float32) * own_mask[..., None]
        alpha = (mouth * strength)[..., None]
        region = out[low[1]:high[1], low[0]:high[0]].astype(np.float32)
        out[low[1]:high[1], low[0]:high[0]] = np.clip(region * (1 - alpha) + layer * alpha, 0, 255).astype(np.uint8)

    def _drawn_teeth(self, layer: np.ndarray, upper: np.ndarray, lower: np.ndarray, low: np.ndarray,
                     size: np.ndarray, gap: float, width: float, mouth: np.ndarray) -> np.ndarray:
        """Rows of teeth under the upper lip and over the lower one, following each lip's curve."""
        centre = (upper[0, 0] + upper[-1, 0]) / 2
        xs = np.arange(int(size[0]), dtype=np.float32) + low[0]
        recede = 1 - 0.45 * np.clip(np.abs(xs - centre) / max(width / 2, 1), 0, 1) ** 2  # darker to the corners
        colour = np.array(self.options.teeth_colour, np.float32)
        for lip, row, direction, light in ((upper, _UPPER_TEETH, 1, 1.0), (lower, _LOWER_TEETH, -1, 0.8)):
            edge = lip + np.column_stack([np.zeros(len(lip)), direction * _teeth_reach(lip, gap, width, row)])
            band = _mask(np.vstack([lip, edge[::-1]]) - low, size) * mouth
            teeth = colour * light * recede[None, :, None]
            layer = layer * (1 - 0.95 * band[..., None]) + teeth * 0.95 * band[..., None]
        return layer

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


def _smooth_curve(points: np.ndarray, rounds: int = 2) -> np.ndarray:
    """Chaikin's corner cutting of an open polyline: the same curve without its corners, ends kept."""
    for _ in range(rounds):
        a, b = points[:-1], points[1:]
        cut = np.stack([0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b], axis=1).reshape(-1, 2)
        points = np.vstack([points[:1], cut, points[-1:]])
    return points


def _lid_colours(avatar: np.ndarray, outline: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """An eye at rest (its outline in ``avatar`` pixels): its opening over its width, the colour of the skin
    around it (the median of the brighter half of a ring an opening wide: not brows, lashes, creases nor a
    drawing's outlines) and of its lashes (the darkest of its rim), float32 RGB."""
    ratio = eye_opening(outline)
    opening = ratio * float(np.linalg.norm(outline[8] - outline[0]))  # in pixels
    side = np.array([avatar.shape[1], avatar.shape[0]])
    eye = _mask(outline, side) > 0.5
    grow = lambda r: cv2.dilate(eye.astype(np.uint8), cv2.getStructuringElement(  # noqa: E731
        cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))).astype(bool)
    near, ring = grow(max(1, round(0.4 * opening))), grow(max(2, round(1.5 * opening)))
    pixels = avatar[ring & ~near].astype(np.float32)
    rim = avatar[near & ~eye].astype(np.float32)
    if len(pixels) < 4 or len(rim) < 4:
        return 0.0, np.zeros(3, np.float32), np.zeros(3, np.float32)
    light, dark = pixels.mean(1), rim.mean(1)
    skin = np.median(pixels[light >= np.median(light)], axis=0)
    lashes = rim[dark <= np.percentile(dark, 5)].mean(0)
    return ratio, skin, lashes


def _rasterize(corners: np.ndarray, drawn: np.ndarray, size: int) -> np.ndarray:
    """Which triangle covers each pixel centre: (size, size) indices into ``corners`` (T, 3, 2), T for none;
    where triangles overlap, the later one (numpy keeps the last of repeated assignments).

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


def _teeth_reach(lip: np.ndarray, gap: float, width: float, row: tuple[float, float]) -> np.ndarray:
    """How far a row of teeth shows from its lip at each lip point (output pixels): at most ``row``'s fractions of
    the lips' gap and of the mouth's width, shorter towards the corners."""
    centre = (lip[0, 0] + lip[-1, 0]) / 2
    taper = 1 - 0.6 * np.clip(np.abs(lip[:, 0] - centre) / max(width / 2, 1), 0, 1) ** 2
    return taper * min(row[0] * gap, row[1] * width)


def _strip_map(source: tuple[np.ndarray, np.ndarray], target: tuple[np.ndarray, np.ndarray], low: np.ndarray,
               size: np.ndarray) -> np.ndarray:
    """A remap map for a region (``size`` (w, h) at ``low``) that draws the strip between two source curves (top
    and bottom, as many points each) between two target curves, affinely triangle by triangle."""
    (s_top, s_bottom), (d_top, d_bottom) = source, target
    width, height = int(size[0]), int(size[1])
    label = np.zeros((height, width), np.uint8)  # which triangle each pixel is drawn from, 1-based
    affines = []
    for i in range(len(s_top) - 1):
        s_quad = np.array([s_top[i], s_top[i + 1], s_bottom[i + 1], s_bottom[i]], np.float32)
        d_quad = (np.array([d_top[i], d_top[i + 1], d_bottom[i + 1], d_bottom[i]]) - low).astype(np.float32)
        for corners in ([0, 1, 2], [0, 2, 3]):
            d = d_quad[corners]
            if abs(np.cross(d[1] - d[0], d[2] - d[0])) < 1e-3:
                continue  # at a corner of the mouth the strip is no wider than a point
            affines.append(cv2.getAffineTransform(d, s_quad[corners]))
            polygon = np.round(d * 16).astype(np.int32)
            cv2.fillConvexPoly(label, polygon, len(affines), shift=4)
            cv2.polylines(label, [polygon], True, len(affines), thickness=2, shift=4)  # under the soft mask's edge
    if not affines:
        return np.zeros((height, width, 2), np.float32)
    a = np.array(affines, np.float32)[np.maximum(label.astype(np.int64) - 1, 0)]  # (h, w, 2, 3)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return (a[..., 0] * xs[..., None] + a[..., 1] * ys[..., None] + a[..., 2]).astype(np.float32)


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
