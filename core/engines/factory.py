"""Building the engine a user asked for: FOMM when a checkpoint is given or found, else mesh."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..checkpoints import find_checkpoint, missing_checkpoint_message
from ..errors import UserError
from .base import Engine


@dataclass(frozen=True)
class EngineChoice:
    """What the command line or the window asks for. ``engine`` None: FOMM if a checkpoint is found."""

    engine: str | None = None
    checkpoint: Path | None = None
    config: str = "vox-256"
    device: str = "auto"
    precision: str = "auto"
    relative: bool = True
    adapt_scale: bool = False
    resolution: int = 256  # the mesh engine's output size; FOMM's comes from its config


def create_engine(choice: EngineChoice, allow_random_weights: bool = False) -> Engine:
    """The engine for ``choice``; a FOMM without a checkpoint is an error unless random weights are allowed."""
    checkpoint = find_checkpoint(choice.checkpoint) if choice.engine in (None, "fomm") else None
    name = choice.engine or ("fomm" if checkpoint else "mesh")
    if name == "fomm":
        if checkpoint is None and not allow_random_weights:
            raise UserError(missing_checkpoint_message())
        from .fomm import FommEngine, FommOptions

        return FommEngine(FommOptions(checkpoint=checkpoint, config=choice.config, device=choice.device,
                                      precision=choice.precision, relative=choice.relative,
                                      adapt_scale=choice.adapt_scale), profile=allow_random_weights)
    if name == "mesh":
        from .mesh import MeshEngine, MeshOptions

        return MeshEngine(MeshOptions(resolution=choice.resolution))
    raise UserError(f"--engine {name}: unknown engine (use mesh or fomm)")


def cpu_fallback(failed: Engine, error: Exception) -> Engine | None:
    """After a CUDA failure (out of memory, a lost device), the mesh engine on the CPU carries on."""
    text = f"{type(error).__name__}: {error}"
    if failed.device.startswith("cuda") and ("CUDA" in text or "cuda" in text or "OutOfMemory" in text):
        from .mesh import MeshEngine

        return MeshEngine()
    return None
