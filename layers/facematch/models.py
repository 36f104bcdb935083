"""The API's response shapes (inputs.py has what requests may hold)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from facematch import __version__


def examples(*values: dict[str, Any]) -> ConfigDict:
    """A model's examples, in its OpenAPI schema (a test validates each against the schema)."""
    return ConfigDict(json_schema_extra={"examples": list(values)})


# The pieces the examples share: one organization, one face, one label, one job id.
_ORGANIZATION = "acme"
_AT = "2026-11-30T10:29:42.303Z"
_FACE = {"x": 414, "y": 344, "w": 651, "h": 651, "confidence": 1.0}
_LABEL = "employee-42"
_JOB_ID = "CKg-Z84nLQT4nk1OR4XjUjN7TT0OsaY7"
_API = "https://abcdef1234.execute-api.us-east-1.amazonaws.com/prod"
_UPLOAD_KEY = "uploads/acme/5f0c8e1d2b9a4c7e8f3a6b1d0e9c2f47-big.jpg"
_NO_FACE = {"code": "NO_FACE_DETECTED", "message": "No face was found in the image."}
_DUPLICATE = {"embed_id": 17, "external_id": _LABEL, "distance": 0.031, "expected_false_matches": 0.0012}
_STORED = {
    "embed_id": 17, "organization": _ORGANIZATION, "created_at": _AT, "model": "Dlib", "face": _FACE,
    "source": "alice-1.jpg", "external_id": _LABEL, "image_stored": False,
}
_BACKUPS = [
    {
        "store": "s3-noncurrent-versions",
        "holds": "Earlier versions of the organization's manifest (embed_id ranges and shard names; "
        "no vectors, photos or labels), expired by the bucket's lifecycle rule.",
        "until": "2026-12-31T01:56:05.728Z",
    },
    {
        "store": "dynamodb-point-in-time-recovery",
        "holds": "The deleted items (embedding metadata: labels, face boxes, source names; upload records; "
        "stored answers, with vectors where include_embedding was asked; key hashes), restorable from the "
        "table's continuous backups.",
        "until": "2027-01-05T01:56:05.728Z",
    },
]


class Face(BaseModel):
    x: int
    y: int
    w: int
    h: int
    confidence: float


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, for programs to branch on: NO_FACE_DETECTED, INVALID_IMAGE, ...")
    message: str


QualityFilter = Literal["none", "auto", "high"]
OnDuplicate = Literal["allow", "skip"]
# How many duplicates an enrolled face answers at most.
MAX_DUPLICATES = 5


class Duplicate(BaseModel):
    """A face the organization already held that is a significant match of an enrolled one."""

    embed_id: int
    external_id: str | None = None
    distance: float = Field(description="Cosine distance, 0 for the same photo.")
    expected_false_matches: float = Field(
        description="How many faces of strangers a search of the organization should find this close by chance."
    )


class Embedding(BaseModel):
    embed_id: int
    organization: str
    created_at: str = Field(description="ISO-8601 UTC")
    face: Face
    model: str
    image: str = Field(description="The uploaded file's name, or the image's index in the request.")
    faces_in_image: int = Field(description="Faces found in the image; the largest one was enrolled.")
    external_id: str | None = Field(default=None, description="The caller's label for the person.")
    embedding: list[float] | None = None
    duplicates: list[Duplicate] = Field(
        default_factory=list,
        description=f"Up to {MAX_DUPLICATES} faces already held that are significant matches, best first.",
    )


class FailedImage(BaseModel):
    image: str
    error: ErrorDetail


class SkippedImage(BaseModel):
    """A photo not stored under on_duplicate=skip: its face was already held."""

    image: str
    face: Face
    duplicates: list[Duplicate]


class EnrollmentResult(BaseModel):
    """What was enrolled. The top-level ``embed_id``, ``created_at`` (and ``embedding``, when asked
    for) repeat the first enrolled embedding's: the original app's single-object answer."""

    model_config = examples(
        {
            "organization": _ORGANIZATION, "embed_id": 18, "created_at": _AT,
            "embeddings": [
                {
                    "embed_id": 18, "organization": _ORGANIZATION, "created_at": _AT, "face": _FACE,
                    "model": "Dlib", "image": "alice-2.jpg", "faces_in_image": 1, "external_id": _LABEL,
                    "duplicates": [_DUPLICATE],
                }
            ],
            "failed": [
                {"image": "alice-3.jpg", "error": _NO_FACE}
            ],
            "skipped": [],
        },
        {
            "organization": _ORGANIZATION, "embeddings": [], "failed": [],
            "skipped": [{"image": "alice-2.jpg", "face": _FACE, "duplicates": [_DUPLICATE]}],
        },
    )


    organization: str
    embed_id: int | None = Field(
        default=None, description="The first enrolled embedding's embed_id; absent when every photo was skipped."
    )
    created_at: str | None = Field(default=None, description="The first enrolled embedding's created_at (ISO-8601 UTC).")
    embedding: list[float] | None = Field(default=None, description="The first vector, with include_embedding.")
    embeddings: list[Embedding]
    failed: list[FailedImage]
    skipped: list[SkippedImage] = Field(
        default_factory=list, description="Photos not stored under on_duplicate=skip, with what they duplicate."
    )


