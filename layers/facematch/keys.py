"""Use case: issue and revoke an organization's API keys (the admin's routes)."""

from __future__ import annotations

import time
from collections.abc import Callable

from facematch.key_store import ApiKeys
from facematch.models import ApiKey, RevokedKey
from facematch.writes import timestamp


class Keys:
    def __init__(self, store: ApiKeys, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def create(self, organization: str) -> ApiKey:
        issued = self.store.create(organization, timestamp(self.clock()))
        return ApiKey(organization=organization, key_id=issued.key_id, api_key=issued.api_key)

    def revoke(self, organization: str, key_id: str) -> RevokedKey:
        self.store.revoke(organization, key_id)
        return RevokedKey(organization=organization, key_id=key_id, revoked=True)
