"""The engine a user chooses, declared once: the command line, the settings and the window all read it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ENGINES = ("mesh", "fomm", "remote")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
BUILTIN_CONFIGS = ("vox-256", "taichi-256", "mgif-256")
MESH_RESOLUTIONS = (256, 512)


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
