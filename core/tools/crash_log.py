"""A fatal error is never silent: it is written to a crash log in the user's folder, and the next start of the
window finds the log and says where it is.

Two writers share the log: faulthandler, for the signals that kill a process (a segmentation fault, an abort
in native code), and the stderr reader of ``native_logs``, for Python's own fatal errors ("Fatal Python error:
none_dealloc"), which Python writes to stderr after switching faulthandler off.
"""

from __future__ import annotations

import faulthandler
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from core.paths import user_data_dir

_LOG_NAME = "crash.log"
_open_log = None  # faulthandler writes to this file's descriptor: it must stay open for the whole session


@dataclass(frozen=True)
class PreviousCrash:
    """The last session died of a fatal error; what it wrote as it died is in ``log``."""

    log: Path

    def describe(self) -> str:
        return f"The last session crashed. What it wrote as it died is in {self.log}"


def _folder(folder: Path | None) -> Path:
    return folder or user_data_dir("logs")


def keep_previous_crash(folder: Path | None = None) -> PreviousCrash | None:
    """The previous session's crash, if it left one, kept under a dated name so this session starts afresh."""
    log = _folder(folder) / _LOG_NAME
    try:
        if not (log.is_file() and log.stat().st_size > 0):
            return None
        kept = log.with_name(f"crash {datetime.fromtimestamp(log.stat().st_mtime):%Y-%m-%d %H-%M-%S}.log")
        log.replace(kept)
    except OSError:
        return None
    return PreviousCrash(kept)


def watch_for_crashes(folder: Path | None = None) -> Path | None:
    """From now on, a fatal signal writes every thread's stack to the crash log; returns the log's path (for
    the stderr reader to add Python's fatal errors), or None where it cannot be written."""
    global _open_log
    log = _folder(folder) / _LOG_NAME
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        _open_log = open(log, "a", encoding="utf-8")
    except OSError:  # a read-only home must not stop the app; the terminal still gets the message
        return None
    faulthandler.enable(_open_log, all_threads=True)
    return log
