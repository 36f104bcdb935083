"""Running the local stack (`make run`) in a subprocess on free ports, as a developer would."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from facematch_local.embedded_aws import free_port

ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = "e2e-admin-key"


@dataclass
class LocalStack:
    process: subprocess.Popen
    url: str
    aws_endpoint: str
    log: Path

    def stop(self, timeout: float = 60) -> None:
        """Ctrl-C, as a person at the terminal would press it (the whole process group gets it)."""
        os.killpg(self.process.pid, signal.SIGINT)
        self.process.wait(timeout=timeout)

    def group_alive(self) -> bool:
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True


def stack_environment(port: int, aws_port: int) -> dict[str, str]:
    """The environment `make run` gets: its ports, the admin key, and the embedded AWS services.
    Without the local AWS WAF rate limits: the fuzzer alone sends more than one key's 3000 requests
    in 5 minutes (the unit tests check the limits)."""
    env = {**os.environ, "PORT": str(port), "FACEMATCH_AWS_PORT": str(aws_port), "FACEMATCH_ADMIN_KEY": ADMIN_KEY}
    env["FACEMATCH_RATE_LIMITS"] = "off"
    for name in ("FACEMATCH_AWS_ENDPOINT", "FACEMATCH_BUCKET", "FACEMATCH_TABLE", "FACEMATCH_AUDIT_TABLE", "AWS_SESSION_TOKEN"):
        env.pop(name, None)
    return env


def start_stack(log: Path) -> LocalStack:
    port, aws_port = free_port(), free_port()
    env = stack_environment(port, aws_port)
    with open(log, "wb") as output:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "run"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )
    stack = LocalStack(process, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{aws_port}", log)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"make run exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{stack.url}/api/health", timeout=2).status_code == 200:
                return stack
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    stack.stop()
    raise RuntimeError(f"make run did not serve /api/health in time:\n{log.read_text()}")


def wait_for_uploads(stack: LocalStack, organization: str, seconds: float = 30) -> list[dict]:
    """The organization's upload outcomes, once the queue poller has processed something."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        uploads = httpx.get(
            f"{stack.url}/api/uploads", params={"organization": organization},
            headers={"x-api-key": ADMIN_KEY}, timeout=10,
        ).json()["uploads"]
        if uploads:
            return uploads
        time.sleep(0.5)
    return []
