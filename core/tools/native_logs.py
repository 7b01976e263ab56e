"""Keeps the terminal for Facade's own messages: native libraries' start-up chatter is filtered out.

mediapipe and TensorFlow Lite write to file descriptor 2 from C++ threads and buffered C streams, past any
Python logging setting. ``filter_native_stderr`` sends descriptor 2 through a pipe whose reader drops those
lines and passes the rest on; Python's own ``sys.stderr`` keeps a direct line to the terminal.
"""

from __future__ import annotations

import os
import re
import sys
import threading

_NOISE = re.compile(rb"^(?:[IW]0000 |INFO: Created TensorFlow Lite|WARNING: All log messages before absl)")


def filter_native_stderr() -> None:
    """Call once, at start-up, in a command-line process (never under a test runner that captures fds)."""
    try:
        terminal = os.dup(2)
        read_end, write_end = os.pipe()
    except OSError:
        return
    sys.stderr.flush()
    sys.stderr = os.fdopen(os.dup(terminal), "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",
                           errors="backslashreplace")
    os.dup2(write_end, 2)
    os.close(write_end)
    threading.Thread(target=_forward, args=(read_end, terminal), name="native-stderr", daemon=True).start()


def _forward(read_end: int, terminal: int) -> None:
    with os.fdopen(read_end, "rb") as lines:
        for line in lines:
            if not _NOISE.match(line):
                os.write(terminal, line)