class ErrorResponse(BaseModel):
    """Every error. An enrollment that enrolled nothing also lists why each image failed."""

    model_config = examples(
        {
            "error": {"code": "VALIDATION_ERROR", "message": "top_k: Input should be greater than or equal to 1"}
        },
        {
            "error": {
                "code": "NO_FACE_DETECTED", "message": "None of the 1 image(s) could be enrolled."
            },
            "embeddings": [],
            "failed": [{"image": "empty-room.jpg", "error": _NO_FACE}],
        },
    )


    error: ErrorDetail
    embeddings: list[Embedding] | None = None
    failed: list[FailedImage] | None = None


MatchRule = Literal["threshold", "significance"]
FaceChoice = Literal["largest", "all"]
GroupBy = Literal["embedding", "person"]


class Match(BaseModel):
    embed_id: int
    external_id: str | None = None
    similarity_score: float = Field(description="1 - cosine distance")
    distance: float = Field(description="cosine distance")
    match: bool = Field(
        description="threshold rule: distance <= threshold; significance rule: that, and significant"
    )
    false_match_probability: float = Field(
        description="The chance that a stranger's face is this close to one given enrolled face."
    )
    expected_false_matches: float = Field(
        description="The E-value: false_match_probability times the faces searched, the chance matches "
        "this good a search this size expects."
    )
    significant: bool = Field(description="expected_false_matches < max_expected_false_matches")
    faces_matched: int | None = Field(
        default=None,
        description="group_by=person only: how many of the person's faces lie within the threshold "
        "(an unlabelled face is a person of its own)",
    )


class FaceComparison(Match):
    """One face of the photo (faces=all): its best match at the top level, and its own ``matches``."""

    face: Face
    matches: list[Match]


class ComparisonResult(Match):
    """The best match at the top level (the original contract), and the ``top_k`` best in ``matches``.
    Both describe the photo's largest face; with faces=all, ``faces`` describes every face."""

    model_config = examples(
        {
            "embed_id": 17, "external_id": _LABEL, "similarity_score": 0.970362, "distance": 0.029638,
            "match": True, "false_match_probability": 8.84e-07, "expected_false_matches": 0.001105,
            "significant": True, "threshold": 0.07, "match_rule": "threshold",
            "max_expected_false_matches": 0.01, "faces_searched": 1250,
            "model": "Dlib", "face": {"x": 510, "y": 422, "w": 807, "h": 807, "confidence": 1.0},
            "matches": [
                {
                    "embed_id": 17, "external_id": _LABEL, "similarity_score": 0.970362, "distance": 0.029638,
                    "match": True, "false_match_probability": 8.84e-07, "expected_false_matches": 0.001105,
                    "significant": True,
                },
                {
                    "embed_id": 18, "external_id": _LABEL, "similarity_score": 0.958113, "distance": 0.041887,
                    "match": True, "false_match_probability": 3.1e-05, "expected_false_matches": 0.03875,
                    "significant": False,
                },
            ],
        }
    )


    threshold: float
    match_rule: MatchRule
    max_expected_false_matches: float
    faces_searched: int = Field(description="The organization's faces the photo was compared with.")
    model: str
    face: Face
    matches: list[Match]
    faces: list[FaceComparison] | None = Field(
        default=None, description="faces=all only: every face of the photo, largest first"
    )
    faces_left_out: int | None = Field(
        default=None,
        description="faces=all only: faces found but not searched (beyond FACEMATCH_MAX_FACES_PER_IMAGE, "
        "or lying outside the image)",
    )


