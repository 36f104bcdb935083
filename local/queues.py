"""A local stand-in for Lambda's SQS event source mapping: poll, invoke, delete what succeeded."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from facematch.aws import client

log = logging.getLogger("facematch_local")


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The Lambda event for messages as ``ReceiveMessage`` returned them."""
    region = queue_arn.split(":")[3]
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message.get("MD5OfBody", hashlib.md5(message["Body"].encode()).hexdigest()),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


class QueuePoller(threading.Thread):
    """Feeds a queue's messages to a function in batches; failed items stay for a retry.

    Like Lambda with ``ReportBatchItemFailures``: the messages the function reports as failed
    are left on the queue, to come back after the visibility timeout and to move to the
    dead-letter queue after ``maxReceiveCount`` receives; the others are deleted.
    """

    def __init__(
        self,
        queue_url: str,
        batch_size: int,
        invoke: Callable[[dict[str, Any]], dict[str, Any]],
        stop: threading.Event,
    ) -> None:
        super().__init__(name=f"poller-{queue_url.rsplit('/', 1)[-1]}", daemon=True)
        self.queue_url = queue_url
        self.batch_size = batch_size
        self._invoke = invoke
        self._stopping = stop
        self.queue_arn = client("sqs").get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.poll_once(wait_seconds=1)
            except Exception:  # noqa: BLE001 - keep polling, as Lambda's poller does
                log.exception("polling %s failed", self.queue_url)
                self._stopping.wait(1)

    def poll_once(self, wait_seconds: int = 0) -> int:
        """Receive one batch and hand it to the function; returns how many messages came."""
        sqs = client("sqs")
        messages = sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(self.batch_size, 10),
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        try:
            response = self._invoke(sqs_event(messages, self.queue_arn)) or {}
            failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        except Exception:  # noqa: BLE001 - a crashed invocation fails the whole batch
            log.exception("the function failed on a batch from %s", self.queue_url)
            failed = {message["MessageId"] for message in messages}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        log.info("%s: %d message(s), %d failed", self.queue_url.rsplit("/", 1)[-1], len(messages), len(failed))
        return len(messages)
