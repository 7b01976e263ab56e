"""Render the call picture for a few poses, before (the first build) and after (paste-back), and measure
sharpness: the variance of the Laplacian of the face region.

    python scripts/render_call_picture.py --avatar assets/avatars/astronaut.png \\
        --picture docs/call-picture-before-after.jpg --json bench/results/call-picture-sharpness.json

The driver is the avatar's own face with its 3-D landmarks edited (a head turn, a tilt, an open mouth):
no talking-head video can be fetched on the machines this was written on. "Before" is the first build's
call picture: the mesh engine's 256 crop scaled into a 720-pixel square over a blurred copy of itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.compose.canvas import compose_canvas  # noqa: E402
from core.compose.compositor import OutputSettings  # noqa: E402
from core.engines.mesh import MeshEngine, MeshOptions  # noqa: E402
from core.face.landmarks import FaceLandmarker  # noqa: E402
from core.frames import DrivingFace  # noqa: E402
from core.live.builder import prepare_avatar  # noqa: E402
from core.media.images import write_image  # noqa: E402
from core.errors import run_command  # noqa: E402


def turned(points: np.ndarray, yaw: float = 0, roll: float = 0) -> np.ndarray:
    """Landmarks of the head turned by ``yaw`` and tilted by ``roll`` degrees about its centre."""
    centre = points.mean(0)
    y, r = np.radians(yaw), np.radians(roll)
    yaw_m = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    roll_m = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return (points - centre) @ (roll_m @ yaw_m).T + centre


def mouth_open(points: np.ndarray, amount: float) -> np.ndarray:
    """The jaw dropped by ``amount`` inter-ocular distances (points below the mouth corners, hinged)."""
    out = points.copy()
    iod = np.linalg.norm(points[33, :2] - points[263, :2])
    corners = points[[61, 291], 1].mean()
    weight = np.clip((points[:, 1] - corners) / max(points[14, 1] - corners, 1.0), 0, 1)
    side = np.abs(points[:, 0] - points[14, 0]) / iod
    out[:, 1] += amount * iod * weight * np.clip(1.2 - 0.6 * side, 0.3, 1.0)
    return out


POSES = {"head turn": lambda p: turned(p, yaw=18), "wide mouth": lambda p: mouth_open(p, 0.45),
         "tilt": lambda p: turned(p, roll=12), "turn + talk": lambda p: mouth_open(turned(p, yaw=-12, roll=-6), 0.25)}


def sharpness(rgb: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--avatar", type=Path, default=Path("assets/avatars/astronaut.png"))
    parser.add_argument("--picture", type=Path, required=True)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    avatar, compositor = prepare_avatar(args.avatar, 256, output=OutputSettings())
    small = cv2.resize(avatar, (256, 256), interpolation=cv2.INTER_AREA)
    landmarker = FaceLandmarker(video=False)
    neutral = landmarker.detect(small)[0].astype(np.float64)
    landmarker.close()
    after_engine, before_engine = MeshEngine(MeshOptions(256)), MeshEngine(MeshOptions(256))
    after_engine.set_avatar(avatar)
    before_engine.set_avatar(small)
    for engine in (after_engine, before_engine):
        engine.calibrate(DrivingFace(image=small, landmarks=neutral))

    (ys, xs) = compositor._out  # the face region in the call picture
    rows, figures = [], {}
    for name, pose in POSES.items():
        face = DrivingFace(image=small, landmarks=pose(neutral))
        after = compositor.compose(after_engine.animate(face), blend=False)  # the mesh pins its border
        before = compose_canvas(before_engine.animate(face), compositor.size)
        figures[name] = {"after": round(sharpness(after[ys, xs]), 1)}
        # The first build's face filled the 720-pixel square: compare the same face area.
        side = compositor.size[1]
        x0 = (compositor.size[0] - side) // 2
        figures[name]["before"] = round(sharpness(before[:, x0:x0 + side][side // 6:side * 5 // 6,
                                                                          side // 6:side * 5 // 6]), 1)
        label = lambda image, text: cv2.putText(image.copy(), text, (24, 56), cv2.FONT_HERSHEY_SIMPLEX, 1.6,  # noqa: E731
                                                (255, 255, 255), 4, cv2.LINE_AA)
        rows.append(np.hstack([label(before, f"before: {name}"), label(after, f"after: {name}")]))
    portrait_face = round(sharpness(compositor.background[ys, xs]), 1)
    grid = np.vstack(rows)
    write_image(args.picture, cv2.resize(grid, (grid.shape[1] // 2, grid.shape[0] // 2), interpolation=cv2.INTER_AREA))
    result = {"avatar": str(args.avatar), "output_size": list(compositor.size), "face_side": compositor.face_side,
              "laplacian_variance_portrait_face": portrait_face, "poses": figures}
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
