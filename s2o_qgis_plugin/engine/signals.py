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
as the interruption, not as a bug.

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


def received() -> int | None:
    """The first signal seen inside the last termination_raises block that set handlers."""
    return _received[0] if _received else None


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

    if previous or ctrl_c:
        _received.clear()
    try:
        for s in previous:
            signal.signal(s, handler)
        if ctrl_c:
            signal.signal(signal.SIGINT, ctrl_c_handler)
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        if ctrl_c:
            signal.signal(signal.SIGINT, signal.default_int_handler)
