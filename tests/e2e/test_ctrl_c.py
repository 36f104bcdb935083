"""Ctrl-C pressed at a terminal stops `make run` cleanly: make exits with status 0, and nothing
prints a traceback or make's "Interrupt". Ctrl-Z before it changes nothing."""

from __future__ import annotations

import os
import pty
import select
import signal
import time

import pytest

from facematch_local.embedded_aws import free_port
from facematch_testing.stack import ROOT, stack_environment

pytestmark = pytest.mark.model  # the stack loads the face model
READY = b"Press Ctrl-C to stop."


def read_until(master: int, output: bytearray, done, seconds: float) -> bool:
    """Read the terminal's output until done(output) or its end; False if time ran out first."""
    deadline = time.monotonic() + seconds
    while not done(output):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if select.select([master], [], [], min(left, 1.0))[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every process holding the terminal has closed it
                return True
            if not chunk:
                return True
            output += chunk
    return True


def test_ctrl_c_at_the_terminal_stops_make_run_with_status_0_and_no_traceback_even_after_ctrl_z():
    env = stack_environment(free_port(), free_port())
    # make as a person's shell runs it: in the foreground of a terminal of its own.
    pid, master = pty.fork()
    if pid == 0:
        try:
            os.chdir(ROOT)
            os.execvpe("make", ["make", "--no-print-directory", "run"], env)
        finally:
            os._exit(127)
    output = bytearray()
    status = None
    try:
        ready = read_until(master, output, lambda out: READY in out, 240)
        assert ready and READY in output, output.decode(errors="replace")
        os.write(master, b"\x1a")  # Ctrl-Z first: ignored, or make would wait on a stopped stack
        time.sleep(1)
        os.write(master, b"\x03")  # Ctrl-C
        assert read_until(master, output, lambda out: False, 120), output.decode(errors="replace")
        _, status = os.waitpid(pid, 0)
    finally:
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(master)  # hangs up the terminal: anything left of the stack gets SIGHUP
    text = output.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "Stopping FaceMatch" in text, text
    for word in ("Traceback", "Interrupt", "Error"):
        assert word not in text, text
