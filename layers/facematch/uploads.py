"""Use case: photos uploaded straight to the bucket. A caller asks for a presigned URL, PUTs the
photo under ``uploads/<organization>/``, and S3 -> SQS -> the function enrolls it: once, however
often S3 and SQS deliver it, with its outcome recorded and answered again to every redelivery.

An uploaded object version is a ``Repeatable`` enrollment: its answer (the outcome) is stored
in the organization's partition like an Idempotency-Key's, under ``DELIVERY#<name>``, and every
attempt claims the same ids, so a redelivery after any failure enrolls the face once. The
outcome's record (``UPLOAD#...``) is named by the face it enrolled, so deleting the face deletes
it; whatever names no face expires after ``UPLOAD_RECORD_SECONDS``.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

from aws_lambda_powertools import Logger

from facematch.config import Settings
from facematch.duplicates import without_labels
from facematch.enrollment import Enrollment
from facematch.errors import FaceMatchError, ImageTooLarge, InvalidRequest, NothingEnrolled, OrganizationFull
from facematch.idempotency import EnrollOnce, Repeatable, StoredAnswer
from facematch.inputs import (
    UPLOAD_PREFIX,
    ImageInput,
    S3Upload,
    parse_external_id,
    parse_on_duplicate,
    parse_quality_filter,
)
from facematch.models import (
    OnDuplicate,
    PresignedUpload,
    QualityFilter,
    UploadList,
    UploadOutcome,
    UploadStatus,
)
from facematch.page_tokens import PageTokens
from facematch.upload_store import (
    EXTERNAL_ID_METADATA,
    ON_DUPLICATE_METADATA,
    PRESIGNED_URL_SECONDS,
    QUALITY_FILTER_METADATA,
    UploadStore,
    upload_record_sk,
)
from facematch.writes import timestamp

logger = Logger()
# An upload's record, its stored answer and its claim live a week: S3 and SQS redeliver within
# days at most, and GET /api/uploads lists the week's outcomes.
UPLOAD_RECORD_SECONDS = 7 * 24 * 3600
# Failures that the same photo would meet again are its outcome; others (a 409 from the
# organization's state, throttling, 5xx) are raised, so the queue delivers it again. A full
# organization is an outcome too: it stays full until its owner deletes faces, and the owner
# reads outcomes, where a redelivered message would end in the operator's dead-letter queue.
_TRANSIENT = {409, 429}
# The listing an uploads page token is signed for, with its status filter: no external_id holds '#'.
UPLOADS_LISTING = "#uploads:"


class Uploads:
    def __init__(
        self,
        settings: Settings,
        store: UploadStore,
        enrollment: Enrollment,
        once: EnrollOnce,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.enrollment = enrollment
        self.once = once
        self.clock = clock
        self.page_tokens = PageTokens(settings)

    def presign(
        self,
        organization: str,
        *,
        filename: str,
        content_type: str,
        size: int,
        external_id: str | None = None,
        quality_filter: QualityFilter = "none",
        on_duplicate: OnDuplicate = "allow",
    ) -> PresignedUpload:
        """A URL to PUT one photo of up to ``max_upload_bytes`` straight into the upload inbox,
        enrolled with these options (signed into the URL as the object's metadata)."""
        if size > self.settings.max_upload_bytes:
            raise ImageTooLarge(f"size must be between 1 and {self.settings.max_upload_bytes} bytes.")
        name = re.sub(r"[^A-Za-z0-9._-]", "_", filename)[-100:] or "photo"
        key = f"{UPLOAD_PREFIX}{organization}/{uuid.uuid4().hex}-{name}"
        metadata = {EXTERNAL_ID_METADATA: external_id} if external_id else {}
        if quality_filter != "none":
            metadata[QUALITY_FILTER_METADATA] = quality_filter
        if on_duplicate != "allow":
            metadata[ON_DUPLICATE_METADATA] = on_duplicate
        url, headers = self.store.presign(key, content_type=content_type, size=size, metadata=metadata)
        return PresignedUpload(key=key, url=url, headers=headers, expires_in=PRESIGNED_URL_SECONDS)

    def enroll(self, upload: S3Upload) -> UploadOutcome:
        """Enroll one uploaded photo and record the outcome; a redelivery gets the same outcome.

        A photo FaceMatch cannot use (no face, not an image, too large, gone) is a permanent
        failure: recorded once, and not raised, so the message is not retried. Anything else
        is raised, so the queue retries it. Either way the photo leaves the inbox once its
        outcome is recorded: FaceMatch keeps embeddings, not photos."""
        received_at = upload.event_time or timestamp(self.clock())
        organization = upload.organization
        if organization is None:
            # No organization to record it under: the log is the only trace.
            logger.warning("Upload outside any organization", extra={"key": upload.key})
            return UploadOutcome(
                key=upload.key, organization="", status="failed", received_at=received_at,
                size=upload.size, error=InvalidRequest(upload.invalid_key or "").to_dict(),
            )
        record_sk = upload_record_sk(received_at, upload.key)
        repeatable = Repeatable.upload(upload.bucket, upload.key, upload.version_id or upload.etag, record_sk)
        stored = self.once.begin(organization, repeatable, repeatable.name)
        if stored:
            self.store.delete(upload)
            return UploadOutcome(**self.enrollment.duplicates.relabelled(organization, stored.body))
        try:
            outcome = self._outcome(organization, upload, received_at, repeatable)
            kept = UploadOutcome(**without_labels(outcome.model_dump()))
            self.store.record(kept, expires_at=int(self.clock()) + UPLOAD_RECORD_SECONDS)
        except BaseException:
            self.once.release(organization, repeatable)
            raise
        self.once.finish(organization, repeatable, repeatable.name, StoredAnswer(200, kept.model_dump()))
        self.store.delete(upload)
        return outcome

    def _outcome(self, organization: str, upload: S3Upload, received_at: str, repeatable: Repeatable) -> UploadOutcome:
        def failed(error: dict[str, str]) -> UploadOutcome:
            return UploadOutcome(
                key=upload.key, organization=organization, status="failed", received_at=received_at,
                size=upload.size, error=error,
            )

        try:
            photo = self.store.read(upload, self.settings.max_upload_bytes)
            # Object metadata, which whoever can write the bucket sets: checked here.
            external_id = parse_external_id(photo.external_id)
            result = self.enrollment.enroll(
                organization,
                [ImageInput(name=upload.key, data=photo.data)],
                external_id=external_id,
                max_image_bytes=self.settings.max_upload_bytes,
                repeatable=repeatable,
                quality_filter=parse_quality_filter(photo.quality_filter),
                on_duplicate=parse_on_duplicate(photo.on_duplicate),
            )
        except NothingEnrolled as error:
            return failed(error.failures[0]["error"])
        except FaceMatchError as error:
            if (error.status >= 500 or error.status in _TRANSIENT) and not isinstance(error, OrganizationFull):
                raise
            return failed(error.to_dict())
        if result.skipped:
            (skipped,) = result.skipped
            return UploadOutcome(
                key=upload.key, organization=organization, status="skipped", received_at=received_at,
                size=photo.size, external_id=external_id, duplicates=skipped.duplicates,
            )
        (embedding,) = result.embeddings
        return UploadOutcome(
            key=upload.key, organization=organization, status="enrolled", received_at=received_at,
            size=photo.size, embed_id=embedding.embed_id, external_id=external_id, duplicates=embedding.duplicates,
        )

    def recent(
        self, organization: str, limit: int, *, next_token: str | None = None, status: UploadStatus | None = None
    ) -> UploadList:
        """The outcomes of the week's uploads, newest first, a page at a time; of one status or all."""
        listing = f"{UPLOADS_LISTING}{status or ''}"
        start_key = self.page_tokens.start_key(next_token, organization, listing)
        outcomes, last_key = self.store.recent(
            organization, limit, now=int(self.clock()), status=status, start_key=start_key
        )
        relabelled = self.enrollment.duplicates.relabelled
        return UploadList(
            organization=organization,
            uploads=[UploadOutcome(**relabelled(organization, outcome.model_dump())) for outcome in outcomes],
            next_token=self.page_tokens.issue(last_key, organization, listing),
        )
