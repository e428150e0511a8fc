"""Keeping the resident memory of a long streaming run flat.

A translation allocates and frees the same few window-sized buffers (a few MB each) in three
threads for every tile. glibc's allocator raises its mmap threshold after the first large buffer
is freed, so later buffers come from the heaps of the threads' arenas; freed space there stays
resident and fragments, and the resident set kept growing with the number of tiles
(benchmarks/bench_memory.py shows the engine with and without this step).

:func:`release_freed_memory` hands the free pages of every arena back to the operating system
(glibc's ``malloc_trim(0)``); the engine calls it after writing each batch of tiles, from its
writer thread, so it overlaps with the model. It only returns pages nobody uses: no live buffer
moves, and it is safe in a host process such as QGIS. Where the C library is not glibc (Windows,
macOS, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


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


def release_freed_memory() -> bool:
    """Return freed heap pages to the operating system; True when glibc did it here."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
