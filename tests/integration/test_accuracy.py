"""FaceMatch's own pipeline verifies DeepFace's labelled pairs (master.csv) at its default threshold."""

from __future__ import annotations

import pytest

from facematch.inputs import ImageInput
from facematch_testing.photos import master_pairs

pytestmark = pytest.mark.model


def test_master_csv_verification_accuracy_is_at_least_99_percent(model_matching_app, faces_dir):
    service = model_matching_app.service
    pairs = master_pairs(faces_dir)
    names = sorted({name for x, y, _ in pairs for name in (x, y)})
    vectors = {
        name: service.enrollment.embed(ImageInput(name=name, data=(faces_dir / name).read_bytes())).vector
        for name in names
    }
    threshold = service.embedder.default_threshold
    correct = sum(
        ((1.0 - float(vectors[x] @ vectors[y])) <= threshold) == same for x, y, same in pairs
    )
    accuracy = correct / len(pairs)
    print(f"master.csv: {correct}/{len(pairs)} pairs, accuracy {accuracy:.4f} at threshold {threshold}")
    assert accuracy >= 0.99
