"""The rate-based rules of the AWS WAF web ACL associated with the API, as the local gateway
applies them: read from template.yaml, counted per key over a trailing window, answered with
the rule's own block response."""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

from facematch_local.resources import resolved

# FACEMATCH_RATE_LIMITS=off: no WAF rate limits here (for load and fuzz runs against make run).
RATE_LIMITS_SWITCH = "FACEMATCH_RATE_LIMITS"

log = logging.getLogger("facematch_local")


@dataclass(frozen=True)
class RateLimit:
    """A rate-based rule of the API's AWS WAF web ACL: at most ``limit`` requests per key in any
    ``window_seconds``, the key being one header's value (``header``) or the source address
    (``header`` None); past the limit, the rule's block response."""

    name: str
    header: str | None
    limit: int
    window_seconds: int
    status: int
    body: str
    content_type: str

    def key(self, request: Request) -> str | None:
        """What this rule counts the request under; None: the rule does not apply (as WAF skips a
        rule whose key the request lacks)."""
        return request.remote_addr if self.header is None else request.headers.get(self.header)


class RateLimits:
    """WAF's rate-based rules, in priority order, each counting every request it sees per key
    over its trailing window (blocked requests count too); the first rule past its limit blocks,
    and the rules after it do not see the request."""

    def __init__(self, rules: list[RateLimit], clock: Callable[[], float]) -> None:
        self.rules = rules
        self._clock = clock
        self._seen: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()  # the local server is threaded

    @staticmethod
    def switched_on() -> bool:
        return os.environ.get(RATE_LIMITS_SWITCH, "on").lower() != "off"

    def refusal(self, request: Request) -> Response | None:
        now = self._clock()
        with self._lock:
            if len(self._seen) > 10_000:  # forget keys quiet for a whole window
                longest = max(rule.window_seconds for rule in self.rules)
                self._seen = {k: v for k, v in self._seen.items() if v and v[-1] > now - longest}
            for rule in self.rules:
                key = rule.key(request)
                if key is None:
                    continue
                times = self._seen.setdefault((rule.name, key), deque())
                while times and times[0] <= now - rule.window_seconds:
                    times.popleft()
                times.append(now)
                if len(times) > rule.limit:
                    log.warning("%s: over %d requests in %d s", rule.name, rule.limit, rule.window_seconds)
                    return Response(rule.body, status=rule.status, content_type=rule.content_type)
        return None


_CONTENT_TYPES = {"APPLICATION_JSON": "application/json", "TEXT_PLAIN": "text/plain", "TEXT_HTML": "text/html"}


def web_acl_rate_limits(template: dict[str, Any]) -> list[RateLimit]:
    """The rate-based Block rules of each web ACL associated with a resource (the API's stage),
    with their custom responses; the local gateway knows no other kind of WAF rule."""
    resources = template["Resources"]
    associated = {
        r["Properties"]["WebACLArn"]["GetAtt"].split(".")[0]
        for r in resources.values()
        if r["Type"] == "AWS::WAFv2::WebACLAssociation"
    }
    limits = []
    for name in sorted(associated):
        acl = resources[name]["Properties"]
        bodies = acl.get("CustomResponseBodies", {})
        for rule in sorted(acl.get("Rules", []), key=lambda r: r["Priority"]):
            statement = rule["Statement"].get("RateBasedStatement")
            block = rule.get("Action", {}).get("Block")
            if statement is None or block is None:
                raise NotImplementedError(f"the local gateway enforces rate-based Block rules only: {rule['Name']}")
            if statement["AggregateKeyType"] == "IP":
                header = None
            elif statement["AggregateKeyType"] == "CUSTOM_KEYS" and len(statement["CustomKeys"]) == 1:
                (custom_key,) = statement["CustomKeys"]
                if [t["Type"] for t in custom_key["Header"]["TextTransformations"]] != ["NONE"]:
                    raise NotImplementedError(f"{rule['Name']}: text transformations")
                header = custom_key["Header"]["Name"]
            else:
                raise NotImplementedError(f"{rule['Name']}: aggregate key {statement['AggregateKeyType']}")
            response = block.get("CustomResponse", {})
            body = bodies.get(response.get("CustomResponseBodyKey"), {})
            limits.append(
                RateLimit(
                    name=rule["Name"],
                    header=header,
                    limit=int(resolved(template, statement["Limit"])),
                    window_seconds=int(resolved(template, statement.get("EvaluationWindowSec", 300))),
                    # Without a custom response, WAF's block is a bare 403.
                    status=int(response.get("ResponseCode", 403)),
                    body=body.get("Content", "Forbidden"),
                    content_type=_CONTENT_TYPES[body.get("ContentType", "TEXT_PLAIN")],
                )
            )
    return limits
