"""Runtime configuration, read once from environment variables."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything FaceMatch reads from the environment (prefix ``FACEMATCH_``)."""

    model_config = SettingsConfigDict(env_prefix="FACEMATCH_", frozen=True, protected_namespaces=())

    bucket: str = "facematch-local"
    table: str = "facematch-local"
    model: str = "Dlib"
    detector: str = "dlib"
    aws_endpoint: str | None = Field(default=None, description="Endpoint URL for S3 and DynamoDB (local stack).")
    # Through the API: API Gateway and Lambda cap a request at 6 MB after base64.
    max_image_bytes: int = 4 * 1024 * 1024
    # Through S3 uploads, which have no such cap.
    max_upload_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    # Width x height x channels x bytes per channel, read from the header before any pixel is
    # decoded: 40 MP of 8-bit RGB. A 40 MP RGBA or CMYK photo decodes larger, and is refused.
    max_decoded_bytes: int = Field(default=120_000_000, ge=1)
    max_images_per_request: int = 10
    # A compare with faces=all searches at most this many faces, the largest (the rest are counted).
    max_faces_per_image: int = Field(default=20, ge=1, le=100)
    # Detection runs on a copy no larger than this; alignment and embedding use the full photo.
    detection_max_side: int = 480
    shard_load_concurrency: int = 16
    # The admin key: given directly (local stack), or the name of an SSM SecureString (cloud).
    admin_key: SecretStr | None = None
    admin_key_parameter: str | None = None
    # The key that signs page tokens (next_token): given directly (local stack), or an SSM SecureString.
    page_token_secret: SecretStr | None = None
    page_token_secret_parameter: str | None = None
    # How long a secret read from SSM is trusted before it is read again (rotation delay).
    secret_max_age_seconds: int = Field(default=60, ge=1)
    # The committed OpenAPI document, served at GET /api/openapi.json: the image copies it next to
    # the handler and names it; the local stack and the tests name the checkout's. No guess.
    openapi_file: Path | None = None
    # What makes a compare's answer a match (a request may choose otherwise): "threshold", the
    # distance alone, or "significance", the distance and an E-value under the maximum below.
    match_rule: Literal["threshold", "significance"] = "threshold"
    # The E-value under which a match is significant: chance matches expected in a search this size.
    max_expected_false_matches: float = Field(default=0.01, gt=0, le=1_000_000)
    # Keep each enrolled photo (encrypted) next to its embedding; by default only embeddings are kept.
    store_images: bool = False
    # The most faces one organization may hold (all models together): an enrollment past it is
    # refused with ORGANIZATION_FULL. The template's default is what one function can hold warm
    # (vector_cache.faces_that_fit); None (local stack, tests) sets no limit.
    max_faces_per_organization: int | None = Field(default=None, ge=1)
    # The warm vectors' memory budget in bytes; None derives it from the function's memory
    # (Lambda's AWS_LAMBDA_FUNCTION_MEMORY_SIZE), or sets none where that is unknown.
    vector_cache_bytes: int | None = Field(default=None, ge=0)
    function_memory_mb: int | None = Field(
        default=None, validation_alias=AliasChoices("function_memory_mb", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    )
    # The audit trail (audit.py): its own table, so that erasing an organization's data leaves it.
    audit_table: str | None = None
    audit_retention_days: int = Field(default=365, ge=1)
    # Long jobs (jobs.py): the queue they are sent to (template.yaml's JobQueue), and how long a
    # step works. A purge request works this long itself before it hands the rest to a job (a
    # small organization is purged within the request), and so does a write that finds a purge
    # interrupted. A job step works up to job_step_seconds, and stops job_margin_seconds before
    # its invocation would time out: the page under way and the continuation must fit.
    job_queue_url: str | None = None
    purge_request_seconds: float = Field(default=5.0, ge=0)
    job_step_seconds: float = Field(default=600.0, ge=0)
    job_margin_seconds: float = Field(default=5.0, ge=0)
    # Duplicate reports (docs/duplicate-reports.md): the queue feeding their worker function
    # (template.yaml's ReportQueue: the report's job steps and its tasks), the faces per block
    # (a task compares two blocks), how long a finished report is kept, the most one may run,
    # and the worker's shard cache (None: its memory less a reserve, as for warm vectors).
    report_queue_url: str | None = None
    report_block_faces: int = Field(default=16_384, ge=1)
    report_retention_hours: float = Field(default=168.0, gt=0)
    report_max_hours: float = Field(default=24.0, gt=0)
    report_cache_bytes: int | None = Field(default=None, ge=0)


    @property
    def audit_table_name(self) -> str:
        return self.audit_table or default_audit_table(self.table)


def default_audit_table(table: str) -> str:
    """Where the audit trail lives when no table is named for it (local stack, tests)."""
    return f"{table}-audit"


@functools.cache
def get_settings() -> Settings:
    return Settings()
