"""Engines behind one contract (``base.Engine``): ``fomm`` (the neural model) and ``mesh`` (landmark warp)."""

from __future__ import annotations

from .base import Engine, FrameFeatures

ENGINES = ("mesh", "fomm")

__all__ = ["ENGINES", "Engine", "FrameFeatures"]
