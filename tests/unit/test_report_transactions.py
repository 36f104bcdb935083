"""How a duplicate report's transactions read DynamoDB's cancellations (report_store._transact):
a failed condition is an answer, a race with another transaction on the same item is retried."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from facematch import report_store


def cancelled(*reasons: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
         "CancellationReasons": [{"Code": reason} for reason in reasons]},
        "TransactWriteItems",
    )


class Dynamo:
    def __init__(self, *outcomes: ClientError | None) -> None:
        self.outcomes, self.calls = list(outcomes), 0

    def transact_write_items(self, TransactItems):  # noqa: ANN001, ANN201, N803 - boto3's name
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome


@pytest.fixture
def dynamo(monkeypatch):
    def install(*outcomes):
        fake = Dynamo(*outcomes)
        monkeypatch.setattr(report_store, "client", lambda _name: fake)
        monkeypatch.setattr(report_store.time, "sleep", lambda _seconds: None)
        return fake

    return install


def test_a_transaction_that_races_another_on_the_same_item_is_tried_again_until_it_lands(dynamo):
    fake = dynamo(cancelled("None", "TransactionConflict"), cancelled("TransactionConflict", "None"), None)
    assert report_store._transact([{}]) is True and fake.calls == 3


def test_a_failed_condition_is_an_answer_not_retried(dynamo):
    fake = dynamo(cancelled("ConditionalCheckFailed", "None"))
    assert report_store._transact([{}]) is False and fake.calls == 1


def test_endless_contention_is_raised_so_the_message_comes_back(dynamo):
    fake = dynamo(*[cancelled("TransactionConflict")] * report_store._TRANSACTION_ATTEMPTS)
    with pytest.raises(ClientError):
        report_store._transact([{}])
    assert fake.calls == report_store._TRANSACTION_ATTEMPTS


def test_any_other_cancellation_or_error_is_raised(dynamo):
    dynamo(cancelled("ValidationError"))
    with pytest.raises(ClientError):
        report_store._transact([{}])
    dynamo(ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "TransactWriteItems"))
    with pytest.raises(ClientError):
        report_store._transact([{}])
