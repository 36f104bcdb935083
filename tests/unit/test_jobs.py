"""The long-job mechanism's own logic (jobs.py), without AWS: its stores are in memory here."""

from __future__ import annotations

import json

import pytest

from facematch.errors import JobNotFound
from facematch.events import is_job_event
from facematch.jobs import (
    DONE,
    RUNNING,
    Deadline,
    JobMessage,
    JobRecord,
    Jobs,
    JobStep,
    is_job_id,
    new_job_id,
    step_seconds,
)

JOB_QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/facematch-prod-JobQueue"


class Records:
    """JobRecords' contract, in memory."""

    def __init__(self) -> None:
        self.records: dict[str, JobRecord] = {}

    def create(self, record: JobRecord) -> None:
        self.records[record.job_id] = record

    def get(self, job_id: str) -> JobRecord | None:
        return self.records.get(job_id)

    def add_progress(self, job_id: str, counts: dict[str, int], now: float) -> None:
        record = self.records[job_id]
        progress = {**record.progress, **{k: record.progress.get(k, 0) + v for k, v in counts.items()}}
        self.records[job_id] = JobRecord(**{**vars(record), "progress": progress})

    def finish(self, job_id: str, counts: dict[str, int], now: float) -> None:
        if self.records[job_id].state == RUNNING:
            self.add_progress(job_id, counts, now)
            self.records[job_id] = JobRecord(**{**vars(self.records[job_id]), "state": DONE, "finished_at": now})


class Queue:
    def __init__(self) -> None:
        self.sent: list[JobMessage] = []

    def send(self, message: JobMessage) -> None:
        self.sent.append(message)


def jobs_running(*steps: JobStep) -> tuple[Jobs, Records, Queue, list[str]]:
    """Jobs whose ``purge`` steps answer ``steps`` in turn; the organizations they were run for."""
    records, queue, seen = Records(), Queue(), []
    jobs = Jobs(records, queue, clock=lambda: 1_800_000_000.0)
    answers = iter(steps)
    jobs.register("purge", lambda organization, deadline, cursor: seen.append(organization) or next(answers))
    return jobs, records, queue, seen


