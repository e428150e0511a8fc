"""Termination signals as exceptions, so that a killed run still removes its temporary output.

Python turns SIGINT (Ctrl-C) into KeyboardInterrupt, which unwinds the stack and lets
raster_io.atomic_output remove the half-written file; SIGTERM (``kill``, a job scheduler, a
closing service) and SIGHUP (a closed terminal or SSH session) end the process at once by default
and leave it behind. Inside :func:`termination_raises`, those two raise
:class:`errors.Interrupted` (a KeyboardInterrupt) in the main thread instead, so they are handled
like Ctrl-C. Handlers are only set where the signal still has its default action and only from
the main thread (the only one Python delivers signals to): a host with its own handler (QGIS, a
server) keeps it, and a run in a worker thread (the QGIS dialog) changes nothing. A second signal
while the first is being handled is ignored, so the clean-up is not cut short. The previous
handlers are back when the block ends.

A signal can strike inside a C extension's callback that swallows the exception ("Exception
ignored in ..."), and the run then fails later for what looks like another reason. So the block
also notes every signal it sees (Ctrl-C too, which keeps Python's KeyboardInterrupt), and
:func:`received` tells the caller that a failure inside the block followed one: it is reported
as the interruption, not as a bug. A lost exception can also leave the run going as if
nothing had happened (the signal is ignored from then on, so a second one would not help either):
:func:`raise_if_received`, called between batches and once more before the finished output
replaces the destination, raises the interruption again, so the run still stops and the
destination keeps what it had.

SIGKILL cannot be caught: what it leaves is removed by the next run in that folder
(raster_io.remove_stale_temporaries).
"""

from __future__ import annotations

import contextlib
import signal
import threading

from .errors import Interrupted

TERMINATING = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None))
                    if s is not None)
_received: list[int] = []  # signals seen by the outermost block that set handlers, in order
_active: list[bool] = []  # one entry while such a block runs


def received() -> int | None:
    """The first signal seen inside the last termination_raises block that set handlers."""
    return _received[0] if _received else None


def raise_if_received() -> None:
    """Inside a termination_raises block that set handlers: raise the interruption of the first
    signal it has seen (Interrupted; for Ctrl-C a plain KeyboardInterrupt, as Python raises it),
    in case the handler's exception was lost in a C extension's callback; outside such a block,
    or before any signal, nothing."""
    if _active and _received:
        if _received[0] == signal.SIGINT:
            raise KeyboardInterrupt
        raise Interrupted(_received[0])


@contextlib.contextmanager
def termination_raises(signals=TERMINATING):
    """Within the block, ``signals`` (SIGTERM, SIGHUP) raise Interrupted (module docstring)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for s in signals:
        if signal.getsignal(s) is signal.SIG_DFL:  # None: set outside Python, leave it alone
            previous[s] = signal.SIG_DFL
    ctrl_c = signal.getsignal(signal.SIGINT) is signal.default_int_handler

    def handler(signum, frame):
        _received.append(signum)
        for s in previous:
            signal.signal(s, signal.SIG_IGN)  # the clean-up runs once, uninterrupted
        raise Interrupted(signum)

    def ctrl_c_handler(signum, frame):
        _received.append(signum)
        signal.default_int_handler(signum, frame)  # KeyboardInterrupt, as without the block

    sets = bool(previous or ctrl_c)
    if sets:
        _received.clear()
        _active.append(True)
    try:
        for s in previous:
            signal.signal(s, handler)
        if ctrl_c:
            signal.signal(signal.SIGINT, ctrl_c_handler)
        yield
    finally:
        if sets:
            _active.pop()
        for s, h in previous.items():
            signal.signal(s, h)
        if ctrl_c:
            signal.signal(signal.SIGINT, signal.default_int_handler)
