"""Enrolling a photo dropped under ``uploads/<organization>/``: once, however often S3 and SQS
deliver it, with its outcome recorded and answered again to every redelivery.

An uploaded object version is a ``Repeatable`` enrollment: its answer (the outcome) is stored
in the organization's partition like an Idempotency-Key's, under ``DELIVERY#<name>``, and every
attempt claims the same ids, so a redelivery after any failure enrolls the face once. The
outcome's record (``UPLOAD#...``) is named by the face it enrolled, so deleting the face deletes
it; whatever names no face expires after ``UPLOAD_RECORD_SECONDS``.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from facematch.catalog import UploadRecord, upload_record_sk
from facematch.errors import FaceMatchError, InvalidRequest, NothingEnrolled
from facematch.idempotency import Repeatable, StoredAnswer
from facematch.models import UploadList, UploadOutcome, validate_organization
from facematch.service import FaceMatchService, ImageInput
from facematch.uploads import S3Upload, delete_upload, organization_of, read_upload
from facematch.writes import timestamp

logger = Logger()
# An upload's record, its stored answer and its claim live a week: S3 and SQS redeliver within
# days at most, and GET /api/uploads lists the week's outcomes.
UPLOAD_RECORD_SECONDS = 7 * 24 * 3600
# Failures that the same photo would meet again are its outcome; others (a 409 from the
# organization's state, throttling, 5xx) are raised, so the queue delivers it again.
_TRANSIENT = {409, 429}


class UploadEnrollment:
    def __init__(self, service: FaceMatchService) -> None:
        self.service = service
        self.once = service.writes.once
        self.clock = service.writes.clock

    def enroll(self, upload: S3Upload) -> UploadOutcome:
        """Enroll one uploaded photo and record the outcome; a redelivery gets the same outcome.

        A photo FaceMatch cannot use (no face, not an image, too large, gone) is a permanent
        failure: recorded once, and not raised, so the message is not retried. Anything else
        is raised, so the queue retries it. Either way the photo leaves the inbox once its
        outcome is recorded: FaceMatch keeps embeddings, not photos."""
        received_at = upload.event_time or timestamp(self.clock())
        try:
            organization = validate_organization(organization_of(upload.key))
        except InvalidRequest as error:
            # No organization to record it under: the log is the only trace.
            logger.warning("Upload outside any organization", extra={"key": upload.key})
            return UploadOutcome(
                key=upload.key, organization="", status="failed", received_at=received_at,
                size=upload.size, error=error.to_dict(),
            )
        record_sk = upload_record_sk(received_at, upload.key)
        repeatable = Repeatable.upload(upload.bucket, upload.key, upload.version_id or upload.etag, record_sk)
        stored = self.once.begin(organization, repeatable, repeatable.name)
        if stored:
            delete_upload(upload)
            return UploadOutcome(**stored.body)
        try:
            outcome = self._outcome(organization, upload, received_at, repeatable)
            self.service.catalog.record_upload(outcome, expires_at=int(self.clock()) + UPLOAD_RECORD_SECONDS)
        except BaseException:
            self.once.release(organization, repeatable)
            raise
        answer = UploadOutcome(**vars(outcome))
        self.once.finish(organization, repeatable, repeatable.name, StoredAnswer(200, answer.model_dump()))
        delete_upload(upload)
        return answer

    def _outcome(self, organization: str, upload: S3Upload, received_at: str, repeatable: Repeatable) -> UploadRecord:
        try:
            photo = read_upload(upload, self.service.settings.max_upload_bytes)
            result = self.service.enroll(
                organization,
                [ImageInput(name=upload.key, data=photo.data)],
                external_id=photo.external_id,
                max_image_bytes=self.service.settings.max_upload_bytes,
                repeatable=repeatable,
            )
        except NothingEnrolled as error:
            return UploadRecord(
                organization, upload.key, received_at, "failed", upload.size, error=error.failures[0]["error"]
            )
        except FaceMatchError as error:
            if error.status >= 500 or error.status in _TRANSIENT:
                raise
            return UploadRecord(organization, upload.key, received_at, "failed", upload.size, error=error.to_dict())
        (embedding,) = result.embeddings
        return UploadRecord(
            organization, upload.key, received_at, "enrolled", photo.size,
            embed_id=embedding.embed_id, external_id=photo.external_id,
        )

    def recent(self, organization: str, limit: int) -> UploadList:
        validate_organization(organization)
        records = self.service.catalog.recent_uploads(organization, limit, now=int(self.clock()))
        return UploadList(organization=organization, uploads=[UploadOutcome(**vars(r)) for r in records])
