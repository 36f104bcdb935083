"""What the core accepts, validated once where it enters: a route's parameters (their patterns,
checked by the resolver), an uploaded object's key and label. Past the edge, an organization,
a label or an upload in these types is trusted and never checked again."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from facematch.errors import InvalidImage, InvalidRequest
from facematch.models import OnDuplicate, QualityFilter

# An organization names an S3 prefix and a URL path segment: starting with a letter or digit, it is
# never "." or ".." (which S3 keys and URLs read as this folder and the one above).
ORGANIZATION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_ORGANIZATION = re.compile(ORGANIZATION_PATTERN)
EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,255}$"
_EXTERNAL_ID = re.compile(EXTERNAL_ID_PATTERN)
# Printable ASCII, as an HTTP header carries it, without spaces at either end (proxies trim them).
IDEMPOTENCY_KEY_PATTERN = r"^[!-~](?:[ -~]{0,253}[!-~])?$"
# File names are echoed in responses and stored with each embedding (a DynamoDB item is 400 KB).
MAX_FILENAME_LENGTH = 255
# Photos dropped into the bucket under uploads/<organization>/ are enrolled (uploads.py).
UPLOAD_PREFIX = "uploads/"


def parse_organization(organization: str) -> str:
    if not _ORGANIZATION.fullmatch(organization):
        raise InvalidRequest(
            "organization must be 1 to 64 characters of letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return organization


def parse_external_id(external_id: str | None) -> str | None:
    if external_id is not None and not _EXTERNAL_ID.fullmatch(external_id):
        raise InvalidRequest(
            "external_id must be 1 to 255 characters of letters, digits, '.', '_', ':' or '-'."
        )
    return external_id


def parse_quality_filter(value: str | None) -> QualityFilter:
    """An upload's x-amz-meta-quality-filter (absent: none)."""
    return _one_of("quality_filter", value, QualityFilter, "none")


def parse_on_duplicate(value: str | None) -> OnDuplicate:
    """An upload's x-amz-meta-on-duplicate (absent: allow)."""
    return _one_of("on_duplicate", value, OnDuplicate, "allow")


def _one_of(name: str, value: str | None, choices: Any, default: str) -> Any:
    allowed = get_args(choices)
    if value is None:
        return default
    if value not in allowed:
        raise InvalidRequest(f"{name} must be one of {', '.join(allowed)}; got {value[:40]!r}.")
    return value


@dataclass(frozen=True)
class ImageInput:
    """One photo of a request: raw bytes, or base64 text from a JSON body. The text is decoded
    when the photo is used, so one bad photo fails alone among the request's others."""

    name: str
    data: bytes | str

    def raw_bytes(self) -> bytes:
        if isinstance(self.data, bytes):
            return self.data
        try:
            return base64.b64decode(self.data, validate=True)
        except (binascii.Error, ValueError) as error:
            raise InvalidImage("The image is not valid base64.") from error


class S3Upload(BaseModel):
    """One created object, as an S3 event notification names it (key already URL-decoded), and
    the organization its key puts it in: ``uploads/<organization>/<file>``. ``organization`` is
    None for a key outside any organization, and ``invalid_key`` then says why."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    # When S3 received the object (the notification's eventTime): the same on every redelivery.
    event_time: str | None = None
    organization: str | None = None
    invalid_key: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _organization_of_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and "key" in data:
            data = {**data, "organization": None, "invalid_key": None}
            try:
                data["organization"] = _organization_of(data["key"])
            except InvalidRequest as error:
                data["invalid_key"] = error.message
        return data


def _organization_of(key: str) -> str:
    parts = key.split("/")
    if len(parts) < 3 or parts[0] + "/" != UPLOAD_PREFIX or not parts[1] or not parts[-1]:
        raise InvalidRequest(f"Upload keys look like {UPLOAD_PREFIX}<organization>/<file>; got {key!r}.")
    return parse_organization(parts[1])


class DuplicateReportRequest(BaseModel):
    """Start a duplicate report of an organization (POST /api/duplicate-reports)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"organization": "acme", "max_expected_false_matches": 0.01}, {}]},
    )

    organization: str | None = Field(
        default=None, pattern=ORGANIZATION_PATTERN, description="Optional with an organization's API key."
    )
    max_expected_false_matches: float | None = Field(
        default=None, gt=0, le=1_000_000,
        description="The bound on chance pairs over the whole report, all N(N-1)/2 pairs together "
        "(default: the deployment's). A pair of faces is an edge when it is within the model's "
        "threshold and P(a stranger is this close) x N(N-1)/2 is under this bound.",
    )
