"""Calling the API: where it is, one request at a time, and how its errors end the command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx
import typer

from facematch_cli import console

DEFAULT_URL = "http://127.0.0.1:3000"
EXIT_FAILED = 1
EXIT_UNREACHABLE = 3


@dataclass(frozen=True)
class Api:
    """Where the API is, the key to call it with, and how long to wait for each response."""

    url: str
    timeout: float
    api_key: str | None


def _client(api: Api) -> httpx.Client:
    """The HTTP client for the API; tests replace it with one on a mock transport."""
    headers = {"x-api-key": api.api_key} if api.api_key else {}
    return httpx.Client(base_url=api.url, timeout=api.timeout, headers=headers)


@contextmanager
def connect(api: Api) -> Iterator[httpx.Client]:
    """A client for the API; exits with code 3 when the API cannot be reached."""
    try:
        with _client(api) as client:
            yield client
    except httpx.TransportError as error:
        reason = str(error) or type(error).__name__
        console.err.print(
            f"error: cannot reach the FaceMatch API at {api.url} ({reason}). "
            "Is it running? Point --url or FACEMATCH_URL at it.",
            markup=False,
        )
        raise typer.Exit(EXIT_UNREACHABLE) from error


def call(
    client: httpx.Client, method: str, path: str, **kwargs: Any
) -> tuple[dict[str, Any], dict[str, str] | None]:
    """Send one request; returns its JSON body and, when it failed, its error (code, message)."""
    try:
        response = client.request(method, path, **kwargs)
    except (httpx.ReadTimeout, httpx.WriteTimeout):
        return {}, {"code": "TIMEOUT", "message": f"no response within {client.timeout.read:g}s"}
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    if response.is_success and "error" not in body:
        return body, None
    error = body.get("error")
    if isinstance(error, dict) and "code" in error:
        return body, {"code": str(error["code"]), "message": str(error.get("message", ""))}
    # Not the API's own error: a gateway's 502, a proxy's HTML page.
    message = body.get("message") or response.text.strip()[:200] or response.reason_phrase
    return body, {"code": f"HTTP_{response.status_code}", "message": str(message)}


def fail(error: dict[str, str]) -> NoReturn:
    """Report an API error on stderr and exit with code 1."""
    console.err.print(f"error {error['code']}: {error['message']}", markup=False)
    raise typer.Exit(EXIT_FAILED)
