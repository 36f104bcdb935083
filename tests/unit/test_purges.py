"""The purge's pure parts (purges.py): what a step may delete, and what backups keep, without AWS."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from facematch.purges import PITR_DAYS, S3_NONCURRENT_DAYS, backups, older_generation
from facematch_local.resources import load_template


def test_a_purge_deletes_older_generations_only_never_the_manifest_nor_a_newer_generation():
    deletable = older_generation("acme", 3)
    assert deletable("orgs/acme/g1/models/Dlib/shards/a.npy")
    assert deletable("orgs/acme/g2/images/7")
    assert not deletable("orgs/acme/g3/models/Dlib/shards/b.npy")
    assert not deletable("orgs/acme/g10/images/7")  # a later purge's generation, though "g1" begins it
    assert not deletable("orgs/acme/manifest.json")
    assert not deletable("orgs/acme2/g1/images/7")


def test_backups_hold_a_purge_30_days_in_s3_versions_and_35_in_point_in_time_recovery():
    finished = datetime(2026, 11, 30, 10, 0, tzinfo=timezone.utc)
    held = {copy.store: datetime.fromisoformat(copy.until) for copy in backups(finished.timestamp())}
    assert held == {
        "s3-noncurrent-versions": finished + timedelta(days=30),
        "dynamodb-point-in-time-recovery": finished + timedelta(days=35),
    }


def test_the_backup_dates_are_the_templates_own():
    resources = load_template()["Resources"]
    rules = resources["FaceMatchBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    (versions,) = [rule for rule in rules if rule["Id"] == "ExpireOldVersions"]
    assert versions["NoncurrentVersionExpiration"]["NoncurrentDays"] == S3_NONCURRENT_DAYS
    table = resources["FaceMatchTable"]["Properties"]
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert PITR_DAYS == 35  # DynamoDB's retention when none is configured
    assert "RecoveryPeriodInDays" not in table["PointInTimeRecoverySpecification"]
