"""``convert``: a .pth.tar checkpoint to .safetensors, read as tensors only."""

from __future__ import annotations

from pathlib import Path

from models.checkpoint import read_state_dicts, save_safetensors

from core.errors import UserError, model_files
from core.media.files import write_binary_file
from core.media.video_io import check_not_an_input, check_output_file


def convert_checkpoint(checkpoint: Path, out: Path) -> None:
    """Write ``checkpoint``'s state dicts to ``out`` (which must end in .safetensors), whole or not at all."""
    if out.suffix != ".safetensors":
        raise UserError(f"{out}: the output name must end in .safetensors")
    check_output_file(out)
    check_not_an_input(out, checkpoint)
    with model_files():
        state = read_state_dicts(checkpoint)
    write_binary_file(out, lambda file: save_safetensors(state, file))
