"""Source photos, kept only when ``FACEMATCH_STORE_IMAGES`` is on: ``orgs/<organization>/g<generation>/images/<embed_id>``."""

from __future__ import annotations

from facematch.aws import client
from facematch.shards import ShardStore, generation_prefix


def photo_key(organization: str, generation: int, embed_id: int) -> str:
    return f"{generation_prefix(organization, generation)}images/{embed_id}"


class PhotoStore:
    def __init__(self, store: ShardStore) -> None:
        self._store = store

    def put(self, organization: str, generation: int, embed_id: int, data: bytes) -> str:
        key = photo_key(organization, generation, embed_id)
        # Encrypted by the bucket's default (template.yaml: SSE-S3, or the KmsKeyArn key when one
        # is given), as every other object: naming an algorithm here would bypass the customer's key.
        client("s3").put_object(Bucket=self._store.bucket, Key=key, Body=data)
        return key

    def delete(self, keys: list[str]) -> None:
        self._store.purge(keys)
