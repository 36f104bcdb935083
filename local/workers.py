"""Each function in its own worker process, as Lambda runs it (``make run``).

A worker is one execution environment: its own warm state (model, clients, vector cache) and
one invocation at a time. Native face code never shares a process with another function, and a
crash or a timeout costs one invocation: the worker is replaced, the stack stays up.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from typing import Any

from facematch_local.functions import FunctionError, FunctionSpec, FunctionTimedOut, function_specs

log = logging.getLogger("facematch_local")
# How long `make run` waits for every worker's init (imports, model load) on a busy laptop.
STARTUP_TIMEOUT_S = 180
# How long a stopping worker may take to finish what it is doing before it is killed.
STOP_GRACE_S = 5


class FunctionWorker:
    """The gateway's side of one worker process (``facematch_local.worker``) and its two pipes:
    events to it, answers from it (OS pipes, not sockets: they end when either side does)."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self._lock = threading.Lock()  # one invocation at a time, as in one execution environment
        self._process: subprocess.Popen | None = None
        self._events: Connection | None = None
        self._answers: Connection | None = None
        self._ready = False
        self._stopped = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> None:
        """Start the process; its init runs while this returns (``wait_ready`` waits for it)."""
        events_in, events_out = Pipe(duplex=False)
        answers_in, answers_out = Pipe(duplex=False)
        theirs = [events_in.fileno(), answers_out.fileno()]
        # Ctrl-C reaches the whole process group, and the gateway stops its workers itself: the
        # worker ignores SIGINT, and it is blocked until then, so none is lost to a traceback.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "facematch_local.worker", *map(str, theirs), self.spec.name],
                pass_fds=theirs,
            )
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            events_in.close()
            answers_out.close()
        self._events, self._answers, self._ready = events_out, answers_in, False
        self._events.send(self.spec)

    def wait_ready(self, deadline: float) -> None:
        """Wait until the worker's init is done (its handler imported, its model loaded)."""
        if not self._ready:
            self._receive(deadline)
            self._ready = True

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if self._stopped:
                raise FunctionError(f"{self.spec.name} is stopping")
            if self._process.poll() is not None:
                # Gone between invocations: Lambda would give this one a fresh environment.
                log.warning("%s's worker had exited (%s); starting another", self.spec.name, self._replace())
            # The time spent queueing for the lock is not the function's: Lambda would have run
            # this invocation in another environment at once.
            deadline = time.monotonic() + self.spec.timeout_s
            self.wait_ready(deadline)
            try:
                self._events.send(event)
            except OSError:
                pass  # it died: _receive reads the end of its answers and says how
            return self._receive(deadline)

    def stop(self) -> None:
        """End the worker: it exits when its pipe closes; killed if still busy after a grace."""
        self._stopped = True
        if self._lock.acquire(timeout=STOP_GRACE_S):
            try:
                self._discard()
            finally:
                self._lock.release()
        else:
            self._process.kill()  # the invoking thread reads the end of its answers and cleans up

    def _receive(self, deadline: float) -> Any:
        """The worker's next answer. If it died, or ran out of time, it is replaced and the
        invocation fails."""
        if not self._answers.poll(max(0.0, deadline - time.monotonic())):
            self._process.kill()
            self._replace()
            raise FunctionTimedOut(f"{self.spec.name} timed out")
        try:
            kind, payload = self._answers.recv()
        except (EOFError, OSError):
            kind, payload = "exited", None
        if kind in ("ready", "ok"):
            return payload
        if kind == "error":
            raise FunctionError(*payload)
        ended = self._replace()  # crashed, killed, or exiting after its init failed
        if kind == "init_failed":
            raise FunctionError(*payload)
        raise FunctionError(f"{self.spec.name}'s worker exited ({ended})")

    def _replace(self) -> str:
        """Discard the process and start another, unless stopping; says how the old one ended."""
        self._discard()
        code = self._process.returncode
        if not self._stopped:
            self.start()
        return f"signal {signal.Signals(-code).name}" if code < 0 else f"status {code}"

    def _discard(self) -> None:
        self._events.close()  # the worker's end of its events: it exits
        self._answers.close()
        try:
            self._process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


class WorkerFunctions:
    """One worker process per function of the template: how ``make run`` invokes them."""

    def __init__(self, template: dict[str, Any] | None = None) -> None:
        self.workers = {name: FunctionWorker(spec) for name, spec in function_specs(template).items()}

    def start(self, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        """Start every worker and wait until all are warm (they load their models in parallel)."""
        for worker in self.workers.values():
            worker.start()
        deadline = time.monotonic() + timeout_s
        for worker in self.workers.values():
            worker.wait_ready(deadline)

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        return self.workers[function].invoke(event)

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop()
