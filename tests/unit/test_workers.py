"""A function's worker process, as make run runs it: warm between invocations, and a crash, a
timeout or an unhandled error costs one invocation, never the gateway."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from facematch_local.functions import FunctionError, FunctionSpec, FunctionTimedOut
from facematch_local.workers import STARTUP_TIMEOUT_S, FunctionWorker

HANDLER = """
import os, signal, time

def handler(event, context):
    if event["do"] == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    if event["do"] == "sleep":
        time.sleep(event["seconds"])
    if event["do"] == "raise":
        raise Exception("Unauthorized")
    return {"pid": os.getpid(), "function": context.function_name}
"""
TIMEOUT_S = 2


@pytest.fixture
def worker(tmp_path: Path):
    (tmp_path / "app.py").write_text(HANDLER)
    worker = FunctionWorker(FunctionSpec("TestFunction", tmp_path / "app.py", "handler", 128, TIMEOUT_S))
    worker.start()
    worker.wait_ready(time.monotonic() + STARTUP_TIMEOUT_S)
    yield worker
    worker.stop()


def answer(worker: FunctionWorker) -> dict:
    return worker.invoke({"do": "answer"})


def test_invocations_run_one_after_another_in_the_same_warm_process(worker):
    first, second = answer(worker), answer(worker)
    assert first == second == {"pid": worker.pid, "function": "TestFunction"}
    assert worker.pid != os.getpid()


def test_a_crash_fails_its_invocation_and_the_next_runs_in_a_new_process(worker):
    before = answer(worker)["pid"]
    with pytest.raises(FunctionError, match="exited \\(signal SIGSEGV\\)"):
        worker.invoke({"do": "crash"})
    assert answer(worker)["pid"] not in (before, None)


def test_an_invocation_past_the_timeout_is_cut_off_and_the_worker_replaced(worker):
    before = answer(worker)["pid"]
    started = time.monotonic()
    with pytest.raises(FunctionTimedOut):
        worker.invoke({"do": "sleep", "seconds": 60})
    assert time.monotonic() - started < TIMEOUT_S + 5
    assert answer(worker)["pid"] != before


def test_an_unhandled_error_is_the_answer_and_the_process_stays_warm(worker):
    before = answer(worker)["pid"]
    with pytest.raises(FunctionError, match="^Unauthorized$") as raised:
        worker.invoke({"do": "raise"})
    assert 'raise Exception("Unauthorized")' in raised.value.trace
    assert answer(worker)["pid"] == before


def test_a_worker_killed_while_idle_is_replaced_before_the_next_invocation(worker):
    before = answer(worker)["pid"]
    os.kill(before, signal.SIGKILL)
    time.sleep(0.2)
    assert answer(worker)["pid"] != before


def test_ctrl_c_does_not_reach_the_worker_the_gateway_stops_it(worker):
    before = answer(worker)["pid"]
    os.kill(before, signal.SIGINT)
    time.sleep(0.2)
    assert answer(worker)["pid"] == before
    process = worker._process
    worker.stop()
    assert process.returncode == 0
    with pytest.raises(FunctionError, match="stopping"):
        answer(worker)


def test_a_failed_init_fails_the_invocation(tmp_path):
    (tmp_path / "app.py").write_text("raise RuntimeError('no weights')\n")
    worker = FunctionWorker(FunctionSpec("BrokenFunction", tmp_path / "app.py", "handler", 128, TIMEOUT_S))
    worker.start()
    try:
        with pytest.raises(FunctionError, match="BrokenFunction's init failed: no weights"):
            worker.invoke({"do": "answer"})
    finally:
        worker.stop()
