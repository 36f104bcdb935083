"""``make run``: FaceMatch's API on localhost, backed by embedded AWS services (moto) by default.

    PORT                    API port (default 3000)
    FACEMATCH_AWS_PORT      embedded S3/DynamoDB/SQS port (default 4566)
    FACEMATCH_ADMIN_KEY     the admin API key (default: a new random one, printed at start)
    FACEMATCH_PAGE_TOKEN_SECRET  signs page tokens (default: a new random one)
    FACEMATCH_PROJECT_ROOT  the checkout: template.yaml, openapi.json, functions/ (the Makefile
                            sets it; default: the current directory)
    FACEMATCH_AWS_ENDPOINT  use this AWS-compatible endpoint instead of the embedded one
    FACEMATCH_BUCKET, FACEMATCH_TABLE with real AWS credentials and no endpoint: use real AWS
                            (the audit trail in FACEMATCH_AUDIT_TABLE, default FACEMATCH_TABLE-audit)
                            (and FACEMATCH_JOB_QUEUE_URL, the stack's JobQueue, for purges too long
                            for one request: its jobs then run in the deployed function)
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import signal
import sys
import threading
import time

from werkzeug.serving import make_server

from facematch_local.project import OPENAPI_FILE
from facematch_local.terminal import own_foreground_group

HOST = "127.0.0.1"
LOCAL_BUCKET = "facematch-local"
LOCAL_TABLE = "facematch-local"
EMBEDDED, EXTERNAL, REAL_AWS = "embedded", "external endpoint", "real AWS"


def _configure_environment() -> str:
    """Decide where AWS lives and export the settings the handlers read at init."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "facematch")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "FaceMatch")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon on a laptop
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("FACEMATCH_ADMIN_KEY", secrets.token_urlsafe(32))
    os.environ.setdefault("FACEMATCH_PAGE_TOKEN_SECRET", secrets.token_urlsafe(32))
    # The image names its copy of the document; here it is the project's own.
    os.environ.setdefault("FACEMATCH_OPENAPI_FILE", str(OPENAPI_FILE))
    if os.environ.get("FACEMATCH_AWS_ENDPOINT"):
        return EXTERNAL
    if os.environ.get("FACEMATCH_BUCKET") and os.environ.get("FACEMATCH_TABLE"):
        return REAL_AWS
    os.environ.update(
        {
            "FACEMATCH_BUCKET": LOCAL_BUCKET,
            "FACEMATCH_TABLE": LOCAL_TABLE,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
        }
    )
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    return EMBEDDED


def _start_embedded_aws() -> object:
    from facematch_local.embedded_aws import start_moto_server

    server, endpoint = start_moto_server(int(os.environ.get("FACEMATCH_AWS_PORT", "4566")))
    os.environ["FACEMATCH_AWS_ENDPOINT"] = endpoint
    return server


def _banner(
    port: int, mode: str, routes: list, uploads_polled: bool, functions: list[str], load_seconds: float
) -> str:
    from facematch.config import get_settings

    settings = get_settings()
    endpoint = settings.aws_endpoint
    where = {
        EMBEDDED: "in memory (moto); everything is gone when this process stops",
        EXTERNAL: f"at {endpoint}",
        REAL_AWS: "in your AWS account",
    }[mode]
    lines = [
        f"FaceMatch API      http://{HOST}:{port}   (Swagger UI: http://{HOST}:{port}/api/swagger)",
        "Routes             " + ", ".join(f"{r.method} {r.resource}" for r in routes),
        f"Admin API key      {settings.admin_key.get_secret_value()}   (send as x-api-key)",
        f"S3 / DynamoDB      {endpoint or 'AWS'}   bucket {settings.bucket}, table {settings.table}",
        f"Data               {where}",
        f"Model              {settings.model} with detector {settings.detector}",
        f"Functions          {', '.join(functions)}: a process each (ready in {load_seconds:.1f} s)",
    ]
    if uploads_polled:
        copy = f"aws s3 cp photo.jpg s3://{settings.bucket}/uploads/ORGANIZATION/"
        lines.append(f"Uploads            {copy}{f' --endpoint-url {endpoint}' if endpoint else ''}")
    return "\n".join([*lines, "Press Ctrl-C to stop."])


def main() -> None:
    with own_foreground_group():
        _serve()


def _serve() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    # One line per API request (ours); the embedded servers' per-request logs are noise.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    stop = threading.Event()

    def request_stop(signum, frame):  # noqa: ANN001, ARG001 - signal handler signature
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    port = int(os.environ.get("PORT", "3000"))
    mode = _configure_environment()
    moto_server = _start_embedded_aws() if mode == EMBEDDED else None

    # Imported after the environment is set: configuration is read once.
    from facematch.config import get_settings
    from facematch_local.functions import FunctionError
    from facematch_local.gateway import LocalGateway
    from facematch_local.queues import QueuePoller
    from facematch_local.resources import create_resources
    from facematch_local.workers import WorkerFunctions

    settings = get_settings()
    queue_urls = create_resources(settings.bucket, settings.table, audit_table=settings.audit_table_name) if mode != REAL_AWS else {}
    # As template.yaml hands them to the functions.
    for queue, variable in (("JobQueue", "FACEMATCH_JOB_QUEUE_URL"), ("ReportQueue", "FACEMATCH_REPORT_QUEUE_URL")):
        if queue in queue_urls:
            os.environ[variable] = queue_urls[queue]
    # Each function in its own process, as Lambda runs it; they inherit this environment.
    functions = WorkerFunctions()
    started = time.monotonic()
    try:
        functions.start()
    except FunctionError as error:
        functions.stop()
        sys.exit(f"FaceMatch could not start: {error}\n{error.trace}")
    load_seconds = time.monotonic() - started
    gateway = LocalGateway(functions)
    server = make_server(HOST, port, gateway, threaded=True)
    # In real AWS, Lambda's own event source mapping polls the queue.
    pollers = [
        QueuePoller(
            queue_urls[source.queue],
            source.batch_size,
            functools.partial(functions.invoke, source.function),
            stop,
        )
        for source in gateway.queue_sources
        if source.queue in queue_urls
    ]
    banner = _banner(port, mode, gateway.routes, bool(pollers), list(functions.workers), load_seconds)
    print(banner, flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for poller in pollers:
        poller.start()
    stop.wait()
    print("Stopping FaceMatch...", flush=True)
    server.shutdown()
    for poller in pollers:
        poller.join(timeout=10)
    functions.stop()
    if moto_server:
        moto_server.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
