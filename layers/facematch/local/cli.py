"""The ``facematch`` command-line client: enroll photos, match a photo, check the API's health.

It talks to a FaceMatch API over HTTP: the local stack by default, any deployment with ``--url``.
Exit codes: 0 success; 1 a photo failed, no match, or an API error; 2 usage error;
3 the API cannot be reached.
"""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

DEFAULT_URL = "http://127.0.0.1:3000"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
PROGRESS_MIN_FILES = 4
EXIT_FAILED = 1
EXIT_UNREACHABLE = 3
SWEEP_POLL_SECONDS = 1.0

app = typer.Typer(
    help="Enroll faces into an organization and match photos against them.",
    no_args_is_help=True,
    add_completion=False,
)
out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

Organization = Annotated[
    str, typer.Option("--org", help="The organization whose faces to enroll into or match against.")
]
AsJson = Annotated[
    bool, typer.Option("--json", help="Print the API's JSON on stdout instead of text.")
]


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
def _connect(api: Api) -> Iterator[httpx.Client]:
    """A client for the API; exits with code 3 when the API cannot be reached."""
    try:
        with _client(api) as client:
            yield client
    except httpx.TransportError as error:
        reason = str(error) or type(error).__name__
        err.print(
            f"error: cannot reach the FaceMatch API at {api.url} ({reason}). "
            "Is it running? Point --url or FACEMATCH_URL at it.",
            markup=False,
        )
        raise typer.Exit(EXIT_UNREACHABLE) from error


def _call(
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


def _fail(error: dict[str, str]) -> NoReturn:
    """Report an API error on stderr and exit with code 1."""
    err.print(f"error {error['code']}: {error['message']}", markup=False)
    raise typer.Exit(EXIT_FAILED)


def _upload(path: Path) -> tuple[str, bytes, str]:
    """The multipart file field for the photo at path."""
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return path.name, path.read_bytes(), content_type


def _request_keys(key: str | None, requests: int) -> list[str | None]:
    """Each request's Idempotency-Key: the key itself for one photo, KEY/1, KEY/2... for several."""
    if key is None:
        return [None] * requests
    return [key] if requests == 1 else [f"{key}/{n}" for n in range(1, requests + 1)]


def _images(paths: list[Path]) -> list[Path]:
    """The photos to enroll: each file as given, and each directory's images in name order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(
                    p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                )
            )
        else:
            files.append(path)
    return files


def _progress(total: int, as_json: bool) -> Progress:
    """A progress bar for long enrollments, shown only on a terminal.

    It shares stdout's console when the result lines go to that terminal too (so they print above
    the bar); otherwise it draws on stderr and leaves stdout (JSON, a pipe) untouched.
    """
    console = out if out.is_terminal and not as_json else err
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
        disable=total < PROGRESS_MIN_FILES or not console.is_terminal,
    )


def _enrolled_line(path: Path, embedding: dict[str, Any]) -> str:
    """The result line of a photo whose face was enrolled."""
    face = embedding["face"]
    line = f"{escape(str(path))}  embed_id={embedding['embed_id']}  face={face['w']}x{face['h']}"
    faces = embedding.get("faces_in_image", 1)
    if faces > 1:
        line += f"  ({faces} faces in the image; enrolled the largest)"
    return line


def _failed_line(path: Path, error: dict[str, str]) -> str:
    """The result line of a photo that could not be enrolled."""
    message = escape(f"{error['code']}: {error['message']}")
    return f"{escape(str(path))}  [bold red]FAILED[/]  {message}"


def _verdict(result: dict[str, Any]) -> str:
    """A comparison result in words."""
    numbers = f"similarity {result['similarity_score']:.4f}, distance {result['distance']:.4f}"
    if result["match"]:
        verdict, relation = "match: embed_id", "<="
    else:
        verdict, relation = "no match: closest embed_id", ">"
    return (
        f"{verdict} {result['embed_id']} "
        f"({numbers} {relation} threshold {result['threshold']:g})"
    )


@app.callback()
def _options(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Option(envvar="FACEMATCH_URL", help="Base URL of the FaceMatch API.")
    ] = DEFAULT_URL,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds to wait for each response.")
    ] = 60.0,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="FACEMATCH_API_KEY", help="Sent as x-api-key: an organization's key or the admin key."),
    ] = None,
) -> None:
    """Enroll faces into an organization and match photos against them."""
    ctx.obj = Api(url.rstrip("/"), timeout, api_key)


@app.command()
def enroll(
    ctx: typer.Context,
    org: Organization,
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="FILE_OR_DIR",
            exists=True,
            readable=True,
            help="Photos, or directories of photos (.jpg .jpeg .png .webp).",
        ),
    ],
    as_json: AsJson = False,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            help="Run the same command again and nothing is enrolled twice. With several photos, "
            "the n-th photo's request (in the order enrolled) carries KEY/n.",
        ),
    ] = None,
) -> None:
    """Enroll the largest face of each photo, one request per photo."""
    files = _images(paths)
    if not files:
        raise typer.BadParameter(
            "no .jpg, .jpeg, .png or .webp files found.", param_hint="FILE_OR_DIR"
        )
    keys = _request_keys(idempotency_key, len(files))
    enrolled: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    with _connect(ctx.obj) as client, _progress(len(files), as_json) as progress:
        task = progress.add_task("enrolling", total=len(files))
        for path, key in zip(files, keys):
            body, error = _call(
                client,
                "POST",
                "/api/embeddings",
                data={"organization": org},
                files={"images": _upload(path)},
                headers={"Idempotency-Key": key} if key else None,
            )
            embeddings = [] if error else body.get("embeddings", [])
            failures = body.get("failed") or []
            if error and not failures:
                failures = [{"image": path.name, "error": error}]
            enrolled += embeddings
            failed += failures
            if not as_json:
                for embedding in embeddings:
                    out.print(_enrolled_line(path, embedding))
                for failure in failures:
                    out.print(_failed_line(path, failure["error"]))
            progress.advance(task)
    if as_json:
        out.print_json(data={"organization": org, "embeddings": enrolled, "failed": failed})
    else:
        out.print(f"enrolled {len(enrolled)}, failed {len(failed)}")
    raise typer.Exit(EXIT_FAILED if failed else 0)


@app.command()
def compare(
    ctx: typer.Context,
    org: Organization,
    image: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", exists=True, dir_okay=False, readable=True, help="The photo to match."
        ),
    ],
    threshold: Annotated[
        float | None,
        typer.Option(help="Largest cosine distance that is a match (default: the server's)."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Find the organization's enrolled face closest to the photo's largest face."""
    data = {"organization": org}
    if threshold is not None:
        data["threshold"] = str(threshold)
    with _connect(ctx.obj) as client:
        body, error = _call(
            client, "POST", "/api/face-compare", data=data, files={"image": _upload(image)}
        )
    if as_json and body:
        out.print_json(data=body)
    if error:
        _fail(error)
    if not as_json:
        out.print(_verdict(body))
    raise typer.Exit(0 if body["match"] else EXIT_FAILED)


