"""Memory the process no longer uses goes back to the system.

glibc keeps freed heap memory for reuse. Large arrays of sizes it has not seen before (a new avatar's warp
maps and compositing layers, a new output size, Qt's buffers for a full-screen view) fragment that heap, and
the window's resident memory crept up by about 2 MB with each such change, for as long as the call lasted.
``release_free_memory`` hands what is free back; it took about a millisecond in the running window, so the
pipeline calls it every few seconds (a fixed mmap threshold, the other cure, cost a third more CPU time per
frame).

Trimming alone did not hold it: glibc gives each thread that allocates a heap (an arena) of its own, up to
eight per core, and the window's threads (capture, engine, outputs, NDI, mediapipe's, Qt's) each fragmented
theirs. With every control used for 30 minutes the window grew 307 MB; on importing this module the process
keeps HEAP_ARENAS heaps, which the threads share (12-minute soaks side by side: +340 MB with glibc's default,
+124 MB with two, at the same frame rate).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

TRIM_SECONDS = 10.0  # how often the pipeline gives free memory back
HEAP_ARENAS = 2  # glibc heaps the threads share
_M_ARENA_MAX = -8  # mallopt's parameter (malloc.h)


def _glibc():
    if not sys.platform.startswith("linux"):
        return None  # other allocators return freed memory themselves
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim, libc.mallopt  # noqa: B018 (looked up: musl has neither)
    except (OSError, AttributeError):
        return None
    return libc


_GLIBC = _glibc()
if _GLIBC is not None:
    _GLIBC.mallopt(_M_ARENA_MAX, HEAP_ARENAS)  # before the pipeline's threads make heaps of their own


def release_free_memory() -> None:
    """Give the heap's free memory back to the system (glibc; elsewhere nothing to do)."""
    if _GLIBC is not None:
        _GLIBC.malloc_trim(0)
