"""Files written whole, files of names of their own: a crash or a full disk leaves the old file or none, never
half of one, and nothing the user made is replaced by accident."""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from core.errors import UserError


def write_text_file(path: Path, text: str, private: bool = False) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it, renamed into place when complete.
    ``private``: readable by the user alone (0600), for files that hold a key."""
    with written_whole(path, private) as partial:
        partial.write_text(text, encoding="utf-8")


def write_binary_file(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """``write(file)`` into ``path``, whole or not at all (see ``written_whole``). A writer that reports a failed
    write in words of its own (torch.save's RuntimeError "unexpected pos 64 vs 0" on a full disk) has the
    OSError underneath raised instead, so the error line says what went wrong."""
    with written_whole(path) as partial, partial.open("wb") as file:
        kept = _KeepsWriteErrors(file)
        try:
            write(kept)
        except OSError:
            raise
        except Exception:
            if kept.error is not None:
                raise kept.error from None
            raise


class _KeepsWriteErrors:
    """A binary file that remembers the OSError of a failed write."""

    def __init__(self, file: BinaryIO):
        self.file, self.error = file, None

    def write(self, data) -> int:
        try:
            return self.file.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.file.flush()


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
def written_whole(path: Path, private: bool = False) -> Iterator[Path]:
    """A partial path beside ``path`` to write to; renamed over ``path`` only if the block completes.
    A symbolic link at ``path`` is kept: its target is what gets replaced. The file's mode follows the
    umask, or is 0600 if ``private``. A failure to write (a full disk, a missing folder) is a UserError
    naming ``path``."""
    partial = None
    target = write_target(path)
    try:
        partial = hidden_sibling(target, ".partial", private=private)
        yield partial
        os.replace(partial, target)
    except OSError as exc:
        raise UserError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        if partial is not None:
            partial.unlink(missing_ok=True)


def write_target(path: Path) -> Path:
    """The file that writing ``path`` should change: a symbolic link's target (renaming a new file over the
    link itself would replace the link with a copy and leave its target stale), else ``path``."""
    return path.resolve() if path.is_symlink() else path


def hidden_sibling(path: Path, suffix: str, folder: bool = False, private: bool = False) -> Path:
    """A new, empty file (or folder) of a unique hidden name beside ``path``, to be renamed over it when
    complete. Its mode follows the umask, as anything else the user makes (``tempfile`` would make it 0600
    whatever the umask); ``private``: the user's alone. Short and fixed-length, so that a long (valid)
    output name still leaves room for it. Raises OSError."""
    while True:
        candidate = path.parent / f".facade-{secrets.token_hex(4)}{suffix}"
        try:
            if folder:
                os.mkdir(candidate, 0o700 if private else 0o777)
            else:
                os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666))
            return candidate
        except FileExistsError:
            continue


def free_name(path: Path) -> Path:
    """``path`` if nothing is there, else the first free ``NAME (2).ext``, ``NAME (3).ext``, ..."""
    candidate, n = path, 1
    while os.path.lexists(candidate):
        n += 1
        candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
    return candidate


def claim_free_name(path: Path) -> Path:
    """``free_name(path)``, created empty at once (mode per the umask) so that no other writer can take it
    meanwhile. Raises OSError."""
    while True:
        candidate = free_name(path)
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return candidate
        except FileExistsError:
            continue
