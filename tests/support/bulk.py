"""A large organization, written cheaply: what thousands of enrollments would leave, without them."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from facematch.aws import client
from facematch.catalog import EmbeddingRecord, to_item
from facematch.catalog import _keys as item_keys  # the catalog's own item layout
from facematch.photos import PhotoStore
from facematch.wiring import FaceMatch


def enroll_in_bulk(service: FaceMatch, organization: str, count: int, *, photos: bool = True) -> list[int]:
    """``count`` labelled faces in one committed shard, each with its metadata and, with ``photos``,
    a kept photo (as FACEMATCH_STORE_IMAGES keeps them): one S3 object per face. The ids."""
    model = service.settings.model
    ids = service.catalog.allocate_ids(organization, count)
    rng = np.random.default_rng(count)
    vectors = rng.standard_normal((count, service.embedder.dimensions)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    service.writes.commit_vectors(organization, model, np.asarray(ids, np.int64), vectors)
    manifest = service.shards.read_manifest(organization)
    (shard,) = [ref for ref in manifest.of(model).shards if ref.count == count]
    store = PhotoStore(service.shards)
    records = [
        EmbeddingRecord(
            organization=organization,
            embed_id=embed_id,
            created_at="2026-11-30T10:00:00.000Z",
            model=model,
            face={"x": 1, "y": 2, "w": 30, "h": 30, "confidence": 1.0},
            shard=shard.key,
            source=f"bulk-{embed_id}.jpg",
            external_id=f"person-{embed_id % 97}",
            image_key=store.put(organization, manifest.generation, embed_id, b"photo") if photos else None,
            generation=manifest.generation,
        )
        for embed_id in ids
    ]
    # BatchWriteItem, not the enrollments' transactions: moto copies the whole table for each
    # transaction, so thousands of them take minutes.
    puts = [
        {"PutRequest": {"Item": to_item({**key, **asdict(record)})}} for record in records for key in item_keys(record)
    ]
    for start in range(0, len(puts), 25):
        batch = {service.catalog.table_name: puts[start : start + 25]}
        while batch:
            batch = client("dynamodb").batch_write_item(RequestItems=batch).get("UnprocessedItems")
    return ids
