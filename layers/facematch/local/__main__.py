"""``make run``: FaceMatch's API on localhost, backed by embedded AWS services (moto) by default.

    PORT                    API port (default 3000)
    FACEMATCH_AWS_PORT      embedded S3/DynamoDB port (default 4566)
    FACEMATCH_AWS_ENDPOINT  use this AWS-compatible endpoint instead of the embedded one
    FACEMATCH_BUCKET, FACEMATCH_TABLE with real AWS credentials and no endpoint: use real AWS
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
import time

from werkzeug.serving import make_server

LOCAL_BUCKET = "facematch-local"
LOCAL_TABLE = "facematch-local"


def _configure_environment() -> str:
    """Decide where AWS lives and export the settings the handlers read at init."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "facematch")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "FaceMatch")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon on a laptop
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    if os.environ.get("FACEMATCH_AWS_ENDPOINT"):
        return "external endpoint"
    if os.environ.get("FACEMATCH_BUCKET") and os.environ.get("FACEMATCH_TABLE"):
        return "real AWS"
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
    return "embedded"


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    # One line per API request (ours); the embedded servers' per-request logs are noise.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    host = "127.0.0.1"
    port = int(os.environ.get("PORT", "3000"))
    mode = _configure_environment()
    moto_server = None
    if mode == "embedded":
        from moto.server import ThreadedMotoServer

        from facematch.local.moto_s3 import make_conditional_writes_atomic

        make_conditional_writes_atomic()

        aws_port = int(os.environ.get("FACEMATCH_AWS_PORT", "4566"))
        moto_server = ThreadedMotoServer(ip_address=host, port=aws_port, verbose=False)
        moto_server.start()
        os.environ["FACEMATCH_AWS_ENDPOINT"] = f"http://{host}:{aws_port}"

    # Imported after the environment is set: configuration is read once.
    from facematch.config import get_settings
    from facematch.local.gateway import LocalGateway
    from facematch.local.queues import QueuePoller
    from facematch.resources import create_resources

    settings = get_settings()
    queue_urls = create_resources(settings.bucket, settings.table) if mode != "real AWS" else {}
    started = time.monotonic()
    gateway = LocalGateway()
    gateway.load_handlers()
    server = make_server(host, port, gateway, threaded=True)
    stop = threading.Event()
    # In real AWS, Lambda's own event source mapping polls the queue.
    pollers = [
        QueuePoller(
            queue_urls[source.queue],
            source.batch_size,
            functools.partial(gateway.invoke, source.function),
            stop,
        )
        for source in gateway.queue_sources
        if source.queue in queue_urls
    ]

    store = {
        "embedded": "in memory (moto); everything is gone when this process stops",
        "external endpoint": f"at {settings.aws_endpoint}",
        "real AWS": "in your AWS account",
    }[mode]
    print(
        f"FaceMatch API      http://{host}:{port}   (routes from template.yaml: "
        + ", ".join(f"{r.method} {r.resource}" for r in gateway.routes)
        + ")\n"
        f"S3 / DynamoDB      {settings.aws_endpoint or 'AWS'}   bucket {settings.bucket}, table {settings.table}\n"
        f"Data               {store}\n"
        f"Model              {settings.model} with detector {settings.detector} "
        f"(loaded in {time.monotonic() - started:.1f} s)\n"
        + (
            f"Uploads            aws s3 cp photo.jpg s3://{settings.bucket}/uploads/ORGANIZATION/"
            + (f" --endpoint-url {settings.aws_endpoint}" if settings.aws_endpoint else "")
            + "   (enrolled within seconds)\n"
            if pollers
            else ""
        )
        + "Press Ctrl-C to stop.",
        flush=True,
    )

    def request_stop(signum, frame):  # noqa: ANN001, ARG001 - signal handler signature
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    for poller in pollers:
        poller.start()
    stop.wait()
    print("Stopping FaceMatch...", flush=True)
    server.shutdown()
    for poller in pollers:
        poller.join(timeout=10)
    if moto_server:
        moto_server.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
