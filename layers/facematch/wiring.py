"""FaceMatch assembled: the stores, the write module and the use cases, built once per process
(at Lambda init, where the model load is what a cold start pays for). Each route calls one use
case: ``enrollment``, ``matching``, ``calibrations``, ``holdings``, ``keys``, ``uploads``,
``long_jobs``, ``reports`` or ``audit``. The duplicate reports' worker function is assembled
apart, without the face model (report_wiring.py)."""

from __future__ import annotations

import time
from collections.abc import Callable

from facematch import __version__, vector_cache
from facematch.audit import AuditTrail
from facematch.audit_store import AuditStore
from facematch.aws import client
from facematch.calibration import Calibrations
from facematch.catalog import Catalog
from facematch.config import Settings, get_settings
from facematch.duplicate_reports import DuplicateReports
from facematch.duplicates import DuplicateFinder
from facematch.enrollment import Enrollment
from facematch.faces import FaceEmbedder
from facematch.holdings import Holdings
from facematch.job_store import JobQueue, JobRecords
from facematch.jobs import Jobs
from facematch.key_store import ApiKeys
from facematch.keys import Keys
from facematch.long_jobs import LongJobs
from facematch.matching import Matching
from facematch.models import Health
from facematch.purges import KIND as PURGE
from facematch.report_store import ReportObjects, ReportRecords
from facematch.report_wiring import report_jobs
from facematch.search import VectorStore
from facematch.shards import ShardStore
from facematch.sweeper import KIND as SWEEP
from facematch.sweeper import Sweeper
from facematch.upload_store import UploadStore
from facematch.uploads import Uploads
from facematch.writes import Writes


class FaceMatch:
    def __init__(
        self,
        settings: Settings,
        embedder: FaceEmbedder,
        catalog: Catalog,
        store: ShardStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.catalog = catalog
        self.shards = store
        self.clock = clock
        self.vectors = VectorStore(
            store, embedder.dimensions, settings.shard_load_concurrency, clock,
            budget_bytes=vector_cache.budget_bytes(settings),
        )
        self.jobs = Jobs(JobRecords(catalog.table_name), JobQueue(settings.job_queue_url), clock)
        self.writes = Writes(
            catalog, store, embedder.dimensions, settings.shard_load_concurrency, clock,
            jobs=self.jobs, purge_step_seconds=settings.purge_request_seconds,
            max_faces=settings.max_faces_per_organization,
        )
        self.jobs.register(PURGE, self.writes.purges.step)
        self.jobs.register(SWEEP, Sweeper(self.writes).job_step)
        self.enrollment = Enrollment(
            settings, embedder, self.writes, self.writes.once, DuplicateFinder(settings, self.vectors, catalog, embedder.default_threshold)
        )
        self.matching = Matching(settings, embedder, self.vectors, catalog)
        self.calibrations = Calibrations(settings, embedder, self.vectors)
        self.audit = AuditTrail(settings, AuditStore(settings.audit_table_name), clock)
        self.holdings = Holdings(settings, catalog, self.writes, self.vectors, self.jobs, self.audit, clock)
        self.keys = Keys(ApiKeys(catalog.table_name), self.audit, clock)
        self.uploads = Uploads(
            settings, UploadStore(store.bucket, catalog.table_name), self.enrollment, self.writes.once, clock
        )
        self.long_jobs = LongJobs(settings, self.jobs)
        self.reports = DuplicateReports(
            settings, ReportRecords(catalog.table_name), ReportObjects(store), report_jobs(settings, catalog, clock),
            self.writes, catalog, self.audit, same_person=embedder.default_threshold,
            dimensions=embedder.dimensions, clock=clock,
        )

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> FaceMatch:
        """FaceMatch with its model and AWS clients built now (Lambda's init), not per request."""
        settings = settings or get_settings()
        embedder = FaceEmbedder.load(settings.model, settings.detector, settings.detection_max_side)
        for service_name in ("s3", "dynamodb"):
            client(service_name)
        return cls(settings, embedder, Catalog(settings.table), ShardStore(settings.bucket))

    def health(self) -> Health:
        return Health(status="ok", model=self.settings.model, detector=self.settings.detector, version=__version__)

