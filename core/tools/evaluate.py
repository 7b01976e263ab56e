"""The paper's reconstruction benchmark: each test video rebuilt from its first frame by its own motion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.engines.choice import EngineChoice
from core.engines.fomm import FommEngine
from core.frames import DrivingFace
from core.tools.train import VideoFrames, load_training_config, read_frame


def evaluate(config: str | Path, checkpoint: Path, data: Path, device: str = "auto", progress: bool = True) -> dict:
    """Mean L1 (images in [0, 1]) between each test frame and its reconstruction from the video's first
    frame with the frame's own keypoints (absolute, as in the paper), beside the L1 of the still first frame."""
    _, _, params = load_training_config(config)
    test = VideoFrames(data, "test", params, augment=False)
    engine = FommEngine(EngineChoice(engine="fomm", config=str(config), device=device, precision="fp32",
                                     relative=False), checkpoint)
    reconstruction, still, frames = [], [], 0
    for video in tqdm(test.videos, unit="video", desc="evaluate", disable=None if progress else True):
        source = read_frame(video, 0, params.frame_size)
        engine.set_avatar(source)
        for index in range(test.frame_counts[video]):
            driving = read_frame(video, index, params.frame_size)
            prediction = engine.animate(DrivingFace(image=driving))
            reconstruction.append(_l1(prediction, driving))
            still.append(_l1(source, driving))
            frames += 1
    return {"videos": len(test.videos), "frames": frames, "l1": round(float(np.mean(reconstruction)), 6),
            "l1_still_source": round(float(np.mean(still)), 6), "checkpoint": str(checkpoint)}


def _l1(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean() / 255)
