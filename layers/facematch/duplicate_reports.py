"""Use case: duplicate reports as callers see them: start one, read it (its groups a page at a
time), cancel it. The work runs in the report worker (report_work.py); docs/duplicate-reports.md.

A report's groups hold embed_ids and distances only. Labels are read when a page is shown, and a
face erased since the report ran is left out of it, with its pairs: a group left with one face
is no group. So erasing a person erases them from every report too.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from facematch.audit import Actor, AuditTrail
from facematch.catalog import Catalog
from facematch.config import Settings
from facematch.errors import OrganizationNotFound, ReportNotFound, ReportRunning
from facematch.jobs import Jobs, new_job_id
from facematch.manifest import Manifest
from facematch.models import (
    DuplicateGroup,
    DuplicateReport,
    DuplicateReportAccepted,
    GroupDistance,
    GroupMember,
    ReportProgress,
)
from facematch.page_tokens import PageTokens
from facematch.report_store import ReportObjects, ReportRecords
from facematch.report_store import ReportRunning as ClaimHeld
from facematch.reports import CANCELLED, DONE, FAILED, KIND, PLAN, QUEUED, ReportRecord, cursor_for, finished
from facematch.writes import Writes, timestamp

STALLED = "The report ran past its time limit: a task kept failing (see the dead-letter queue)."


class DuplicateReports:
    def __init__(
        self,
        settings: Settings,
        records: ReportRecords,
        objects: ReportObjects,
        jobs: Jobs,
        writes: Writes,
        catalog: Catalog,
        audit: AuditTrail,
        *,
        same_person: float,
        dimensions: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``jobs``: on the report queue; ``same_person``: the model's threshold, the widest an
        edge may be."""
        self.settings = settings
        self.records = records
        self.objects = objects
        self.jobs = jobs
        self.writes = writes
        self.catalog = catalog
        self.audit = audit
        self.same_person = same_person
        self.dimensions = dimensions
        self.clock = clock
        self.page_tokens = PageTokens(settings)
        self._groups: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()

    def start(
        self, organization: str, max_expected_false_matches: float | None, actor: Actor, api_base: str = ""
    ) -> DuplicateReportAccepted:
        """Queue a report of the organization's faces as they are when it is planned (moments
        from now): one at a time per organization (REPORT_RUNNING otherwise)."""
        settings = self.settings
        manifest = self.writes.readable(organization)
        if not any(ref.count for ref in manifest.of(settings.model).shards):
            raise OrganizationNotFound(f"Organization {organization!r} has no enrolled faces for model {settings.model}.")
        now = self.clock()
        record = ReportRecord(
            report_id=new_job_id(),
            organization=organization,
            generation=manifest.generation,
            state=QUEUED,
            submitted_at=now,
            deadline=now + settings.report_max_hours * 3600,
            expires_at=now + (settings.report_max_hours + settings.report_retention_hours) * 3600,
            model=settings.model,
            dimensions=self.dimensions,
            same_person=self.same_person,
            max_expected_false_matches=max_expected_false_matches or settings.max_expected_false_matches,
        )
        try:
            self.records.create(record, now)
        except ClaimHeld as held:
            raise ReportRunning(
                f"Report {held.report_id} of {organization!r} is under way: read it, or cancel it first."
            ) from None
        try:
            self.jobs.submit(KIND, organization, job_id=record.report_id, cursor=cursor_for(record.report_id, PLAN))
        except Exception:
            self.records.end(finished(record, FAILED, self.clock(), 3600, error="The report could not be queued."))
            raise
        self.audit.add(organization, "duplicate_report.started", actor, report_id=record.report_id)
        return DuplicateReportAccepted(report_id=record.report_id, status_url=self._url(api_base, record))

    def status(
        self,
        organization: str,
        report_id: str,
        *,
        limit: int = 50,
        next_token: str | None = None,
        include_same_label: bool = False,
        api_base: str = "",
    ) -> DuplicateReport:
        record = self._record(organization, report_id)
        groups, token = None, None
        if record.state == DONE:
            groups, token = self._page(record, limit, next_token, include_same_label)
        stalled = record.stalled(self.clock())
        return DuplicateReport(
            report_id=record.report_id,
            organization=organization,
            status=FAILED if stalled else record.state,
            progress=ReportProgress(done=record.tasks_done, total=record.tasks_total),
            submitted_at=timestamp(record.submitted_at),
            finished_at=timestamp(record.finished_at) if record.finished_at else None,
            expires_at=timestamp(record.expires_at),
            max_expected_false_matches=record.max_expected_false_matches,
            faces=record.faces,
            comparisons=record.comparisons,
            significant_distance=record.significant_distance,
            manifest_version=record.manifest_version,
            groups_found=record.groups,
            groups=groups,
            next_token=token,
            reason=STALLED if stalled else record.error,
            status_url=self._url(api_base, record),
        )

    def cancel(self, organization: str, report_id: str, actor: Actor, api_base: str = "") -> DuplicateReport:
        """Cancel a report under way: its tasks stop at their next look, and what it wrote is
        deleted. A report that ended already is left as it is."""
        record = self._record(organization, report_id)
        if record.under_way:
            ended = finished(record, CANCELLED, self.clock(), self.settings.report_retention_hours * 3600)
            if self.records.end(ended):
                self.objects.delete_report(organization, record.generation, report_id)
                self.jobs.end(report_id)
                self.audit.add(organization, "duplicate_report.cancelled", actor, report_id=report_id)
        return self.status(organization, report_id, api_base=api_base)

    def _record(self, organization: str, report_id: str) -> ReportRecord:
        self.writes.readable(organization)  # 409 while a purge runs
        record = self.records.get(organization, report_id, self.clock())
        if record is None:
            raise ReportNotFound(f"Organization {organization!r} has no duplicate report {report_id!r} (or it expired).")
        return record

    def _page(
        self, record: ReportRecord, limit: int, next_token: str | None, include_same_label: bool
    ) -> tuple[list[DuplicateGroup], str | None]:
        """A page of groups from ``next_token`` on, without the faces erased since."""
        listing = f"#report:{record.report_id}:{include_same_label}"
        start = self.page_tokens.start_key(next_token, record.organization, listing)
        stored = self._stored_groups(record)
        manifest = self.writes.readable(record.organization)
        index = int(start["index"]) if start else 0
        chosen = []
        while index < len(stored) and len(chosen) < limit:
            group = _without_erased(stored[index], manifest)
            index += 1
            if group and (include_same_label or not group["same_label"]):
                chosen.append(group)
        labels = self.catalog.labels(record.organization, sorted({m for g in chosen for m in g["members"]}))
        page = [shown for group in chosen if (shown := _shown(group, labels, include_same_label))]
        token = self.page_tokens.issue({"index": index}, record.organization, listing) if index < len(stored) else None
        return page, token

    def _stored_groups(self, record: ReportRecord) -> list[dict[str, Any]]:
        """A done report's groups, as merged: they never change, so a process keeps a few."""
        groups = self._groups.get(record.report_id)
        if groups is None:
            groups = self._groups[record.report_id] = self.objects.groups(record)
            while len(self._groups) > 4:
                self._groups.popitem(last=False)
        return groups

    def _url(self, api_base: str, record: ReportRecord) -> str:
        return f"{api_base}/api/duplicate-reports/{record.report_id}?organization={record.organization}"


def _without_erased(group: dict[str, Any], manifest: Manifest) -> dict[str, Any] | None:
    members = [member for member in group["members"] if manifest.is_live(member)]
    if len(members) < 2:
        return None
    kept = set(members)
    pairs = [pair for pair in group["pairs"] if pair[0] in kept and pair[1] in kept]
    return {**group, "members": members, "pairs": pairs}


def _shown(group: dict[str, Any], labels: dict[int, str | None], include_same_label: bool) -> DuplicateGroup | None:
    """The group as answers show it; None when erasures since left it one face, or left it all
    one label (and those are not asked for). A face whose metadata is gone was erased just now."""
    members = [member for member in group["members"] if member in labels]
    named = [labels[member] for member in members]
    if len(members) < 2 or (not include_same_label and None not in named and len(set(named)) == 1):
        return None
    kept = set(members)
    pairs = sorted((pair for pair in group["pairs"] if pair[0] in kept and pair[1] in kept), key=lambda pair: pair[2])
    return DuplicateGroup(
        members=[GroupMember(embed_id=member, external_id=labels[member]) for member in members],
        distances=[GroupDistance(first=a, second=b, distance=d) for a, b, d in pairs],
    )
