"""One Lambda execution environment: ``python -m facematch_local.worker EVENTS ANSWERS NAME``.

It reads its function's spec from the pipe EVENTS, runs the function's init (imports the
handler: model, clients), says on the pipe ANSWERS that it is ready, then answers one event at
a time until the gateway closes EVENTS. NAME only labels the process (ps, top).
"""

from __future__ import annotations

import signal
import sys
import warnings
from multiprocessing.connection import Connection

from facematch_local.functions import FunctionError, FunctionSpec


def serve(events: Connection, answers: Connection) -> int:
    """Init, then answer events until the gateway closes the pipe; returns the exit status."""
    try:
        spec: FunctionSpec = events.recv()
        try:
            handler = getattr(spec.import_module(), spec.handler)
        except Exception as error:  # noqa: BLE001 - a failed init fails the invocation, as in Lambda
            failure = FunctionError.raised(error)
            answers.send(("init_failed", (f"{spec.name}'s init failed: {failure}", failure.trace)))
            return 1
        answers.send(("ready", None))
        while True:
            event = events.recv()
            try:
                answer = ("ok", handler(event, spec.context()))
            except Exception as error:  # noqa: BLE001 - an unhandled error is the invocation's answer
                failure = FunctionError.raised(error)
                answer = ("error", (str(failure), failure.trace))
            answers.send(answer)
    except (EOFError, BrokenPipeError):  # the gateway closed the pipes: it is stopping, or gone
        return 0


if __name__ == "__main__":
    # Ctrl-C reaches the whole process group, and the gateway stops its workers itself (it
    # started this one with SIGINT blocked, so that none came before this line).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    # Metrics are off locally; Powertools still warns on every request that has none.
    warnings.filterwarnings("ignore", "No application metrics to publish")
    events, answers = (int(fd) for fd in sys.argv[1:3])
    sys.exit(serve(Connection(events, writable=False), Connection(answers, readable=False)))
