"""Atomic file writes: a destination holds its earlier content or the whole new one, never a part.

The new content is written to a temporary file beside the destination (same folder, so the same
file system), flushed to storage, and only then renamed over the destination (``os.replace``,
atomic on POSIX and Windows). On any exception, Ctrl-C included, the temporary file is removed.

:func:`replacing` is the one way to do this for any file (reports, checkpoints, JSON, ONNX);
raster outputs go through raster_io.atomic_output, which adds what a raster needs on top (a
read-back check, the ``.aux.xml`` sidecar, the space left, stale temporaries of killed runs) and
names its temporaries with the same :data:`TMP_MARK`. Standard library only: training and the
exporter import it without the engine's dependencies.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

TMP_MARK = ".s2o-tmp-"  # in the name of every temporary file the s2o tools write


@contextlib.contextmanager
def replacing(dst) -> Iterator[Path]:
    """Yield a temporary path beside ``dst`` for the caller to write (and close); when the block
    ends without an exception, sync it and move it over ``dst``; otherwise remove it and let the
    exception through. OSError from the sync or the rename propagates (the temporary removed)."""
    dst = Path(dst)
    tmp = dst.with_name(f".{dst.name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(3)}")
    try:
        yield tmp
        _sync(tmp)
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_text(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`replacing`)."""
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`replacing`)."""
    with replacing(path) as tmp:
        tmp.write_bytes(data)


def _sync(path: Path) -> None:
    """Push ``path``'s content to storage, so the rename never publishes a file the disk does
    not hold yet (delayed write errors surface here)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
