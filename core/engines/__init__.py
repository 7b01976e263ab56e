"""Engines behind one contract (``base.Engine``): ``fomm`` (the neural model) and ``mesh`` (landmark warp)."""

from core.engines.base import Engine
from core.engines.choice import EngineChoice
from core.engines.factory import create_engine, cpu_fallback

__all__ = ["Engine", "EngineChoice", "create_engine", "cpu_fallback"]
