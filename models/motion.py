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
