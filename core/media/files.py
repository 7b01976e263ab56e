"""Small files written whole: a crash or a full disk leaves the old file or none, never half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from core.errors import UserError


def write_text_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it, renamed into place when complete."""
    try:
        handle, partial = tempfile.mkstemp(prefix=".facade-", suffix=".partial", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
            os.replace(partial, path)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise UserError(f"{path}: cannot write ({exc.strerror or exc})") from None


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
