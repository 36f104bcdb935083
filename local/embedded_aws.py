"""Embedded AWS services (moto's server) on a local port, as atomic as S3 and DynamoDB are."""

from __future__ import annotations

import logging
import socket

from moto.server import ThreadedMotoServer

from facematch_local.moto_atomic import make_writes_atomic

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def start_moto_server(port: int | None = None) -> tuple[ThreadedMotoServer, str]:
    """Start moto's server on ``port`` (a free one by default); returns it and its endpoint URL."""
    make_writes_atomic()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    port = port or free_port()
    server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    server.start()
    return server, f"http://{HOST}:{port}"
