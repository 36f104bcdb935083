"""The API's response shapes (inputs.py has what requests may hold)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


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

    embed_id: int
    organization: str
    created_at: str
    model: str
    face: Face
    source: str = Field(description="The uploaded file name, request index, or S3 key.")
    external_id: str | None = None
    image_stored: bool = Field(description="Whether the source photo is kept (FACEMATCH_STORE_IMAGES).")


class EmbeddingPage(BaseModel):
    organization: str
    embeddings: list[StoredEmbedding]
    next_token: str | None = Field(default=None, description="Pass it back to get the next page.")


class Person(BaseModel):
    external_id: str
    faces: int = Field(description="The person's faces held now.")
    first_enrolled_at: str
    last_enrolled_at: str


class PersonPage(BaseModel):
    organization: str
    persons: list[Person]
    next_token: str | None = Field(default=None, description="Pass it back to get the next page.")


class Deletion(BaseModel):
    organization: str
    deleted: list[StoredEmbedding]


class BackupCopy(BaseModel):
    """What a backup still holds of a purged organization, and until when."""

    store: str = Field(description="s3-noncurrent-versions or dynamodb-point-in-time-recovery")
    holds: str
    until: str = Field(description="ISO-8601 UTC: from then on it holds nothing of the purge.")


class Purge(BaseModel):
    """A purge: done within the request (200), or continuing as a job (202, follow status_url)."""

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
    organization: str
    uploads: list[UploadOutcome] = Field(description="Newest first; a page may hold fewer than limit while more follow.")
    next_token: str | None = Field(default=None, description="Pass it back to get the next page.")


class ApiKey(BaseModel):
    organization: str
    key_id: str
    api_key: str = Field(description="Shown once: FaceMatch keeps only its hash.")


class RevokedKey(BaseModel):
    organization: str
    key_id: str
    revoked: bool


class PresignedUpload(BaseModel):
    """Where to PUT a large photo: it is enrolled once it lands under uploads/<organization>/."""

    key: str
    url: str
    method: str = "PUT"
    headers: dict[str, str] = Field(description="Send exactly these headers with the PUT.")
    expires_in: int = Field(description="Seconds the URL stays valid.")


class Health(BaseModel):
    status: str
    model: str
    detector: str
    version: str


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(exclude_none=True)


ReportState = Literal["queued", "running", "done", "failed", "cancelled"]


class DuplicateReportAccepted(BaseModel):
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