@app.command()
def health(ctx: typer.Context) -> None:
    """Check that the API is up; prints its status, model and version."""
    with _connect(ctx.obj) as client:
        body, error = _call(client, "GET", "/api/health")
    if error:
        _fail(error)
    out.print_json(data=body)


@app.command()
def sweep(
    ctx: typer.Context,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the job until it is done.")] = True,
    as_json: AsJson = False,
) -> None:
    """Sweep every organization now (needs the admin key): delete what failures left behind and
    what expired, as the hourly schedule does."""
    with _connect(ctx.obj) as client:
        body, error = _call(client, "POST", "/api/sweeps")
        while not error and wait and body.get("state") == "running":
            time.sleep(SWEEP_POLL_SECONDS)
            body, error = _call(client, "GET", f"/api/jobs/{body['job_id']}")
    if error:
        _fail(error)
    if as_json:
        out.print_json(data=body)
    else:
        counts = ", ".join(f"{name} {count}" for name, count in sorted(body.get("progress", {}).items()))
        out.print(f"sweep {body['state']}: {counts or 'started'}", markup=False)


keys = typer.Typer(help="Create and revoke organizations' API keys (needs the admin key).")
app.add_typer(keys, name="keys")


@keys.command("create")
def create_key(ctx: typer.Context, org: Organization, as_json: AsJson = False) -> None:
    """Create an API key for an organization; it is shown once."""
    with _connect(ctx.obj) as client:
        body, error = _call(client, "POST", f"/api/organizations/{org}/keys")
    if error:
        _fail(error)
    if as_json:
        out.print_json(data=body)
    else:
        out.print(f"key_id {body['key_id']}  api_key {body['api_key']}  (shown once: store it now)", markup=False)


@keys.command("revoke")
def revoke_key(
    ctx: typer.Context,
    org: Organization,
    key_id: Annotated[str, typer.Argument(help="The key_id printed by keys create.")],
) -> None:
    """Revoke an API key (API Gateway may keep accepting it for up to 5 minutes of cache)."""
    with _connect(ctx.obj) as client:
        _, error = _call(client, "DELETE", f"/api/organizations/{org}/keys/{key_id}")
    if error:
        _fail(error)
    out.print(f"revoked {key_id}", markup=False)


def main() -> None:
    """Entry point of the ``facematch`` console script."""
    app()
