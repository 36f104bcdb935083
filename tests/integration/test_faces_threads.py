"""Native face code is serialised process-wide: tests, and any handler that uses threads, may
embed from several threads with several embedders (DeepFace shares one model per process)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from facematch.faces import FaceEmbedder
from facematch.images import decode_image

pytestmark = pytest.mark.model
PHOTOS = ["img17.jpg", "img14.jpg", "img8.jpg", "img19.jpg"]


def test_two_embedders_in_two_threads_give_the_single_threaded_vectors(faces_dir):
    from facematch.config import get_settings

    settings = get_settings()

    def embedder() -> FaceEmbedder:
        return FaceEmbedder.load(settings.model, settings.detector, settings.detection_max_side)

    photos = [
        decode_image((faces_dir / name).read_bytes(), max_bytes=10**8, max_pixels=10**8, max_decoded_bytes=10**9) for name in PHOTOS
    ]
    single_threaded = [embedder().embed(photo).vector for photo in photos]
    # Each thread starts each photo with the other, on a different photo: unserialised, the
    # detector runs on two images at once (with per-embedder locks, 8 runs of 8 crashed).
    orders = [list(range(len(photos))), list(reversed(range(len(photos))))]
    threaded: list[dict[int, np.ndarray]] = [{}, {}]
    together = threading.Barrier(2, timeout=60)

    def embed_all(order: list[int], vectors: dict[int, np.ndarray], face_embedder: FaceEmbedder) -> None:
        for index in order:
            together.wait()
            vectors[index] = face_embedder.embed(photos[index]).vector

    threads = [
        threading.Thread(target=embed_all, args=(order, vectors, embedder()))
        for order, vectors in zip(orders, threaded)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    for vectors in threaded:
        assert sorted(vectors) == list(range(len(photos)))
        for index, expected in enumerate(single_threaded):
            np.testing.assert_allclose(vectors[index], expected, atol=1e-6)
