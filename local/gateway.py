"""A local stand-in for API Gateway (REST API, Lambda proxy integration) built from template.yaml.

It reads the routes, binary media types and gateway responses from the template, turns each
HTTP request into the proxy event API Gateway would send, invokes the very ``lambda_handler``
that the function's container image runs (in a worker process under ``make run``), and maps
the result, or the function's failure, back to HTTP as API Gateway does. Before all that it
applies the rate-based rules of the AWS WAF web ACL associated with the API, as WAF does.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from typing import Any, Callable

from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

from facematch.openapi import document
from facematch_local.functions import FunctionError, Functions, FunctionTimedOut, function_specs
from facematch_local.rate_limits import RATE_LIMITS_SWITCH, RateLimits, web_acl_rate_limits
from facematch_local.resources import load_template, resolved

# API Gateway's payload quota, and Lambda's limit on a synchronous invocation's event.
MAX_GATEWAY_BODY = 10 * 1024 * 1024
MAX_LAMBDA_EVENT = 6 * 1024 * 1024
# How long API Gateway waits for a Lambda integration (the REST API default).
INTEGRATION_TIMEOUT_S = 29
# Local-only: Swagger UI over the committed OpenAPI document (the deployed API serves the JSON).
SWAGGER_PATH = "/api/swagger"

log = logging.getLogger("facematch_local")


@dataclass(frozen=True)
class Route:
    method: str
    resource: str
    function: str
    public: bool
    pattern: re.Pattern[str] = field(compare=False)

    @classmethod
    def create(cls, method: str, resource: str, function: str, public: bool) -> Route:
        parts = re.split(r"\{(\w+)\+?\}", resource)  # literal, parameter, literal, ...
        regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
        # API Gateway (REST) routes /x/ to the resource /x, passing the path on as sent (docs/api.md,
        # "Trailing slashes"); one slash, never more, so the local stack is no more lenient.
        return cls(method.upper(), resource, function, public, re.compile(f"^{regex}/?$"))


@dataclass(frozen=True)
class Authorizer:
    """A REQUEST Lambda authorizer: its function, the header it reads, how long answers are cached."""

    function: str
    header: str
    ttl_seconds: int


class _Refusal(Exception):
    def __init__(self, response_type: str, status: int) -> None:
        super().__init__(response_type)
        self.response_type = response_type
        self.status = status


@dataclass(frozen=True)
class QueueSource:
    """An SQS event source mapping: the function that polls the queue, and its batch size."""

    function: str
    queue: str
    batch_size: int


class LocalGateway:
    """A WSGI application serving the template's REST API routes from the functions' handlers."""

    def __init__(
        self,
        functions: Functions,
        template: dict[str, Any] | None = None,
        stage: str = "local",
        clock: Callable[[], float] = time.monotonic,
        rate_limits: bool | None = None,
    ) -> None:
        """``functions``: how to invoke them, in worker processes (make run) or in this one (tests).
        ``clock``: seconds, for the authorizer's cache and the rate limits. ``rate_limits``: apply
        the web ACL's rules; by default unless FACEMATCH_RATE_LIMITS is ``off``."""
        template = template or load_template()
        self.functions = functions
        self.clock = clock
        self.specs = function_specs(template)
        resources = template["Resources"]
        api = next(r for r in resources.values() if r["Type"] == "AWS::Serverless::Api")["Properties"]
        self.stage = stage
        self.binary_media_types = [t.replace("~1", "/") for t in api.get("BinaryMediaTypes", [])]
        self.gateway_responses = api.get("GatewayResponses", {})
        self.routes: list[Route] = []
        self.queue_sources: list[QueueSource] = []
        for name, resource in resources.items():
            if resource["Type"] != "AWS::Serverless::Function":
                continue
            for event in resource["Properties"].get("Events", {}).values():
                props = event["Properties"]
                if event["Type"] == "Api":
                    public = props.get("Auth", {}).get("Authorizer") == "NONE"
                    self.routes.append(Route.create(props["Method"], props["Path"], name, public))
                elif event["Type"] == "SQS":
                    queue = props["Queue"]["GetAtt"].split(".")[0]
                    self.queue_sources.append(QueueSource(name, queue, int(props.get("BatchSize", 10))))
        self.authorizer = _authorizer(template, api)
        self._authorizations: dict[str, tuple[float, dict[str, Any] | _Refusal]] = {}
        if rate_limits is None:
            rate_limits = RateLimits.switched_on()
        self.rate_limits = RateLimits(web_acl_rate_limits(template) if rate_limits else [], clock)
        if self.rate_limits.rules:
            log.info(
                "AWS WAF rate limits: %s (%s=off lifts them)",
                ", ".join(f"{r.name} {r.limit} per {r.window_seconds} s" for r in self.rate_limits.rules),
                RATE_LIMITS_SWITCH,
            )

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        request = Request(environ)
        started = time.monotonic()
        response = self.dispatch(request)
        log.info(
            "%s %s -> %s (%.0f ms)",
            request.method, request.path, response.status_code, (time.monotonic() - started) * 1000,
        )
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        refusal = self.rate_limits.refusal(request)  # WAF answers before API Gateway sees anything
        if refusal is not None:
            return refusal
        if request.path == SWAGGER_PATH and request.method == "GET":
            return _swagger(request)
        body = request.get_data(cache=False)
        if len(body) > MAX_GATEWAY_BODY:
            return self._gateway_response("REQUEST_TOO_LARGE", 413)
        for route in self.routes:
            match = route.pattern.match(request.path)
            if match and route.method == request.method:
                event = self._event(request, route, match.groupdict() or None, body)
                if len(json.dumps(event)) > MAX_LAMBDA_EVENT:
                    return self._gateway_response("REQUEST_TOO_LARGE", 413)
                if self.authorizer and not route.public:
                    try:
                        event["requestContext"]["authorizer"] = self._authorize(event)
                    except _Refusal as refusal:
                        return self._gateway_response(refusal.response_type, refusal.status)
                return self._invoke(route.function, event)
        return self._gateway_response("MISSING_AUTHENTICATION_TOKEN", 403)

    def _authorize(self, event: dict[str, Any]) -> dict[str, Any]:
        """What API Gateway does before a protected route: ask the authorizer (answers cached
        per key for its TTL), refuse with 401 or 403, or pass its context on to the function."""
        key = next(
            (v for k, v in event["headers"].items() if k.lower() == self.authorizer.header.lower()), None
        )
        if not key:
            raise _Refusal("UNAUTHORIZED", 401)
        cached = self._authorizations.get(key)
        if cached and cached[0] > self.clock():
            outcome = cached[1]
        else:
            outcome = self._ask_authorizer(event)
            self._authorizations[key] = (self.clock() + self.authorizer.ttl_seconds, outcome)
        if isinstance(outcome, _Refusal):
            raise outcome
        return outcome

    def _ask_authorizer(self, event: dict[str, Any]) -> dict[str, Any] | _Refusal:
        method_arn = (
            f"arn:aws:execute-api:us-east-1:000000000000:local/{self.stage}/"
            f"{event['httpMethod']}{event['path']}"
        )
        request = {
            "type": "REQUEST",
            "methodArn": method_arn,
            **{k: event[k] for k in ("resource", "path", "httpMethod", "headers", "multiValueHeaders",
                                     "queryStringParameters", "multiValueQueryStringParameters",
                                     "pathParameters", "stageVariables", "requestContext")},
        }
        try:
            policy = self.functions.invoke(self.authorizer.function, request)
        except FunctionError as error:  # how API Gateway reads an authorizer's failure
            if str(error) == "Unauthorized":
                return _Refusal("UNAUTHORIZED", 401)
            log.error("the authorizer failed: %s\n%s", error, error.trace)
            return _Refusal("AUTHORIZER_FAILURE", 500)
        statements = policy.get("policyDocument", {}).get("Statement", [])
        allowed = any(
            statement["Effect"] == "Allow"
            and any(fnmatch.fnmatch(method_arn, resource) for resource in _as_list(statement["Resource"]))
            for statement in statements
        ) and not any(
            statement["Effect"] == "Deny"
            and any(fnmatch.fnmatch(method_arn, resource) for resource in _as_list(statement["Resource"]))
            for statement in statements
        )
        if not allowed:
            return _Refusal("ACCESS_DENIED", 403)
        return {**policy.get("context", {}), "principalId": policy.get("principalId")}

    def _invoke(self, function: str, event: dict[str, Any]) -> Response:
        try:
            result = self.functions.invoke(function, event)
        except FunctionTimedOut as error:
            log.error("%s", error)
            # API Gateway's clock starts before Lambda's: it gives up first on a function allowed
            # its whole integration timeout, and answers 504; a shorter Timeout ends in a 502.
            if self.specs[function].timeout_s >= INTEGRATION_TIMEOUT_S:
                return self._gateway_response("INTEGRATION_TIMEOUT", 504)
            return self._gateway_response("DEFAULT_5XX", 502)
        except FunctionError as error:  # an unhandled error, or a crash: a 502 from API Gateway
            log.error("%s failed: %s\n%s", function, error, error.trace)
            return self._gateway_response("DEFAULT_5XX", 502)
        headers = Headers()
        for name, value in (result.get("headers") or {}).items():
            headers[name] = value
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers.setlist(name, values)
        body = result.get("body") or ""
        payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
        return Response(payload, status=int(result["statusCode"]), headers=headers)

    def _gateway_response(self, response_type: str, status: int) -> Response:
        """The template's response for this type; else, as API Gateway falls back, the body of
        DEFAULT_4XX or DEFAULT_5XX with the type's own status; else API Gateway's own body."""
        configured = self.gateway_responses.get(response_type)
        if configured:
            status = int(configured.get("StatusCode", status))
        else:
            configured = self.gateway_responses.get(f"DEFAULT_{status // 100}XX", {})
        template = configured.get("ResponseTemplates", {}).get("application/json")
        body = template or json.dumps({"message": response_type.replace("_", " ").title()})
        return Response(body, status=status, content_type="application/json")

    def _event(
        self, request: Request, route: Route, path_parameters: dict[str, str] | None, body: bytes
    ) -> dict[str, Any]:
        content_type = request.headers.get("Content-Type", "")
        binary = any(
            fnmatch.fnmatch(content_type.split(";")[0].strip(), pattern)
            for pattern in self.binary_media_types
        )
        headers = dict(request.headers.items())
        query = request.args
        now = datetime.now(timezone.utc)
        return {
            "resource": route.resource,
            "path": request.path,
            "httpMethod": request.method,
            "headers": headers,
            "multiValueHeaders": {name: request.headers.getlist(name) for name in headers},
            "queryStringParameters": {k: query.getlist(k)[-1] for k in query} or None,
            "multiValueQueryStringParameters": {k: query.getlist(k) for k in query} or None,
            "pathParameters": path_parameters,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": route.resource,
                "httpMethod": request.method,
                # The path as the client sent it: the local API is served at the root, as through
                # a custom domain without a base path (no stage before the route).
                "path": request.path,
                "stage": self.stage,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "requestId": str(uuid.uuid4()),
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "requestTimeEpoch": int(now.timestamp() * 1000),
                "accountId": "000000000000",
                "apiId": "local",
                "identity": {"sourceIp": request.remote_addr, "userAgent": request.user_agent.string},
            },
            "body": (base64.b64encode(body).decode() if binary else body.decode("utf-8", "replace"))
            if body
            else None,
            "isBase64Encoded": bool(body) and binary,
        }


def _swagger(request: Request) -> Response:
    spec = json.dumps(document())
    if request.args.get("format") == "json":
        return Response(spec, content_type="application/json")
    assets = resources.files("aws_lambda_powertools.event_handler.openapi.swagger_ui")
    page = generate_swagger_html(
        spec=spec,
        swagger_js=(assets / "swagger-ui-bundle.min.js").read_text(),
        swagger_css=(assets / "swagger-ui.min.css").read_text(),
        swagger_base_url="",  # inline Powertools' bundled assets: works offline
        oauth2_config=None,
    )
    return Response(page, content_type="text/html")


def _authorizer(template: dict[str, Any], api: dict[str, Any]) -> Authorizer | None:
    auth = api.get("Auth", {})
    name = auth.get("DefaultAuthorizer")
    if not name:
        return None
    config = auth["Authorizers"][name]
    identity = config.get("Identity", {})
    return Authorizer(
        function=config["FunctionArn"]["GetAtt"].split(".")[0],
        header=identity["Headers"][0],
        ttl_seconds=int(resolved(template, identity.get("ReauthorizeEvery", 300))),
    )


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value
