"""``convert``: a .pth.tar checkpoint to .safetensors, read as tensors only."""

from __future__ import annotations

from pathlib import Path

from models.checkpoint import read_state_dicts, save_safetensors

from core.errors import UserError, model_files


def convert_checkpoint(checkpoint: Path, out: Path) -> None:
    """Write ``checkpoint``'s state dicts to ``out`` (which must end in .safetensors)."""
    if out.suffix != ".safetensors":
        raise UserError(f"{out}: the output name must end in .safetensors")
    with model_files():
        save_safetensors(read_state_dicts(checkpoint), out)
