"""The engine a user chooses, declared once: the command line, the settings and the window all read it."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path

from core.errors import UserError, model_files

ENGINES = ("mesh", "fomm", "remote")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
MESH_RESOLUTIONS = (256, 512)
# How long an offline command (animate, bench) waits for a remote worker's answer to each frame before it fails:
# a CPU worker or a busy GPU may take seconds, and an offline output must be the worker's, never a stand-in's.
OFFLINE_REPLY_TIMEOUT = 30.0


@dataclass(frozen=True)
class EngineChoice:
    """What to animate with. ``engine`` None: FOMM if a checkpoint is given or found, else mesh.

    ``config``: a built-in name or a YAML path. ``device``: auto, cpu, cuda or cuda:N. ``precision``: auto is
    fp16 on CUDA and fp32 on the CPU. ``resolution`` is the mesh engine's warp grid (FOMM's comes from
    its config). ``remote``: a worker's pairing string or pairing file (engine ``remote``; given alone, it
    picks that engine); ``lossless`` sends frames to it as PNG instead of JPEG.
    """

    engine: str | None = None
    checkpoint: Path | None = None
    config: str = "vox-256"
    device: str = "auto"
    precision: str = "auto"
    relative: bool = True
    adapt_scale: bool = False
    resolution: int = 256
    remote: str = ""
    lossless: bool = False


# The command-line option of each choice, and which engines read it: the rest have no effect on that engine.
_OPTIONS = {"checkpoint": "--checkpoint", "config": "--config", "device": "--device", "precision": "--precision",
            "relative": "--absolute", "adapt_scale": "--adapt-scale", "resolution": "--resolution",
            "lossless": "--remote-lossless"}
USED_BY = {"mesh": {"resolution"},
           "fomm": {"checkpoint", "config", "device", "precision", "relative", "adapt_scale"},
           "remote": {"lossless", "resolution"}}  # the worker's own options decide its model; mesh is the fallback
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_device(device: str) -> None:
    """The device's spelling; whether CUDA is there is the FOMM engine's to say."""
    if not _DEVICE.fullmatch(device):
        raise UserError(f"--device {device}: unknown device", f"use {', '.join(DEVICES)} or cuda:N")


def check_choice(choice: EngineChoice) -> None:
    """Every option is checked whatever the engine: a typo is reported even where it would have no effect."""
    from core.engines.checkpoints import find_checkpoint
    from models.config import load_config

    if choice.engine is not None and choice.engine not in ENGINES:
        raise UserError(f"--engine {choice.engine}: unknown engine", f"use {' or '.join(ENGINES)}")
    check_device(choice.device)
    if choice.precision not in PRECISIONS:
        raise UserError(f"--precision {choice.precision}: unknown precision", f"use {', '.join(PRECISIONS)}")
    if choice.checkpoint is not None:
        find_checkpoint(choice.checkpoint)
    with model_files():
        load_config(choice.config)


def unused_options(choice: EngineChoice, engine: str) -> list[str]:
    """The options set away from their defaults that ``engine`` does not read, as the user typed them."""
    default = EngineChoice()
    return [_OPTIONS[f.name] for f in fields(EngineChoice) if f.name in _OPTIONS
            and getattr(choice, f.name) != getattr(default, f.name) and f.name not in USED_BY.get(engine, ())]