def test_a_job_id_has_192_random_bits_and_only_well_formed_ids_are_ids():
    ids = {new_job_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(is_job_id(job_id) and len(job_id) == 32 for job_id in ids)
    for bad in ("", "A" * 31, "A" * 33, "A" * 31 + "/", "A" * 31 + "=", "../" + "A" * 29):
        assert not is_job_id(bad)


def test_a_step_works_up_to_its_cap_and_stops_a_margin_before_the_invocation_ends():
    assert step_seconds(cap=600, time_left=25, margin=5) == 20
    assert step_seconds(cap=3, time_left=25, margin=5) == 3
    assert step_seconds(cap=600, time_left=4, margin=5) == 0  # never negative: it does one page
    assert not Deadline.after(60).passed() and Deadline.after(0).passed()


def test_a_job_message_reads_back_what_was_sent_and_anything_else_is_refused():
    message = JobMessage("purge", "acme", new_job_id())
    assert JobMessage.from_json(message.to_json()) == message
    assert json.loads(message.to_json()) == {"job": "purge", "organization": "acme", "job_id": message.job_id}
    for body in ("", "not json", "[]", '{"job": "purge"}', json.dumps({"job": "purge", "organization": "a", "job_id": "x"})):
        with pytest.raises(ValueError):
            JobMessage.from_json(body)


def test_only_a_batch_from_the_job_queue_is_a_job_event():
    def event(arn: str, source: str = "aws:sqs") -> dict:
        return {"Records": [{"eventSource": source, "eventSourceARN": arn, "body": "{}"}]}

    assert is_job_event(event("arn:aws:sqs:us-east-1:123456789012:facematch-prod-JobQueue"), JOB_QUEUE)
    assert not is_job_event(event("arn:aws:sqs:us-east-1:123456789012:facematch-prod-UploadQueue"), JOB_QUEUE)
    assert not is_job_event(event("arn:aws:sqs:us-east-1:123456789012:facematch-prod-JobQueue", "aws:s3"), JOB_QUEUE)
    assert not is_job_event(event("arn:aws:sqs:us-east-1:123456789012:facematch-prod-JobQueue"), None)
    assert not is_job_event({"httpMethod": "GET", "path": "/api/health"}, JOB_QUEUE)


def test_an_unfinished_step_adds_its_counts_and_sends_the_job_again_and_the_last_one_marks_it_done():
    jobs, records, queue, seen = jobs_running(JobStep(False, {"deleted_items": 3}), JobStep(True, {"deleted_items": 2}))
    record = jobs.submit("purge", "acme", {"deleted_items": 1, "steps": 1})
    (message,) = queue.sent
    jobs.run(message.to_json(), Deadline.after(1))
    assert queue.sent == [message, message]  # the continuation: the same message
    assert records.get(record.job_id).progress == {"deleted_items": 4, "steps": 2}
    jobs.run(message.to_json(), Deadline.after(1))
    done = records.get(record.job_id)
    assert (done.state, done.finished_at, done.progress) == (DONE, 1_800_000_000.0, {"deleted_items": 6, "steps": 3})
    assert len(queue.sent) == 2 and seen == ["acme", "acme"]


def test_a_message_for_a_job_done_or_gone_is_dropped_and_runs_no_step():
    jobs, records, queue, seen = jobs_running(JobStep(True))
    record = jobs.submit("purge", "acme")
    jobs.run(queue.sent[0].to_json(), Deadline.after(1))
    jobs.run(queue.sent[0].to_json(), Deadline.after(1))  # a redelivery after the job was done
    jobs.run(JobMessage("purge", "acme", new_job_id()).to_json(), Deadline.after(1))  # an expired record
    assert seen == ["acme"] and len(queue.sent) == 1
    assert records.get(record.job_id).state == DONE


def test_the_record_not_the_message_says_what_a_job_works_on():
    jobs, _, queue, seen = jobs_running(JobStep(True))
    record = jobs.submit("purge", "acme")
    jobs.run(JobMessage("purge", "someone-else", record.job_id).to_json(), Deadline.after(1))
    assert seen == ["acme"]


def test_a_job_of_a_kind_no_step_runs_is_refused_so_the_queue_keeps_it():
    jobs, _, queue, _ = jobs_running()
    record = jobs.submit("sweep", "acme")
    with pytest.raises(ValueError):
        jobs.run(queue.sent[0].to_json(), Deadline.after(1))
    assert jobs.status(record.job_id).state == RUNNING


def test_an_unknown_or_malformed_job_id_has_no_status():
    jobs, *_ = jobs_running()
    for job_id in (new_job_id(), "not an id"):
        with pytest.raises(JobNotFound):
            jobs.status(job_id)


def test_a_waiting_step_adds_its_counts_sends_nothing_and_a_wake_up_runs_the_next_step_with_its_cursor():
    records, queue = Records(), Queue()
    jobs = Jobs(records, queue, clock=lambda: 1_800_000_000.0)
    cursors = []
    answers = iter([JobStep(False, {"tasks_sent": 5}, waiting=True), JobStep(True, {"groups": 2})])
    jobs.register("report", lambda organization, deadline, cursor: cursors.append(cursor) or next(answers))
    job_id = new_job_id()
    record = jobs.submit("report", "acme", job_id=job_id, cursor={"phase": "plan"})
    assert record.job_id == job_id
    jobs.run(queue.sent[0].to_json(), Deadline.after(1))
    assert len(queue.sent) == 1 and records.get(job_id).state == RUNNING  # waiting: no continuation
    assert records.get(job_id).progress == {"tasks_sent": 5, "steps": 1}

    jobs.wake("report", "acme", job_id, {"phase": "merge"})
    jobs.run(queue.sent[1].to_json(), Deadline.after(1))
    assert cursors == [{"phase": "plan"}, {"phase": "merge"}]
    assert records.get(job_id).state == DONE


def test_a_job_ended_from_outside_its_steps_is_done_and_its_next_message_is_dropped():
    jobs, records, queue, seen = jobs_running(JobStep(True))
    record = jobs.submit("purge", "acme")
    jobs.end(record.job_id)
    jobs.run(queue.sent[0].to_json(), Deadline.after(1))
    assert records.get(record.job_id).state == DONE and seen == []
