"""Child processes of the benchmarks. Imports nothing heavy at module level (cold starts time it).

    worker.py serve deepface|facematch CONFIG_JSON
        Builds the model, embeds the warm-up photo, answers {"ready": ...}; then reads one JSON
        request per line from stdin ({"path": ..., "size": ...}) and answers one JSON line each.
    worker.py cold-handler PHOTO EVENT_JSON
        Lambda init + first invocation: import functions/api/app.py, call lambda_handler once
        with the enrollment event (S3 and DynamoDB: the parent's moto server); checks for 201.
    worker.py cold-embed PHOTO
        The pipeline alone: import facematch.wiring, build FaceMatch, embed one photo.

Both cold modes print ``MARK FIRST_EMBEDDING <time.time()>`` when the embedding exists.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def mark(name: str) -> None:
    print(f"MARK {name} {time.time():.6f}", flush=True)


# ---------------------------------------------------------------------------------------------
# Cold starts


def cold_handler(photo: str, event_path: str) -> None:
    import importlib.util

    from facematch_local.context import LambdaContext

    # S3 and DynamoDB are the parent's moto server (FACEMATCH_AWS_ENDPOINT), as AWS is to Lambda.
    spec = importlib.util.spec_from_file_location("api_app", ROOT / "functions" / "api" / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    mark("INIT_DONE")

    event = json.loads(Path(event_path).read_text())
    response = module.lambda_handler(event, LambdaContext("facematch-bench"))
    mark("FIRST_EMBEDDING")
    body = json.loads(response["body"])
    vector = body["embeddings"][0]["embedding"] if response["statusCode"] == 201 else None
    if response["statusCode"] != 201 or not vector:
        print(f"unexpected response: {response['statusCode']} {response['body'][:2000]}", file=sys.stderr)
        sys.exit(3)
    print(f"EMBEDDING_DIMENSIONS {len(vector)}")


def cold_embed(photo: str) -> None:
    from facematch.inputs import ImageInput
    from facematch.wiring import FaceMatch

    service = FaceMatch.from_settings()
    face = service.enrollment.embed(ImageInput(Path(photo).name, Path(photo).read_bytes()))
    mark("FIRST_EMBEDDING")
    print(f"EMBEDDING_DIMENSIONS {face.vector.shape[0]}")


# ---------------------------------------------------------------------------------------------
# Long-lived workers


class Stages:
    """Accumulates wall time per pipeline stage, by wrapping the functions that do each stage."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    def reset(self) -> None:
        self.times = {}

    def wrap(self, name: str, function):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.times[name] = self.times.get(name, 0.0) + time.perf_counter() - start

        timed.__wrapped__ = function
        return timed


def serve_deepface(config: dict) -> None:
    start = time.perf_counter()
    from deepface import DeepFace

    imported = time.perf_counter() - start
    stages = Stages()
    if config.get("profile"):
        from deepface.commons import image_utils
        from deepface.modules import detection, modeling

        detector = modeling.build_model(task="face_detector", model_name="dlib")
        model = modeling.build_model(task="facial_recognition", model_name="Dlib")
        image_utils.load_image = stages.wrap("decode", image_utils.load_image)
        detector.detect_faces = stages.wrap("detect", detector.detect_faces)
        detection.extract_face = stages.wrap("align", detection.extract_face)
        model.forward = stages.wrap("forward", model.forward)

    def embed(path: str) -> dict:
        results = DeepFace.represent(img_path=path, model_name="Dlib", detector_backend="dlib")
        largest = max(results, key=lambda r: r["facial_area"]["w"] * r["facial_area"]["h"])
        return {"vector": [float(v) for v in largest["embedding"]], "faces": len(results)}

    _serve(embed, config, stages, imported)


def serve_facematch(config: dict) -> None:
    start = time.perf_counter()
    from facematch.config import Settings
    from facematch.inputs import ImageInput
    from facematch.wiring import FaceMatch

    imported = time.perf_counter() - start
    sizes = config.get("sizes") or [None]
    services = {
        size: FaceMatch.from_settings(Settings() if size is None else Settings(detection_max_side=size))
        for size in sizes
    }
    stages = Stages()
    if config.get("profile"):
        import facematch.faces

        facematch.faces.decode_image = stages.wrap("decode", facematch.faces.decode_image)
        facematch.faces.detection.extract_face = stages.wrap("align", facematch.faces.detection.extract_face)
        wrapped_detectors: set[int] = set()
        for service in services.values():
            embedder = service.embedder
            if id(embedder._detector) not in wrapped_detectors:
                embedder._detector.detect_faces = stages.wrap("detect", embedder._detector.detect_faces)
                wrapped_detectors.add(id(embedder._detector))
            embedder._represent = stages.wrap("represent", embedder._represent)

    def embed(path: str, size: int | None = None) -> dict:
        service = services[size if size in services else sizes[0]]
        face = service.enrollment.embed(ImageInput(Path(path).name, Path(path).read_bytes()))
        return {"vector": [float(v) for v in face.vector], "faces": face.faces_in_image}

    _serve(embed, config, stages, imported, warm_sizes=sizes)


def _serve(embed, config: dict, stages: Stages, imported: float, warm_sizes=(None,)) -> None:
    # Our answers go to the real stdout; anything the libraries print goes to stderr.
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    start = time.perf_counter()
    for size in warm_sizes:  # the first call builds the models; it is not timed as a photo
        embed(config["warmup"], **({"size": size} if size is not None else {}))
    answers.write(json.dumps({"ready": True, "import_s": imported, "warmup_s": time.perf_counter() - start}) + "\n")

    for line in sys.stdin:
        request = json.loads(line)
        options = {"size": request["size"]} if request.get("size") is not None else {}
        stages.reset()
        wall = time.perf_counter()
        cpu = time.process_time()
        try:
            result = embed(request["path"], **options)
            result["ok"] = True
        except Exception as error:  # noqa: BLE001 - a photo without a face is a result, not a crash
            result = {"ok": False, "error": f"{type(error).__name__}: {error}"[:300]}
        result["wall_s"] = time.perf_counter() - wall
        result["cpu_s"] = time.process_time() - cpu
        result["stages"] = stages.times
        answers.write(json.dumps(result) + "\n")


def main() -> None:
    mode = sys.argv[1]
    if mode == "cold-handler":
        cold_handler(sys.argv[2], sys.argv[3])
    elif mode == "cold-embed":
        cold_embed(sys.argv[2])
    elif mode == "serve":
        kind, config = sys.argv[2], json.loads(sys.argv[3])
        {"deepface": serve_deepface, "facematch": serve_facematch}[kind](config)
    else:
        sys.exit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
