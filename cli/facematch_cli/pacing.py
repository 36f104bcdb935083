"""Calls that a bulk command makes many of, at once: within a request rate, and retried when the
answer says to try again (throttled, busy, a gateway error), with backoff."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import httpx

from facematch_cli.connection import call

# Answers worth sending the same request again: throttled (WAF's RATE_LIMITED, API Gateway's
# bare 429), the same Idempotency-Key still being answered, racing writers, gateway failures.
RETRIED = frozenset({"RATE_LIMITED", "HTTP_429", "IN_PROGRESS", "CONFLICT", "GATEWAY_ERROR", "HTTP_502", "HTTP_503", "HTTP_504", "TIMEOUT"})
ATTEMPTS = 6


class Pace:
    """At most ``per_second`` requests a second from all threads together (evenly spaced)."""

    def __init__(self, per_second: float) -> None:
        self._interval = 1.0 / per_second
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self._interval
        time.sleep(max(0.0, start - now))


def paced_call(
    client: httpx.Client, pace: Pace, method: str, path: str, **kwargs: Any
) -> tuple[dict[str, Any], dict[str, str] | None]:
    """``call``, paced, and sent again (up to ATTEMPTS times) while the answer says to retry."""
    for attempt in range(ATTEMPTS):
        pace.wait()
        try:
            body, error = call(client, method, path, **kwargs)
        except httpx.TransportError as failure:  # a dropped connection: the request may have landed
            body, error = {}, {"code": "UNREACHABLE", "message": str(failure) or type(failure).__name__}
            if attempt == ATTEMPTS - 1:
                raise
        if error is None or error["code"] not in RETRIED | {"UNREACHABLE"}:
            return body, error
        time.sleep(random.uniform(0, min(30.0, 0.5 * 2**attempt)))  # full jitter
    return body, error
