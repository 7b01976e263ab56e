"""Building the engine a user asked for: FOMM when a checkpoint is given or found, else mesh."""

from __future__ import annotations

from typing import Callable

from core.engines.base import Engine
from core.engines.checkpoints import find_checkpoint, missing_checkpoint
from core.engines.choice import OFFLINE_REPLY_TIMEOUT, EngineChoice, check_choice
from core.errors import UserError


def create_engine(choice: EngineChoice, allow_random_weights: bool = False,
                  on_link: Callable[[bool, str], None] | None = None) -> Engine:
    """The engine for ``choice``; a FOMM without a checkpoint is an error unless random weights are allowed.
    ``on_link(problem, text)``: the remote engine says when it falls back to the local one and back. Without
    it (an offline command, which nobody would tell) there is no fallback: each answer is awaited up to
    OFFLINE_REPLY_TIMEOUT and one that does not come is an error."""
    check_choice(choice)
    if choice.engine in (None, "remote") and choice.remote:
        return _remote_engine(choice, on_link)
    checkpoint = find_checkpoint(choice.checkpoint) if choice.engine in (None, "fomm") else None
    name = choice.engine or ("fomm" if checkpoint else "mesh")
    if name == "fomm":
        if checkpoint is None and not allow_random_weights:
            raise missing_checkpoint()
        from core.engines.fomm import FommEngine

        return FommEngine(choice, checkpoint, profile=allow_random_weights)
    if name == "mesh":
        from core.engines.mesh import MeshEngine, MeshOptions

        return MeshEngine(MeshOptions(resolution=choice.resolution))
    raise UserError("the remote engine needs a worker's pairing string (--remote)",
                    "the line `python main.py serve` printed on the worker")


def _remote_engine(choice: EngineChoice, on_link) -> Engine:
    from core.engines.remote import RemoteEngine
    from core.link.pairing import parse_pairing

    pairing = parse_pairing(choice.remote)
    if on_link is None:
        return RemoteEngine(pairing, None, choice.lossless, reply_timeout=OFFLINE_REPLY_TIMEOUT)
    from core.engines.mesh import MeshEngine, MeshOptions

    return RemoteEngine(pairing, MeshEngine(MeshOptions(resolution=choice.resolution)), choice.lossless,
                        on_event=on_link)


def cpu_fallback(failed: Engine, error: Exception) -> Engine | None:
    """After a CUDA failure (out of memory, a lost device), the mesh engine on the CPU carries on."""
    text = f"{type(error).__name__}: {error}"
    if failed.device.startswith("cuda") and ("CUDA" in text or "cuda" in text or "OutOfMemory" in text):
        from core.engines.mesh import MeshEngine

        return MeshEngine()
    return None
