"""Use case: issue and revoke an organization's API keys (the admin's routes), each recorded in
the audit trail by the same transaction."""

from __future__ import annotations

import time
from collections.abc import Callable

from facematch.audit import Actor, AuditTrail
from facematch.key_store import ApiKeys
from facematch.models import ApiKey, RevokedKey
from facematch.writes import timestamp


class Keys:
    def __init__(self, store: ApiKeys, audit: AuditTrail, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.audit = audit
        self.clock = clock

    def create(self, organization: str, actor: Actor) -> ApiKey:
        issued = self.store.create(
            organization,
            timestamp(self.clock()),
            lambda key_id: [self.audit.put_request(organization, "key.created", actor, key_id=key_id)],
        )
        return ApiKey(organization=organization, key_id=issued.key_id, api_key=issued.api_key)

    def revoke(self, organization: str, key_id: str, actor: Actor) -> RevokedKey:
        self.store.revoke(organization, key_id, [self.audit.put_request(organization, "key.revoked", actor, key_id=key_id)])
        return RevokedKey(organization=organization, key_id=key_id, revoked=True)