class Calibration(BaseModel):
    """How close a stranger's face comes to a query in this organization, at its size today."""

    model_config = examples(
        {
            "organization": _ORGANIZATION, "model": "Dlib", "faces": 1250, "source": "query", "probes": 32,
            "pairs": 39968,
            "quantiles": {"0.000001": 0.03119, "0.00001": 0.040527, "0.0001": 0.05174, "0.001": 0.065312},
            "max_expected_false_matches": 0.01, "significant_distance": 0.040211, "threshold": 0.07,
        }
    )


    organization: str
    model: str
    faces: int = Field(description="The faces a compare searches today.")
    source: Literal["query", "reference", "none"] = Field(
        description="query: per-query fits of some of the organization's own faces used as queries; "
        "reference: constants fitted offline to the model's stranger distances (under 641 faces); "
        "none: no reference for this model, so no match is significant under 641 faces."
    )
    probes: int = Field(description="The organization's faces used as queries (0 for the reference).")
    pairs: int = Field(description="The stranger distances behind the estimate.")
    quantiles: dict[str, float] = Field(
        description="Probability -> cosine distance: the distance within which that share of strangers lies; "
        "only the shares the estimate saw (a compare's fit sees its lowest 64 of N distances)."
    )
    max_expected_false_matches: float
    significant_distance: float = Field(
        description="The distance under which a match is significant at this size: "
        "false_match_probability * faces < max_expected_false_matches."
    )
    threshold: float = Field(description="The model's distance threshold, the default rule.")


class StoredEmbedding(BaseModel):
    """What FaceMatch holds about one embedding (never the vector)."""

    model_config = examples(_STORED)


    embed_id: int
    organization: str
    created_at: str
    model: str
    face: Face
    source: str = Field(description="The uploaded file name, request index, or S3 key.")
    external_id: str | None = None
    image_stored: bool = Field(description="Whether the source photo is kept (FACEMATCH_STORE_IMAGES).")


class EmbeddingPage(BaseModel):
    model_config = examples(
        {
            "organization": _ORGANIZATION, "embeddings": [_STORED],
            "next_token": "eyJrIjoiRU1CIzAwMDAwMDE3In0.Xk2hQ0pV",
        }
    )

    organization: str
    embeddings: list[StoredEmbedding]
    next_token: str | None = Field(default=None, description="Pass it back to get the next page.")


class Person(BaseModel):
    external_id: str
    faces: int = Field(description="The person's faces held now.")
    first_enrolled_at: str
    last_enrolled_at: str


class PersonPage(BaseModel):
    model_config = examples(
        {
            "organization": _ORGANIZATION,
            "persons": [
                {
                    "external_id": _LABEL, "faces": 2, "first_enrolled_at": _AT,
                    "last_enrolled_at": "2026-12-02T08:14:03.117Z",
                }
            ],
        }
    )

    organization: str
    persons: list[Person]
    next_token: str | None = Field(default=None, description="Pass it back to get the next page.")


class Deletion(BaseModel):
    model_config = examples({"organization": _ORGANIZATION, "deleted": [_STORED]})

    organization: str
    deleted: list[StoredEmbedding]


class BackupCopy(BaseModel):
    """What a backup still holds of a purged organization, and until when."""

    store: str = Field(description="s3-noncurrent-versions or dynamodb-point-in-time-recovery")
    holds: str
    until: str = Field(description="ISO-8601 UTC: from then on it holds nothing of the purge.")


class Purge(BaseModel):
    """A purge: done within the request (200), or continuing as a job (202, follow status_url)."""

    model_config = examples(
        {
            "organization": _ORGANIZATION, "status": "purged", "deleted_items": 412, "deleted_objects": 57,
            "finished_at": "2026-12-01T01:56:05.728Z", "backups": _BACKUPS,
        },
        {
            "organization": _ORGANIZATION, "status": "purging", "deleted_items": 0, "deleted_objects": 3000,
            "job_id": _JOB_ID, "status_url": f"{_API}/api/jobs/{_JOB_ID}",
        },
    )


    organization: str
    status: Literal["purged", "purging"]
    deleted_items: int = Field(
        description="DynamoDB items this request deleted: embeddings and their labels, claims, upload records, keys."
    )
    deleted_objects: int = Field(description="S3 object versions this request deleted: shards, photos, uploads.")
    finished_at: str | None = Field(default=None, description="When the purge was done (200).")
    backups: list[BackupCopy] | None = Field(default=None, description="What backups still hold, until when (200).")
    job_id: str | None = Field(default=None, description="The job finishing the purge (202).")
    status_url: str | None = Field(
        default=None, description="GET it, without an API key, for the job's status (202); also the Location header."
    )


