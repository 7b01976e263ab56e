"""Train FOMM from nothing on a synthetic set, on the CPU, and evaluate it against a still source.

    python scripts/train_sprites.py --out /tmp/sprites --steps 600 --json bench/results/train-sprites.json

Run it again with the same --out to train on from the checkpoint it wrote.

The set: textured sprites (a random blurred colour texture in a random ellipse) on a textured background,
moving by random similarities (shift, turn, scale) over 16 frames, 64x64; 48 videos to train on, 8 held out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.tools.evaluate import evaluate  # noqa: E402
from core.tools.train import TrainRun, train  # noqa: E402
from core.errors import run_command  # noqa: E402
from models.config import config_path  # noqa: E402

# The shipped tiny-cpu config, so the measurement in bench/results is of the file the README offers.
CONFIG = yaml.safe_load(config_path("tiny-cpu").read_text(encoding="utf-8"))
SIZE, FRAMES = CONFIG["dataset_params"]["frame_shape"][0], 16


def texture(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    noise = rng.random((size, size, 3)).astype(np.float32)
    return (cv2.GaussianBlur(noise, (0, 0), scale) * 255 * rng.uniform(0.6, 1.4, 3)).clip(0, 255).astype(np.uint8)


def sprite_video(rng: np.random.Generator, folder: Path) -> None:
    folder.mkdir(parents=True)
    background = cv2.normalize(texture(rng, SIZE, 6), None, 40, 140, cv2.NORM_MINMAX)
    sprite = cv2.normalize(texture(rng, SIZE, 2), None, 60, 255, cv2.NORM_MINMAX)
    mask = np.zeros((SIZE, SIZE), np.float32)
    cv2.ellipse(mask, (SIZE // 2, SIZE // 2), (int(rng.integers(12, 20)), int(rng.integers(8, 16))),
                float(rng.uniform(0, 180)), 0, 360, 1.0, -1, cv2.LINE_AA)
    start, end = rng.normal(0, 1, 4), rng.normal(0, 1, 4)
    for i in range(FRAMES):
        dx, dy, angle, scale = start + (end - start) * i / (FRAMES - 1)
        m = cv2.getRotationMatrix2D((SIZE / 2, SIZE / 2), 25 * angle, 1 + 0.12 * scale)
        m[:, 2] += (8 * dx, 8 * dy)
        moved_sprite = cv2.warpAffine(sprite, m, (SIZE, SIZE), borderMode=cv2.BORDER_REFLECT)
        alpha = cv2.warpAffine(mask, m, (SIZE, SIZE))[..., None]
        frame = (moved_sprite * alpha + background * (1 - alpha)).astype(np.uint8)
        cv2.imwrite(str(folder / f"{i:06d}.png"), frame)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    data = args.out / "data"
    for split, count in (("train", 48), ("test", 8)):
        for v in range(count):
            if not (data / split / f"sprite{v:03d}").exists():
                sprite_video(rng, data / split / f"sprite{v:03d}")
    config = "tiny-cpu"
    model = args.out / "sprites.pth.tar"
    started = time.monotonic()
    resumed = model.exists()  # a second run goes on from the first one's checkpoint
    losses = train(TrainRun(config, data, model, checkpoint=model if resumed else None, max_steps=args.steps,
                            device="cpu"))
    seconds = time.monotonic() - started
    report = evaluate(config, model, data, device="cpu")
    result = {"steps": args.steps, "resumed": resumed, "batch_size": CONFIG["train_params"]["batch_size"], "train_seconds": round(seconds, 1),
              "steps_per_second": round(args.steps / seconds, 3), "last_losses": {k: round(v, 4) for k, v in losses.items()},
              **report, "config": CONFIG, "machine": "AMD EPYC, 2 cores, no GPU"}
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
