"""FaceMatch builds only the parts of DeepFace it needs; its embeddings must stay DeepFace's own.

Pinned DeepFace upgrades can change preprocessing: this test catches a drift between
FaceMatch's direct use of the model and ``DeepFace.represent`` on the same aligned face.
"""

from __future__ import annotations

import numpy as np
import pytest

from facematch.faces import normalize
from facematch.images import decode_image

pytestmark = pytest.mark.model


@pytest.mark.parametrize("photo", ["img1.jpg", "img17.jpg", "couple.jpg"])
def test_facematch_embeds_an_aligned_face_exactly_as_deepface_represent_does(model_matching_app, faces_dir, photo):
    from deepface import DeepFace

    embedder = model_matching_app.service.embedder
    pixels = decode_image((faces_dir / photo).read_bytes(), max_bytes=10**8, max_pixels=10**8, max_decoded_bytes=10**9)
    face, _ = embedder.align(pixels)
    ours = embedder.represent(face.img)
    (theirs,) = DeepFace.represent(
        img_path=np.ascontiguousarray(face.img), model_name=embedder.model_name, detector_backend="skip"
    )
    theirs = normalize(np.asarray(theirs["embedding"], dtype=np.float32))
    # DeepFace's "skip" path resizes the uint8 face, its detector path (and FaceMatch) the /255
    # float face: rounding differs by ~2e-5. A real drift (a channel swap, another
    # normalisation) costs far more than 1e-4; two photos of one person are ~0.03 apart.
    assert float(ours @ theirs) == pytest.approx(1.0, abs=1e-4)
