"""Use case: long jobs as callers see them: start a sweep, read a job's status, run a step of one
(the job queue's messages). jobs.py is the mechanism; purges.py and sweeper.py the kinds."""

from __future__ import annotations

from facematch.config import Settings
from facematch.jobs import Deadline, Jobs, step_seconds
from facematch.models import Job
from facematch.purges import KIND as PURGE
from facematch.purges import backups as purge_backups
from facematch.sweeper import EVERY_ORGANIZATION
from facematch.sweeper import KIND as SWEEP
from facematch.writes import timestamp


class LongJobs:
    def __init__(self, settings: Settings, jobs: Jobs) -> None:
        self.settings = settings
        self.jobs = jobs

    def start_sweep(self, api_base: str = "") -> Job:
        """Submit a sweep of every organization (docs/erasure.md); its status is a job's."""
        record = self.jobs.submit(SWEEP, EVERY_ORGANIZATION)
        return self.status(record.job_id, api_base)

    def status(self, job_id: str, api_base: str = "") -> Job:
        """A job's status, for whoever holds its id (the id is the capability)."""
        record = self.jobs.status(job_id)
        done = record.finished_at is not None
        return Job(
            job_id=job_id,
            kind=record.kind,
            organization=record.organization,
            state=record.state,
            submitted_at=timestamp(record.submitted_at),
            finished_at=timestamp(record.finished_at) if done else None,
            progress=dict(record.progress),
            backups=purge_backups(record.finished_at) if done and record.kind == PURGE else None,
            status_url=f"{api_base}/api/jobs/{job_id}",
        )

    def run(self, body: str, time_left: float) -> None:
        """One step of the job a queue message names; ``time_left``: the invocation's seconds left."""
        settings = self.settings
        self.jobs.run(body, Deadline.after(step_seconds(settings.job_step_seconds, time_left, settings.job_margin_seconds)))
