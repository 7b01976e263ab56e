"""Memory the process no longer uses goes back to the system.

glibc keeps freed heap memory for reuse. Large arrays of sizes it has not seen before (a new avatar's warp
maps and compositing layers, a new output size, Qt's buffers for a full-screen view) fragment that heap, and
the window's resident memory crept up by about 2 MB with each such change, for as long as the call lasted.
``release_free_memory`` hands what is free back; it took about a millisecond in the running window, so the
pipeline calls it every few seconds (a fixed mmap threshold, the other cure, cost a third more CPU time per
frame).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

TRIM_SECONDS = 10.0  # how often the pipeline gives free memory back


def _trim():
    if not sys.platform.startswith("linux"):
        return None  # other allocators return freed memory themselves
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None


_MALLOC_TRIM = _trim()


def release_free_memory() -> None:
    """Give the heap's free memory back to the system (glibc; elsewhere nothing to do)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
