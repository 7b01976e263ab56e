"""Starting helper programs (ffmpeg) safely from a process full of threads.

Facade's engine threads run BLAS (OpenBLAS, oneDNN) while a recording starts. A plain ``fork`` runs the
libraries' ``pthread_atfork`` handlers, and OpenBLAS's handler shuts its thread pool down: with another
thread inside a BLAS call, the two wait on each other for good (the "Record froze the avatar" bug, which
imageio-ffmpeg's ``preexec_fn=os.setpgrp`` triggered). ``spawn`` never passes Python code to the child, so
CPython starts it with ``vfork``, which runs no fork handlers, and puts it in its own process group so a
Ctrl+C meant for Facade does not kill an encoder that is still finishing a file.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile


def spawn(args: list[str]) -> subprocess.Popen:
    """Start ``args`` with a pipe on stdin and its stderr kept in a temporary file (``stderr_text``)."""
    options: dict = {}
    if sys.platform == "win32":
        options["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW
    else:
        options["process_group"] = 0
    errors = tempfile.TemporaryFile()
    process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors,
                               close_fds=True, **options)
    process.error_log = errors
    return process


def stderr_text(process: subprocess.Popen) -> str:
    """What the process wrote to stderr so far."""
    log = process.error_log
    log.flush()
    log.seek(0)
    return log.read().decode("utf-8", "replace")
