"""Keeping the resident memory of a long streaming run flat.

A translation allocates and frees the same few window-sized buffers (a few MB each) in three
threads for every tile. glibc's allocator raises its mmap threshold after the first large buffer
is freed, so later buffers come from the heaps of the threads' arenas; freed space there stays
resident and fragments, and the resident set kept growing with the number of tiles
(benchmarks/bench_memory.py shows the engine with and without this step).

:func:`release_freed_memory` hands the free pages of every arena back to the operating system
(glibc's ``malloc_trim(0)``); the engine calls it after writing a batch of tiles, from its
writer thread, so it overlaps with the model, and at most every ``TRIM_EVERY_S`` seconds: a trim
costs a few milliseconds, which would matter beside a model that runs a tile in as little (GPU).
It only returns pages nobody uses: no live buffer moves, and it is safe in a host process such
as QGIS. Where the C library is not glibc (Windows, macOS, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading
import time

TRIM_EVERY_S = 0.5
_last_trim = {"at": float("-inf")}
_lock = threading.Lock()


@functools.cache
def _malloc_trim():
    """glibc's malloc_trim, or None where the C library has none."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_freed_memory(every_s: float = 0.0) -> bool:
    """Return freed heap pages to the operating system, unless it was done less than ``every_s``
    seconds ago (in this process); True when glibc did it now."""
    trim = _malloc_trim()
    if trim is None:
        return False
    with _lock:
        now = time.monotonic()
        if now - _last_trim["at"] < every_s:
            return False
        _last_trim["at"] = now
    trim(0)
    return True
