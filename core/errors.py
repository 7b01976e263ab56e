"""The error a user can act on: shown as one ``error: ...`` line, or as a message in the window."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator


class UserError(ValueError):
    """Bad input or a missing piece the user can fix.

    ``reason`` names the file or value and what is wrong with it; ``advice`` says what to do (may be empty).
    ``str()`` joins them into the one line the command line prints.
    """

    def __init__(self, reason: str, advice: str = ""):
        super().__init__(f"{reason}; {advice}" if advice else reason)
        self.reason = reason
        self.advice = advice


@contextmanager
def model_files() -> Iterator[None]:
    """Checkpoint and config problems from ``models`` (which knows nothing of users) become UserErrors."""
    from models.checkpoint import CheckpointError
    from models.config import ConfigError

    try:
        yield
    except (CheckpointError, ConfigError) as exc:
        raise UserError(str(exc)) from None


def run_command(command: Callable[[], int]) -> int:
    """``command``'s exit status; where it raised a UserError, that one ``error: ...`` line on stderr and 2."""
    try:
        return command()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
