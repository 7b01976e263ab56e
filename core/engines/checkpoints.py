"""Where FOMM checkpoints are found: a given path, else the ``checkpoints/`` folders Facade looks in."""

from __future__ import annotations

from pathlib import Path

from core.errors import UserError
from core.paths import ROOT, user_data_dir

CHECKPOINT_SUFFIXES = (".pth.tar", ".pth", ".safetensors")
# The adversarially fine-tuned vox checkpoint looks best on faces; prefer it when several are present.
_PREFERRED = ("vox-adv-cpk", "vox-cpk")

HOW_TO_GET_ONE = (
    "get vox-adv-cpk.pth.tar (published by the First Order Motion Model authors and the avatarify project), "
    "put it in a checkpoints/ folder next to Facade or in {user_dir}, or pass --checkpoint; "
    "until then the mesh engine works without one")


def user_checkpoint_dir() -> Path:
    """The per-user folder Facade searches for checkpoints."""
    return user_data_dir("checkpoints")


def search_dirs() -> list[Path]:
    return [Path.cwd() / "checkpoints", ROOT / "checkpoints", user_checkpoint_dir()]


def find_checkpoint(explicit: str | Path | None = None) -> Path | None:
    """The checkpoint to use: ``explicit`` (must exist) or the best one in the search folders, or None."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise UserError(f"{path}: checkpoint file not found")
        return path
    found = [p for d in search_dirs() if d.is_dir() for p in sorted(d.iterdir())
             if p.is_file() and p.name.endswith(CHECKPOINT_SUFFIXES)]
    if not found:
        return None
    return min(found, key=lambda p: next((i for i, n in enumerate(_PREFERRED) if p.name.startswith(n)),
                                         len(_PREFERRED)))


def missing_checkpoint() -> UserError:
    """The error (with how to get a checkpoint as its advice) for a FOMM engine with no checkpoint."""
    return UserError("no FOMM checkpoint found", HOW_TO_GET_ONE.format(user_dir=user_checkpoint_dir()))
