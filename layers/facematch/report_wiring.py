"""The duplicate reports' worker function, assembled: numpy and the stores, no face model (its
image is the face functions', but it never imports the face code). wiring.py assembles the rest."""

from __future__ import annotations

import time
from collections.abc import Callable

from facematch.aws import client
from facematch.catalog import Catalog
from facematch.config import Settings, get_settings
from facematch.job_store import JobQueue, JobRecords
from facematch.jobs import Jobs
from facematch.report_store import ReportObjects, ReportRecords, ReportTasks
from facematch.report_work import ReportWork
from facematch.shards import ShardStore


def report_jobs(settings: Settings, catalog: Catalog, clock: Callable[[], float]) -> Jobs:
    """Long jobs on the report queue: a duplicate report's steps run in its worker function."""
    return Jobs(JobRecords(catalog.table_name), JobQueue(settings.report_queue_url), clock)


class ReportWorker:
    """The duplicate reports' worker function, assembled: numpy and the stores, no face model."""

    def __init__(
        self, settings: Settings, catalog: Catalog, store: ShardStore, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.work = ReportWork(
            settings, ReportRecords(catalog.table_name), ReportObjects(store), ReportTasks(settings.report_queue_url),
            report_jobs(settings, catalog, clock), store, catalog, clock,
        )

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> ReportWorker:
        settings = settings or get_settings()
        for service_name in ("s3", "dynamodb", "sqs"):
            client(service_name)
        return cls(settings, Catalog(settings.table), ShardStore(settings.bucket))
