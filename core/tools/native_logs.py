"""Keeps the terminal for Facade's own messages: native libraries' start-up chatter is filtered out, and a
fatal error reaches both the terminal and the crash log.

mediapipe and TensorFlow Lite write to file descriptor 2 from C++ threads and buffered C streams, past any
Python logging setting. ``route_native_stderr`` sends descriptor 2 through a pipe whose reader drops those
lines and passes the rest on; Python's own ``sys.stderr`` keeps a direct line to the terminal.

Where the platform can fork, the reader is a process of its own: a fatal error ("Fatal Python error: ...")
aborts this process at once, and a reader thread in it would die before passing those last lines on.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
from pathlib import Path

_NOISE = re.compile(rb"^(?:[IW]0000 |INFO: Created TensorFlow Lite|WARNING: All log messages before absl)")
_FATAL = b"Fatal Python error"


def route_native_stderr(drop_noise: bool = True, fatal_log: Path | None = None) -> None:
    """Call once, at start-up, before any thread starts, in a command-line process (never under a test runner
    that captures fds). ``fatal_log``: where a fatal error and what follows it are also appended."""
    try:
        terminal = os.dup(2)
        read_end, write_end = os.pipe()
    except OSError:
        return
    sys.stderr.flush()
    sys.stderr = os.fdopen(os.dup(terminal), "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",
                           errors="backslashreplace")
    reader = (read_end, terminal, drop_noise, fatal_log)
    if hasattr(os, "fork"):
        if os.fork() == 0:
            os.close(write_end)
            # Ctrl+C and hang-ups are for the app: the reader stays until the app's last write end closes.
            for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(number, signal.SIG_IGN)
            _forward(*reader)
            os._exit(0)
        os.close(read_end)
        os.close(terminal)  # the reader process has its own
    else:
        threading.Thread(target=_forward, args=reader, name="native-stderr", daemon=True).start()
    os.dup2(write_end, 2)
    os.close(write_end)


def _forward(read_end: int, terminal: int, drop_noise: bool, fatal_log: Path | None) -> None:
    log = None
    with os.fdopen(read_end, "rb") as lines:
        for line in lines:
            if drop_noise and _NOISE.match(line):
                continue
            try:
                os.write(terminal, line)
            except OSError:  # the terminal went away; keep draining so the app never blocks on a full pipe
                pass
            if fatal_log is not None and (log is not None or line.startswith(_FATAL)):
                try:
                    log = log or open(fatal_log, "ab")
                    log.write(line)
                    log.flush()
                except OSError:
                    fatal_log = None
