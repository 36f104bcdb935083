"""Use case: the audit trail. Who created and revoked API keys, deleted faces and purged
organizations, when, and what (ids: never a vector, a photo or a label).

A key's record is written in the key's own transaction: it exists exactly when the key was
created or revoked. A deletion's or a purge's record is written before the erasure starts, so
the trail never misses one; an erasure that then fails (the request answered an error) leaves its
record, which says it was asked for. Labels are left out on purpose: the record of a person's
erasure must not keep the name it erased, so it lists the embed_ids it took.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from facematch.audit_store import AuditStore, audit_sk
from facematch.config import Settings
from facematch.page_tokens import PageTokens
from facematch.writes import timestamp

Action = Literal[
    "key.created", "key.revoked", "embedding.deleted", "person.deleted", "organization.purged",
    "duplicate_report.started", "duplicate_report.cancelled",
]
# The listing audit page tokens are signed for: no external_id holds '#'.
AUDIT_LISTING = "#audit"
_DAY = 24 * 3600


@dataclass(frozen=True)
class Actor:
    """Who asks: the caller's key id ("admin" for the admin key), and the request, for the logs."""

    key_id: str
    request_id: str | None = None


class AuditRecord(BaseModel):
    organization: str
    at: str = Field(description="When it was asked for (UTC).")
    action: Action
    actor: str = Field(description="The key id of the caller; 'admin' for the admin key.")
    request_id: str | None = Field(default=None, description="API Gateway's request id: the request in the logs.")
    key_id: str | None = Field(default=None, description="The key created or revoked.")
    embed_ids: list[int] | None = Field(default=None, description="The faces a deletion took.")
    faces: int | None = Field(default=None, description="The faces the organization held when its purge was asked for.")


class AuditPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "organization": "acme",
                    "records": [
                        {
                            "organization": "acme", "at": "2026-12-01T08:14:03.117Z",
                            "action": "person.deleted",
                            "actor": "3f9a0c2b71de", "request_id": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                            "embed_ids": [17, 18],
                        },
                        {
                            "organization": "acme", "at": "2026-11-30T09:02:51.460Z", "action": "key.created",
                            "actor": "admin", "request_id": "0f4d2a8e-5c3b-4e71-9d26-7a1b8c9e0f13",
                            "key_id": "3f9a0c2b71de",
                        },
                    ],
                    "next_token": "eyJrIjoiQVVESVQjMjAyNi0xMS0zMCJ9.p0Rk2s7A",
                }
            ]
        }
    )

    organization: str
    records: list[AuditRecord] = Field(description="Newest first.")
    next_token: str | None = Field(default=None, description="Pass it back to get the next page.")


class AuditTrail:
    def __init__(self, settings: Settings, store: AuditStore, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.page_tokens = PageTokens(settings)

    def put_request(self, organization: str, action: Action, actor: Actor, **what: Any) -> dict[str, Any]:
        """The record as a write of another write's transaction (a key's)."""
        return self.store.put_request(*self._record(organization, action, actor, what))

    def add(self, organization: str, action: Action, actor: Actor, **what: Any) -> None:
        self.store.add(*self._record(organization, action, actor, what))

    def page(self, organization: str, *, limit: int = 50, next_token: str | None = None) -> AuditPage:
        start_key = self.page_tokens.start_key(next_token, organization, AUDIT_LISTING)
        items, last_key = self.store.newest_first(organization, limit, start_key)
        fields = AuditRecord.model_fields
        return AuditPage(
            organization=organization,
            records=[AuditRecord(**{name: value for name, value in item.items() if name in fields}) for item in items],
            next_token=self.page_tokens.issue(last_key, organization, AUDIT_LISTING),
        )

    def _record(
        self, organization: str, action: Action, actor: Actor, what: dict[str, Any]
    ) -> tuple[str, str, dict[str, Any], int]:
        now = self.clock()
        record = AuditRecord(
            organization=organization, at=timestamp(now), action=action,
            actor=actor.key_id, request_id=actor.request_id, **what,
        )
        expiration = int(now) + self.settings.audit_retention_days * _DAY
        return organization, audit_sk(record.at, secrets.token_hex(6)), record.model_dump(exclude_none=True), expiration
