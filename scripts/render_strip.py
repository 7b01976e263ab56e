"""A strip of driver and avatar side by side at chosen frames of a real clip, to look at what a call would see.

    python scripts/render_strip.py --driving CLIP --avatar assets/avatars/astronaut.png \
        --frames 0,150,264,312,408 --out strip.png [--zoom-mouth]

Top row: the driver's aligned face crop (the middle of the camera frame where no face was taken); bottom row:
the engine's face, as it goes into the call picture. ``--zoom-mouth`` adds the avatar's mouth and jaw at 3x.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.engines import EngineChoice, create_engine  # noqa: E402
from core.live.builder import prepare_avatar  # noqa: E402
from core.media.video_io import open_clip  # noqa: E402
from core.tools.animate import aligned_faces, call_frames, neutral_of_clip  # noqa: E402
from core.errors import run_command  # noqa: E402

_TILE = 256


def _square(rgb: np.ndarray) -> np.ndarray:
    side = min(rgb.shape[:2])
    top, left = (rgb.shape[0] - side) // 2, (rgb.shape[1] - side) // 2
    return rgb[top:top + side, left:left + side]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driving", type=Path, required=True)
    parser.add_argument("--avatar", type=Path, required=True)
    parser.add_argument("--frames", required=True, help="comma-separated frame indices")
    parser.add_argument("--engine", default="mesh")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--zoom-mouth", action="store_true")
    parser.add_argument("--calibrate", choices=("neutral", "first"), default="neutral",
                        help="as animate's: the clip's most neutral face, or its first")
    args = parser.parse_args()

    wanted = sorted(int(i) for i in args.frames.split(","))
    engine = create_engine(EngineChoice(engine=args.engine))
    clip = open_clip(args.driving)
    avatar, _ = prepare_avatar(args.avatar, engine.resolution)  # the face crop at the portrait's own detail
    drivers: dict[int, np.ndarray] = {}

    raw: list[np.ndarray] = []

    def frames():
        for rgb in clip.frames():
            raw[:] = [rgb]
            yield rgb

    def faces():
        for index, face in enumerate(aligned_faces(frames(), engine.resolution, clip.fps)):
            if index in wanted:  # the face crop, or the whole frame where no face was taken
                drivers[index] = face.image if face is not None else _square(raw[0])
            yield face
            if index >= wanted[-1]:
                return

    found = neutral_of_clip(clip, engine.resolution) if args.calibrate == "neutral" else None
    rows: list[list[np.ndarray]] = [[], [], []]
    for index, picture in enumerate(call_frames(engine, avatar, faces(), fps=clip.fps, neutral=found and found[1])):
        if index not in wanted:
            continue
        tile = cv2.resize(picture, (_TILE, _TILE), interpolation=cv2.INTER_AREA)
        driver = cv2.resize(drivers[index], (_TILE, _TILE), interpolation=cv2.INTER_AREA)
        cv2.putText(driver, str(index), (6, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 0), 2)
        rows[0].append(driver)
        rows[1].append(tile)
        side = picture.shape[0]  # the mouth and jaw: the lower middle of the face crop, at 3x
        mouth = picture[int(side * 0.55):int(side * 0.88), int(side * 0.3):int(side * 0.7)]
        rows[2].append(cv2.resize(mouth, (_TILE, int(_TILE * mouth.shape[0] / mouth.shape[1])),
                                  interpolation=cv2.INTER_CUBIC))
    strip = np.vstack([np.hstack(row) for row in rows[:3 if args.zoom_mouth else 2]])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out}: frames {wanted}" + (f", neutral pose from frames {found[0]} (eyes, mouth)" if found else ""))
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
