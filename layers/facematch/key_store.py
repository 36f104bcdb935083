"""Where API keys live: random, shown once, stored only as SHA-256 hashes, each bound to one
organization (table.py: ``KEY#<hash>`` for the authorizer's lookup, ``APIKEY#<key_id>`` in the
organization's partition so a key can be revoked by its id and a purge finds its keys). A key
has 256 random bits, so an unsalted hash is safe against guessing."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from facematch.aws import client
from facematch.errors import ApiKeyNotFound
from facematch.table import API_KEY_PREFIX, Key, Table, api_key_lookup, api_key_sk, in_organization, to_item

KEY_PREFIX = "fmk"
KEY_ID_PATTERN = r"^[0-9a-f]{12}$"


@dataclass(frozen=True)
class IssuedKey:
    organization: str
    key_id: str
    api_key: str  # the only time the key itself exists outside the caller's hands


def key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class ApiKeys:
    def __init__(self, table_name: str | None = None) -> None:
        self.table = Table(table_name)

    def create(
        self, organization: str, created_at: str, also: Callable[[str], Sequence[dict[str, Any]]] = lambda key_id: ()
    ) -> IssuedKey:
        """A new key; ``also``: more writes of the same transaction, given the key's id (its audit record)."""
        key_id = secrets.token_hex(6)
        api_key = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        digest = key_hash(api_key)
        items = [
            {**api_key_lookup(digest), "organization": organization, "key_id": key_id, "created_at": created_at},
            {**in_organization(organization, api_key_sk(key_id)), "key_hash": digest, "created_at": created_at},
        ]
        client("dynamodb").transact_write_items(
            TransactItems=[
                {"Put": {"TableName": self.table.name, "Item": to_item(item), "ConditionExpression": "attribute_not_exists(pk)"}}
                for item in items
            ]
            + list(also(key_id))
        )
        return IssuedKey(organization=organization, key_id=key_id, api_key=api_key)

    def revoke(self, organization: str, key_id: str, also: Sequence[dict[str, Any]] = ()) -> None:
        """Revoke a key; ``also``: more writes of the same transaction (its audit record)."""
        owner_key = in_organization(organization, api_key_sk(key_id))
        owner = self.table.get(owner_key, consistent=False)
        if owner is None:
            raise ApiKeyNotFound(f"Organization {organization!r} has no API key {key_id!r}.")
        client("dynamodb").transact_write_items(
            TransactItems=[
                {"Delete": {"TableName": self.table.name, "Key": to_item(key)}}
                for key in (api_key_lookup(owner["key_hash"]), owner_key)
            ]
            + list(also)
        )

    def organization_of(self, api_key: str) -> tuple[str, str] | None:
        """(organization, key_id) of a key, or None for a key that does not exist (or was revoked)."""
        item = self.table.get(api_key_lookup(key_hash(api_key)))
        return None if item is None else (item["organization"], item["key_id"])

    def lookup_keys_of(self, organization: str) -> list[Key]:
        """The authorizer-lookup items of an organization's keys (for its purge)."""
        items, last = self.table.query_page(organization, prefix=API_KEY_PREFIX)
        while last:
            page, last = self.table.query_page(organization, prefix=API_KEY_PREFIX, start_key=last)
            items += page
        return [api_key_lookup(item["key_hash"]) for item in items]