class Job(BaseModel):
    """A long job's status: what it works on, its state and times, and what it did so far."""

    model_config = examples(
        {
            "job_id": _JOB_ID, "kind": "purge", "organization": _ORGANIZATION, "state": "done",
            "submitted_at": "2026-12-01T01:55:31.579Z", "finished_at": "2026-12-01T01:56:05.728Z",
            "progress": {"deleted_objects": 20412, "deleted_items": 10233, "steps": 3}, "backups": _BACKUPS,
            "status_url": f"{_API}/api/jobs/{_JOB_ID}",
        },
        {
            "job_id": "Qm9vLXN3ZWVwLTIwMjYtMTItMDFUMDE6", "kind": "sweep", "organization": "*",
            "state": "running", "submitted_at": "2026-12-01T02:00:00.012Z",
            "progress": {"deleted_objects": 3, "deleted_items": 1, "steps": 1},
            "status_url": f"{_API}/api/jobs/Qm9vLXN3ZWVwLTIwMjYtMTItMDFUMDE6",
        },
    )


    job_id: str
    kind: str = Field(description="purge, or sweep (of every organization: organization is *)")
    organization: str
    state: Literal["running", "done"]
    submitted_at: str = Field(description="ISO-8601 UTC")
    finished_at: str | None = Field(default=None, description="ISO-8601 UTC, once done")
    progress: dict[str, int] = Field(
        description="Counts so far: deleted_objects (S3 object versions), deleted_items (DynamoDB items), steps."
    )
    backups: list[BackupCopy] | None = Field(
        default=None, description="Once a purge is done: what backups still hold of it, and until when."
    )
    status_url: str | None = Field(default=None, description="Where this status is read")


UploadStatus = Literal["enrolled", "skipped", "failed"]


class UploadOutcome(BaseModel):
    key: str
    organization: str
    status: UploadStatus = Field(description="enrolled, skipped (on-duplicate: skip) or failed")
    received_at: str
    size: int | None = None
    embed_id: int | None = None
    external_id: str | None = None
    error: ErrorDetail | None = None
    duplicates: list[Duplicate] = Field(default_factory=list, description="As an enrolled embedding's.")


class UploadList(BaseModel):
    model_config = examples(
        {
            "organization": _ORGANIZATION,
            "uploads": [
                {
                    "key": _UPLOAD_KEY, "organization": _ORGANIZATION, "status": "enrolled",
                    "received_at": _AT, "size": 5242880, "embed_id": 19, "external_id": _LABEL,
                    "duplicates": [_DUPLICATE],
                },
                {
                    "key": "uploads/acme/team-photo.png", "organization": _ORGANIZATION, "status": "failed",
                    "received_at": "2026-11-30T10:12:09.881Z", "size": 48211,
                    "error": {"code": "NO_FACE_DETECTED", "message": "No face was found in the image."},
                    "duplicates": [],
                },
            ],
            "next_token": "eyJrIjoiVVBMT0FEIzIwMjYtMTEtMzAifQ.b7Qe1c9M",
        }
    )

    organization: str
    uploads: list[UploadOutcome] = Field(description="Newest first; a page may hold fewer than limit while more follow.")
    next_token: str | None = Field(default=None, description="Pass it back to get the next page.")


class ApiKey(BaseModel):
    model_config = examples(
        {
            "organization": _ORGANIZATION, "key_id": "3f9a0c2b71de",
            "api_key": "fmk_3f9a0c2b71de_q8V1rJx0b3yN6TzK2mWcP4sLhD9fA7uE5gR0iYoXnBk",
        }
    )

    organization: str
    key_id: str
    api_key: str = Field(description="Shown once: FaceMatch keeps only its hash.")


class RevokedKey(BaseModel):
    model_config = examples({"organization": _ORGANIZATION, "key_id": "3f9a0c2b71de", "revoked": True})

    organization: str
    key_id: str
    revoked: bool


class PresignedUpload(BaseModel):
    """Where to PUT a large photo: it is enrolled once it lands under uploads/<organization>/."""

    model_config = examples(
        {
            "key": _UPLOAD_KEY,
            "url": f"https://facematch-photos.s3.us-east-1.amazonaws.com/{_UPLOAD_KEY}"
            "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=ASIA...%2F20261130%2Fus-east-1%2Fs3%2Faws4_request"
            "&X-Amz-Date=20261130T102942Z&X-Amz-Expires=900"
            "&X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost%3Bx-amz-meta-external-id"
            "&X-Amz-Signature=...",
            "method": "PUT",
            "headers": {
                "Content-Type": "image/jpeg", "Content-Length": "5242880", "x-amz-meta-external-id": _LABEL
            },
            "expires_in": 900,
        }
    )


    key: str
    url: str
    method: str = "PUT"
    headers: dict[str, str] = Field(description="Send exactly these headers with the PUT.")
    expires_in: int = Field(description="Seconds the URL stays valid.")


