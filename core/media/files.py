"""Small files written whole: a crash or a full disk leaves the old file or none, never half of one."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from core.errors import UserError


def write_text_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it, renamed into place when complete."""
    with written_whole(path) as partial:
        partial.write_text(text, encoding="utf-8")


def ensure_folder(folder: Path, what: str) -> Path:
    """``folder``, created if missing; ``what`` names it in the error (``recordings folder``)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{folder}: cannot use as the {what} ({exc.strerror or exc})",
                        "choose another folder in Settings") from None
    if not os.access(folder, os.W_OK):
        raise UserError(f"{folder}: the {what} is not writable", "choose another folder in Settings")
    return folder


@contextmanager
def written_whole(path: Path) -> Iterator[Path]:
    """A partial path beside ``path`` to write to; renamed over ``path`` only if the block completes.
    A failure to write (a full disk, a missing folder) is a UserError naming ``path``."""
    partial = None
    try:
        handle, name = tempfile.mkstemp(prefix=".facade-", suffix=".partial", dir=path.parent)
        os.close(handle)
        partial = Path(name)
        yield partial
        os.replace(partial, path)
    except OSError as exc:
        raise UserError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        if partial is not None:
            partial.unlink(missing_ok=True)
