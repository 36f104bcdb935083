"""Stop FaceMatch at any S3 or DynamoDB call and do something there: the fault-injection harness.

It hooks botocore's ``before-call`` and ``after-call`` events on FaceMatch's clients, so it sees
every request exactly where the code makes it, in one thread. At the chosen call it can:
- run another operation to its end (an interleaving), before the call is sent or after its
  reply came;
- lose the reply of a call that landed: a conditional PUT then fails as botocore's retry of it
  would (412), any other call with a broken connection;
- crash the process: that call and every later one fail, so no cleanup code gets to run.
Nothing here is threaded, so no result depends on moto's behaviour under threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from botocore.exceptions import ClientError, ConnectionClosedError

from facematch.aws import client

SERVICES = ("s3", "dynamodb")
BEFORE, AFTER = "before", "after"


class Crash(BaseException):
    """The process died here. A BaseException, as a killed process runs no ``except Exception``."""


_READS = ("Get", "Head", "List", "Query", "Scan", "BatchGet")


@dataclass(frozen=True)
class Call:
    operation: str  # e.g. "s3.PutObject"
    conditional: bool  # an S3 If-Match / If-None-Match, or a DynamoDB condition

    @property
    def writes(self) -> bool:
        return not self.operation.split(".")[1].startswith(_READS)


@dataclass
class Fault:
    """What to do at the ``at``-th call (0-based) of the operation under test, ``when``; or,
    with ``operation``, at the ``at``-th call of that operation (e.g. "s3.PutObject")."""

    at: int
    when: str
    action: Callable[[Call], None]
    operation: str | None = None

    def applies(self, index: int, call: Call, seen: list[Call]) -> bool:
        if self.operation is None:
            return index == self.at
        earlier = [c for c in seen[:index] if c.operation == self.operation]
        return call.operation == self.operation and len(earlier) == self.at


@dataclass
class Injector:
    calls: list[Call] = field(default_factory=list)
    fault: Fault | None = None
    crashed: bool = False
    _paused: int = 0

    def before(self, model, params, context, **_):  # noqa: ANN001, ANN003, ANN202 - botocore's
        if self._paused:
            return None
        if self.crashed:
            raise Crash("the process is gone")
        call = Call(f"{model.service_model.service_name}.{model.name}", _conditional(params))
        context["facematch_call"] = (len(self.calls), call)
        self.calls.append(call)
        self._fire(len(self.calls) - 1, BEFORE, call)
        return None

    def after(self, context, **_):  # noqa: ANN001, ANN003, ANN202
        if self._paused or "facematch_call" not in context:
            return
        index, call = context["facematch_call"]
        self._fire(index, AFTER, call)

    def _fire(self, index: int, when: str, call: Call) -> None:
        if self.fault and self.fault.when == when and self.fault.applies(index, call, self.calls):
            self.fault.action(call)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Calls made inside are neither counted nor faulted: another operation running here."""
        self._paused += 1
        try:
            yield
        finally:
            self._paused -= 1


def _conditional(params: dict) -> bool:
    headers = params.get("headers", {})
    body = params.get("body", b"")
    text = body if isinstance(body, str) else (body.decode(errors="ignore") if isinstance(body, bytes) else "")
    return "If-Match" in headers or "If-None-Match" in headers or "ConditionExpression" in text


@contextmanager
def injecting() -> Iterator[Injector]:
    """An injector on FaceMatch's S3 and DynamoDB clients for the duration of the block."""
    injector = Injector()
    clients = [client(name) for name in SERVICES]
    for boto_client in clients:
        boto_client.meta.events.register("before-call", injector.before, unique_id="facematch-faults-before")
        boto_client.meta.events.register("after-call", injector.after, unique_id="facematch-faults-after")
    try:
        yield injector
    finally:
        for boto_client in clients:
            boto_client.meta.events.unregister("before-call", unique_id="facematch-faults-before")
            boto_client.meta.events.unregister("after-call", unique_id="facematch-faults-after")


def run_there(injector: Injector, operation: Callable[[], object], outcomes: list) -> Callable[[Call], None]:
    """An action that runs ``operation`` to its end at the fault point, recording its outcome."""

    def action(_call: Call) -> None:
        with injector.paused():
            try:
                outcomes.append(("ok", operation()))
            except Exception as error:  # noqa: BLE001 - an outcome like any other
                outcomes.append(("error", error))

    return action


def lose_reply(call: Call) -> None:
    """The call landed, but its reply did not: what the caller sees once botocore retried it."""
    if call.operation == "dynamodb.TransactWriteItems":
        return  # botocore sends a ClientRequestToken: DynamoDB answers the retry as the first
    if call.conditional:
        code, status = ("PreconditionFailed", 412) if call.operation.startswith("s3.") else ("ConditionalCheckFailedException", 400)
        raise ClientError(
            {"Error": {"Code": code, "Message": "the retry of a write that landed"},
             "ResponseMetadata": {"HTTPStatusCode": status}},
            call.operation.split(".")[1],
        )
    raise ConnectionClosedError(endpoint_url="https://lost.reply")


def crash(injector: Injector) -> Callable[[Call], None]:
    def action(_call: Call) -> None:
        injector.crashed = True
        raise Crash(f"crashed at {_call.operation}")

    return action
