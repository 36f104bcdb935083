"""API keys: random, shown once, stored only as SHA-256 hashes, each bound to one organization.

Items in the catalog table:
- ``KEY#<sha256 of the key>`` / ``KEY``: organization and key_id, for the authorizer's lookup;
- ``ORG#<organization>`` / ``APIKEY#<key_id>``: the hash, so a key can be revoked by its id and
  an organization's purge finds its keys.
A key has 256 random bits, so an unsalted hash is safe against guessing.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from facematch.aws import client
from facematch.catalog import Catalog, from_item, org_key, to_item
from facematch.errors import ApiKeyNotFound

KEY_PREFIX = "fmk"
KEY_ID_PATTERN = r"^[0-9a-f]{12}$"


@dataclass(frozen=True)
class IssuedKey:
    organization: str
    key_id: str
    api_key: str  # the only time the key itself exists outside the caller's hands


def key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def _lookup_key(api_key_hash: str) -> dict[str, str]:
    return {"pk": f"KEY#{api_key_hash}", "sk": "KEY"}


def _owner_key(organization: str, key_id: str) -> dict[str, str]:
    return {"pk": org_key(organization), "sk": f"APIKEY#{key_id}"}


class ApiKeys:
    def __init__(self, catalog: Catalog) -> None:
        self.table_name = catalog.table_name

    def create(self, organization: str, created_at: str) -> IssuedKey:
        key_id = secrets.token_hex(6)
        api_key = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        digest = key_hash(api_key)
        client("dynamodb").transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": to_item(
                            {**_lookup_key(digest), "organization": organization, "key_id": key_id, "created_at": created_at}
                        ),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": to_item(
                            {**_owner_key(organization, key_id), "key_hash": digest, "created_at": created_at}
                        ),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
        return IssuedKey(organization=organization, key_id=key_id, api_key=api_key)

    def revoke(self, organization: str, key_id: str) -> None:
        owner = client("dynamodb").get_item(
            TableName=self.table_name, Key=to_item(_owner_key(organization, key_id))
        ).get("Item")
        if owner is None:
            raise ApiKeyNotFound(f"Organization {organization!r} has no API key {key_id!r}.")
        digest = from_item(owner)["key_hash"]
        client("dynamodb").transact_write_items(
            TransactItems=[
                {"Delete": {"TableName": self.table_name, "Key": to_item(_lookup_key(digest))}},
                {"Delete": {"TableName": self.table_name, "Key": to_item(_owner_key(organization, key_id))}},
            ]
        )

    def organization_of(self, api_key: str) -> tuple[str, str] | None:
        """(organization, key_id) of a key, or None for a key that does not exist (or was revoked)."""
        item = client("dynamodb").get_item(
            TableName=self.table_name, Key=to_item(_lookup_key(key_hash(api_key))), ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        values = from_item(item)
        return values["organization"], values["key_id"]

    def lookup_keys_of(self, organization: str) -> list[dict[str, str]]:
        """The authorizer-lookup items of an organization's keys (for its purge)."""
        response = client("dynamodb").query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :keys)",
            ExpressionAttributeValues=to_item({":pk": org_key(organization), ":keys": "APIKEY#"}),
        )
        return [_lookup_key(from_item(item)["key_hash"]) for item in response["Items"]]
