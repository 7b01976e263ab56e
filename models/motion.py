"""How a driving face moves the avatar: relative keypoint motion (paper, section 3.4)."""

from __future__ import annotations

import numpy as np
import torch


def convex_hull_area(points: np.ndarray) -> float:
    """Area of the 2-D convex hull of (N, 2) points (Andrew's monotone chain, then the shoelace formula)."""
    pts = sorted(map(tuple, np.asarray(points, dtype=np.float64)))
    if len(pts) < 3:
        return 0.0

    def half(seq):
        hull: list[tuple] = []
        for p in seq:
            while len(hull) >= 2 and _cross(hull[-2], hull[-1], p) <= 0:
                hull.pop()
            hull.append(p)
        return hull[:-1]

    hull = np.array(half(pts) + half(reversed(pts)))
    x, y = hull[:, 0], hull[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _cross(o, a, b) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def movement_scale(kp_source: dict, kp_driving_initial: dict) -> float:
    """sqrt(area(hull(ks))) / sqrt(area(hull(kd0))): matches the driver's face size to the avatar's."""
    source_area = convex_hull_area(kp_source["value"][0].float().cpu().numpy())
    driving_area = convex_hull_area(kp_driving_initial["value"][0].float().cpu().numpy())
    return float(np.sqrt(source_area) / np.sqrt(driving_area)) if driving_area > 0 else 1.0


def relative_keypoints(kp_source: dict, kp_driving: dict, kp_driving_initial: dict,
                       scale: float = 1.0) -> dict:
    """kn = ks + (kd - kd0) * scale;  Jn = (J(kd) inverse(J(kd0))) J(ks)."""
    out = {"value": kp_source["value"] + (kp_driving["value"] - kp_driving_initial["value"]) * scale}
    if "jacobian" in kp_driving:
        change = kp_driving["jacobian"] @ torch.inverse(kp_driving_initial["jacobian"])
        out["jacobian"] = change @ kp_source["jacobian"]
    return out


def strengthened(kp_driving: dict, kp_driving_initial: dict, head: torch.Tensor, expressions: torch.Tensor) -> dict:
    """The driving keypoints with their motion from kd0 scaled, per item of the batch (``head`` and
    ``expressions``: (B,) tensors, 1 leaves the motion as it is, 0 takes it away).

    The keypoints' common motion, their mean's shift and the rotation and scale of their best 2-D similarity
    (the head moving in the picture's plane and leaning in), is scaled by ``head``: the shift, the angle and
    the scale's logarithm. What the similarity leaves over (expressions, and the perspective of a head that
    turns away from the picture's plane) is scaled by ``expressions``. A Jacobian's change from kd0 splits
    alike into the similarity's linear part and the rest, which moves linearly towards the identity.
    """
    dtype = kp_driving["value"].dtype
    kd, k0 = kp_driving["value"].float(), kp_driving_initial["value"].float()
    head, expressions = head.float().view(-1, 1, 1), expressions.float().view(-1, 1, 1)
    c0, cd = k0.mean(1, keepdim=True), kd.mean(1, keepdim=True)
    a, b = k0 - c0, kd - cd
    along = (a * b).sum((1, 2))
    across = (a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]).sum(1)
    angle, size = torch.atan2(across, along), torch.hypot(along, across) / (a ** 2).sum((1, 2)).clamp_min(1e-12)
    linear = _turn(angle) * size.view(-1, 1, 1)  # (B, 2, 2): b ~ a @ linear.T
    scaled = _turn(angle * head.view(-1)) * size.view(-1, 1, 1) ** head
    value = c0 + head * (cd - c0) + a @ scaled.transpose(1, 2) + expressions * (b - a @ linear.transpose(1, 2))
    out = {"value": value.to(dtype)}
    if "jacobian" in kp_driving:
        j0 = kp_driving_initial["jacobian"].float()
        rest = torch.linalg.solve(linear[:, None], kp_driving["jacobian"].float() @ torch.inverse(j0))
        eye = torch.eye(2, device=rest.device)
        change = scaled[:, None] @ (eye + expressions[..., None] * (rest - eye))
        out["jacobian"] = (change @ j0).to(dtype)
    return out


def _turn(angle: torch.Tensor) -> torch.Tensor:
    """(B, 2, 2) rotations by ``angle`` (B,) radians."""
    cos, sin = torch.cos(angle), torch.sin(angle)
    return torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
