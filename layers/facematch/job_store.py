"""Where long jobs live (data access only): status records in DynamoDB, messages in SQS.

A job's record is ``JOB#<sha256 of its id>`` / ``JOB`` in the table (table.py), outside every
organization's partition, so a purge never deletes its own record: kind, organization, state,
submitted_at, finished_at (seconds since the epoch), progress (counts) and ``expiration``, the
table's TTL attribute. The id itself is not stored: it is the capability that reads the status,
so, as for API keys, only its hash is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from facematch.aws import client
from facematch.jobs import DONE, RUNNING, JobMessage, JobRecord
from facematch.table import Table, conditional_check_failed, job_key, to_item

# A record outlives its job by as long as DynamoDB's point-in-time recovery keeps anything of a
# purge (35 days): its status says until when backups hold what was purged.
RECORD_SECONDS = 35 * 24 * 3600


def _key(job_id: str) -> dict[str, Any]:
    return to_item(job_key(job_id))


class JobRecords:
    def __init__(self, table_name: str | None = None) -> None:
        self.table = Table(table_name)

    def create(self, record: JobRecord) -> None:
        client("dynamodb").put_item(
            TableName=self.table.name,
            Item={
                **_key(record.job_id),
                **to_item(
                    {
                        "kind": record.kind,
                        "organization": record.organization,
                        "state": record.state,
                        "submitted_at": record.submitted_at,
                        "progress": dict(record.progress),
                        "expiration": int(record.submitted_at) + RECORD_SECONDS,
                    }
                ),
            },
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get(self, job_id: str) -> JobRecord | None:
        item = self.table.get(job_key(job_id))
        if item is None:
            return None
        return JobRecord(
            job_id=job_id,
            kind=item["kind"],
            organization=item["organization"],
            state=item["state"],
            submitted_at=item["submitted_at"],
            finished_at=item.get("finished_at"),
            progress=item.get("progress", {}),
        )

    def add_progress(self, job_id: str, counts: Mapping[str, int], now: float) -> None:
        """Add a step's counts; nothing if the record is gone (expired)."""
        self._update(job_id, counts, now, condition="attribute_exists(pk)")

    def finish(self, job_id: str, counts: Mapping[str, int], now: float) -> None:
        """Mark the job done at ``now``, with the last step's counts. Only once: a duplicate that
        finishes it again changes nothing, so ``finished_at`` is the first finish."""
        self._update(job_id, counts, now, condition="#state = :running", finish=True)

    def _update(self, job_id: str, counts: Mapping[str, int], now: float, *, condition: str, finish: bool = False) -> None:
        names: dict[str, str] = {"#progress": "progress"} if counts else {}
        values: dict[str, Any] = {":zero": 0} if counts else {}
        values[":expiration"] = int(now) + RECORD_SECONDS
        sets = ["expiration = :expiration"]
        for number, (name, count) in enumerate(sorted(counts.items())):
            names[f"#c{number}"] = name
            values[f":c{number}"] = count
            sets.append(f"#progress.#c{number} = if_not_exists(#progress.#c{number}, :zero) + :c{number}")
        if finish:
            names["#state"] = "state"
            values.update({":done": DONE, ":running": RUNNING, ":now": now})
            sets += ["#state = :done", "finished_at = :now"]
        try:
            client("dynamodb").update_item(
                TableName=self.table.name,
                Key=_key(job_id),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=condition,
                ExpressionAttributeValues=to_item(values),
                **({"ExpressionAttributeNames": names} if names else {}),
            )
        except ClientError as error:
            if not conditional_check_failed(error):
                raise


class JobQueue:
    def __init__(self, url: str | None) -> None:
        self.url = url

    def send(self, message: JobMessage) -> None:
        if not self.url:
            raise RuntimeError("FACEMATCH_JOB_QUEUE_URL is not set: no long job can be queued.")
        client("sqs").send_message(QueueUrl=self.url, MessageBody=message.to_json())
