"""Ctrl-C at the terminal stops the local stack alone, so that ``make run`` exits with status 0.

The terminal sends Ctrl-C's SIGINT to its whole foreground process group, make included, and GNU
make then dies of it ("make: *** [run] Interrupt", a failed status) however cleanly the stack
exits. So the stack, when it runs in the terminal's foreground group, moves into a group of its
own (its worker processes, started later, join it) and makes that group the foreground one:
Ctrl-C then reaches only the stack, which stops and exits 0, and so does make. The terminal goes
back to the previous group when the stack exits.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def own_foreground_group() -> Iterator[None]:
    """Within it, this process leads the terminal's foreground group, if it was in that group."""
    fd, previous = _foreground()
    if previous is None or previous != os.getpgrp():
        yield  # no terminal, or started in the background: Ctrl-C is not ours to redirect
        return
    try:
        os.setpgid(0, 0)
    except OSError:  # a session leader cannot change its group: it is the terminal's already
        yield
        return
    _give_terminal(fd, os.getpgrp())
    # Ctrl-Z would stop the stack but not make, which the shell waits for: a terminal that answers
    # nothing, Ctrl-C included. So the stack (and its workers, which inherit this) ignores it.
    suspend = signal.signal(signal.SIGTSTP, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGTSTP, suspend)
        _give_terminal(fd, previous)


def _foreground() -> tuple[int, int | None]:
    """Standard input's descriptor, and its terminal's foreground group (None: not a terminal)."""
    try:
        fd = sys.stdin.fileno()
        return fd, os.tcgetpgrp(fd) if os.isatty(fd) else None
    except (AttributeError, ValueError, OSError):  # no stdin, or a terminal that is not ours
        return -1, None


def _give_terminal(fd: int, group: int) -> None:
    # A process outside the foreground group that calls tcsetpgrp is stopped by SIGTTOU unless
    # it ignores it.
    handler = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(fd, group)
    except OSError:
        pass  # the terminal is gone (hung up), or the group is: nothing to give back
    finally:
        signal.signal(signal.SIGTTOU, handler)
