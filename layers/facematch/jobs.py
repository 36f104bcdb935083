"""Long jobs: work too long for one invocation, done in bounded, repeatable steps.

A job is a kind (each kind registers one step function), the organization it works on, and an
unguessable id. Submitting one writes its status record and sends the message
``{"job": kind, "organization": ..., "job_id": ...}`` to the job queue (``job_store.py``). The
API function receives it (template.yaml: JobQueue, one message per invocation) and runs
one step: the kind's step function works until a deadline, a margin below the invocation's
remaining time, and says whether the job is done. Not done: the step's counts are added to the
record, the message is sent again (a continuation) and the invocation succeeds. Done: the
record says so, and since when. Waiting: the job handed its work to other workers (a duplicate
report's tasks) and the last of them wakes it (``wake``), sending its message again. A kind may
run on a queue of its own (duplicate reports do, in their worker function): the same records,
messages and steps, another ``JobQueue``.

A step works only from what the stores hold, never from what the message says happened, so a
redelivered or duplicated message runs one more step of a job under way (or finds it done and
does nothing), and a step that died half-way is redone by the redelivery.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from facematch.errors import JobNotFound

if TYPE_CHECKING:
    from facematch.job_store import JobQueue, JobRecords

logger = Logger()

RUNNING, DONE = "running", "done"
# 192 random bits, base64url: the id is the capability that reads the job's status.
JOB_ID_PATTERN = r"^[A-Za-z0-9_-]{32}$"
_JOB_ID = re.compile(JOB_ID_PATTERN)


def new_job_id() -> str:
    return secrets.token_urlsafe(24)


def is_job_id(value: str) -> bool:
    return bool(_JOB_ID.fullmatch(value))


@dataclass(frozen=True)
class Deadline:
    """When a step stops taking new work, on the monotonic clock."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def passed(self) -> bool:
        return time.monotonic() >= self.at


def step_seconds(cap: float, time_left: float, margin: float) -> float:
    """How long a step may work: at most ``cap``, and ``margin`` short of the invocation's end,
    so that the page under way and the continuation still fit. Even with none, a step does some
    work before it stops, so every job ends."""
    return max(0.0, min(cap, time_left - margin))


@dataclass(frozen=True)
class JobStep:
    """What one step did: whether the job is done, and what it counted (added to the record)."""

    done: bool
    counts: Mapping[str, int] = field(default_factory=dict)
    # Where the next step resumes, for a kind whose steps cannot find it in the stores (the
    # sweeper's listing position); sent with the continuation.
    cursor: dict[str, Any] | None = None
    # Not done, and nothing for this job to do until other work wakes it (``Jobs.wake``): a job
    # that fanned tasks out to other workers waits for the last of them. No continuation is sent.
    waiting: bool = False


# A kind's step: (organization, deadline, the previous step's cursor or None) -> what it did. It
# must do some work even when the deadline has passed, or a job could run forever.
Step = Callable[[str, Deadline, "dict[str, Any] | None"], JobStep]


@dataclass(frozen=True)
class JobMessage:
    job: str
    organization: str
    job_id: str
    cursor: dict[str, Any] | None = None

    def to_json(self) -> str:
        body = {"job": self.job, "organization": self.organization, "job_id": self.job_id}
        return json.dumps(body | ({"cursor": self.cursor} if self.cursor else {}))

    @classmethod
    def from_json(cls, body: str) -> JobMessage:
        """The message in an SQS body; ValueError if it is none (the queue retries it, then keeps
        it in the dead-letter queue for inspection)."""
        try:
            data: Any = json.loads(body)
            cursor = data["cursor"] if isinstance(data, dict) and "cursor" in data else None
            if cursor is not None and not isinstance(cursor, dict):
                raise TypeError("a cursor is an object")
            message = cls(str(data["job"]), str(data["organization"]), str(data["job_id"]), cursor)
        except (ValueError, TypeError, KeyError) as error:
            raise ValueError("not a job message") from error
        if not is_job_id(message.job_id):
            raise ValueError("not a job id")
        return message


@dataclass(frozen=True)
class JobRecord:
    """A job's status: times are seconds since the epoch; progress adds up every step's counts."""

    job_id: str
    kind: str
    organization: str
    state: str
    submitted_at: float
    finished_at: float | None = None
    progress: Mapping[str, int] = field(default_factory=dict)


class Jobs:
    """Submit jobs, read their status, and run one step of a job from its message."""

    def __init__(self, records: JobRecords, queue: JobQueue, clock: Callable[[], float] = time.time) -> None:
        self.records = records
        self.queue = queue
        self.clock = clock
        self._steps: dict[str, Step] = {}

    def register(self, kind: str, step: Step) -> None:
        self._steps[kind] = step

    def submit(
        self,
        kind: str,
        organization: str,
        progress: Mapping[str, int] | None = None,
        *,
        job_id: str | None = None,
        cursor: dict[str, Any] | None = None,
    ) -> JobRecord:
        """Start a job: its record first, so that its first step finds it. ``job_id``: an id the
        caller drew (``new_job_id``) for what the job makes; ``cursor``: what its first step reads."""
        record = JobRecord(job_id or new_job_id(), kind, organization, RUNNING, self.clock(), progress=dict(progress or {}))
        self.records.create(record)
        self.queue.send(JobMessage(kind, organization, record.job_id, cursor))
        logger.info("Job submitted", extra={"job": kind, "organization": organization})
        return record

    def wake(self, kind: str, organization: str, job_id: str, cursor: dict[str, Any] | None = None) -> None:
        """Send a waiting job's message again: its next step finds what woke it in the stores. A
        wake-up sent twice runs one more step, which finds nothing new to do."""
        self.queue.send(JobMessage(kind, organization, job_id, cursor))

    def end(self, job_id: str) -> None:
        """Mark a job done from outside its steps (a cancelled report's)."""
        self.records.finish(job_id, {}, self.clock())

    def status(self, job_id: str) -> JobRecord:
        record = self.records.get(job_id) if is_job_id(job_id) else None
        if record is None:
            raise JobNotFound("No job has this id (or its record has expired).")
        return record

    def run(self, body: str, deadline: Deadline) -> None:
        """One step of the job a message names; then the job is done, or its continuation is sent.

        The record, not the message, says what the job is: a message for a job that is done or
        whose record expired is a duplicate, and is dropped."""
        message = JobMessage.from_json(body)
        record = self.records.get(message.job_id)
        if record is None or record.state == DONE:
            logger.info("Job message dropped: the job is done or gone", extra={"job": message.job})
            return
        if record.kind not in self._steps:
            raise ValueError(f"no step runs jobs of kind {record.kind!r}")
        step = self._steps[record.kind](record.organization, deadline, message.cursor)
        counts = {**step.counts, "steps": 1}
        if step.done:
            self.records.finish(record.job_id, counts, self.clock())
        elif step.waiting:
            self.records.add_progress(record.job_id, counts, self.clock())
        else:
            self.records.add_progress(record.job_id, counts, self.clock())
            self.queue.send(replace(message, cursor=step.cursor))