class Health(BaseModel):
    model_config = examples({"status": "ok", "model": "Dlib", "detector": "dlib", "version": __version__})

    status: str
    model: str
    detector: str
    version: str


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(exclude_none=True)


ReportState = Literal["queued", "running", "done", "failed", "cancelled"]


class DuplicateReportAccepted(BaseModel):
    model_config = examples(
        {
            "report_id": "Xo3vQ9t2LkR7wYb1NcE5uHs8DfA0mJpZ",
            "status_url": f"{_API}/api/duplicate-reports/Xo3vQ9t2LkR7wYb1NcE5uHs8DfA0mJpZ?organization=acme",
        }
    )

    report_id: str
    status_url: str


class ReportProgress(BaseModel):
    done: int = Field(description="Tasks (pairs of blocks) done.")
    total: int = Field(description="Tasks in all: B(B+1)/2 for B blocks.")


class GroupMember(BaseModel):
    embed_id: int
    external_id: str | None = None


class GroupDistance(BaseModel):
    first: int = Field(description="An embed_id of the group.")
    second: int = Field(description="Another, larger embed_id of the group.")
    distance: float = Field(description="Their cosine distance.")


class DuplicateGroup(BaseModel):
    """Faces that are one person: every pair of them is a significant match (complete linkage)."""

    members: list[GroupMember]
    distances: list[GroupDistance] = Field(description="Every pair of members, closest first.")


class DuplicateReport(BaseModel):
    model_config = examples(
        {
            "report_id": "Xo3vQ9t2LkR7wYb1NcE5uHs8DfA0mJpZ", "organization": _ORGANIZATION, "status": "done",
            "progress": {"done": 3, "total": 3}, "submitted_at": "2026-12-01T09:00:00.125Z",
            "finished_at": "2026-12-01T09:00:41.902Z", "expires_at": "2026-12-08T09:00:41.902Z",
            "max_expected_false_matches": 0.01, "faces": 1250, "comparisons": 780625,
            "significant_distance": 0.0208, "manifest_version": "\"9b2cf535f27731c974343645a3985328\"",
            "groups_found": 1,
            "groups": [
                {
                    "members": [
                        {"embed_id": 17, "external_id": _LABEL},
                        {"embed_id": 311, "external_id": "employee-97"},
                    ],
                    "distances": [{"first": 17, "second": 311, "distance": 0.012734}],
                }
            ],
            "status_url": f"{_API}/api/duplicate-reports/Xo3vQ9t2LkR7wYb1NcE5uHs8DfA0mJpZ?organization=acme",
        }
    )

    report_id: str
    organization: str
    status: ReportState
    progress: ReportProgress
    submitted_at: str
    finished_at: str | None = None
    expires_at: str = Field(description="When the report and its results are deleted.")
    max_expected_false_matches: float
    faces: int | None = Field(default=None, description="The faces compared, once planned.")
    comparisons: int | None = Field(default=None, description="N(N-1)/2 pairs.")
    significant_distance: float | None = Field(
        default=None, description="The largest distance that is an edge at this size (none: no pair can be)."
    )
    manifest_version: str | None = Field(
        default=None, description="The version of the organization's faces the report describes (the manifest's ETag)."
    )
    groups_found: int | None = Field(default=None, description="Groups found when it finished, of any label.")
    groups: list[DuplicateGroup] | None = Field(
        default=None,
        description="Once done: a page of groups, largest first, without faces erased since. "
        "Groups whose members all carry one label are left out unless include_same_label=true.",
    )
    next_token: str | None = Field(default=None, description="Pass it back for the next page of groups.")
    reason: str | None = Field(default=None, description="Why it failed.")
    status_url: str | None = None


class OpenAPIDocument(BaseModel):
    """This API's OpenAPI 3.1 document (GET /api/openapi.json)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "openapi": "3.1.0",
                    "info": {"title": "FaceMatch", "version": __version__},
                    "tags": [{"name": "enrollment", "description": "Enroll photos of people."}],
                    "paths": {
                        "/api/health": {"get": {"tags": ["service"], "summary": "Check the service's health"}}
                    },
                    "components": {"schemas": {}},
                }
            ]
        },
    )

    openapi: str = Field(description="The OpenAPI version the document follows.")
    info: dict[str, Any] = Field(description="Its title, description and version: the API's version.")
    paths: dict[str, Any]
