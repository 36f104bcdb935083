"""FaceMatch's error taxonomy: every failure a caller can cause has a stable code and an HTTP status."""

from __future__ import annotations

from typing import Any, ClassVar


class FaceMatchError(Exception):
    code: ClassVar[str] = "INTERNAL_ERROR"
    status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}

    def response_body(self) -> dict[str, Any]:
        return {"error": self.to_dict()}


class InvalidRequest(FaceMatchError):
    code = "VALIDATION_ERROR"
    status = 400


class InvalidPageToken(InvalidRequest):
    """A next_token this API did not issue for this very listing: forged, altered, or another's."""

    code = "INVALID_PAGE_TOKEN"


class Unauthorized(FaceMatchError):
    code = "UNAUTHORIZED"
    status = 401


class Forbidden(FaceMatchError):
    code = "FORBIDDEN"
    status = 403


class InvalidImage(FaceMatchError):
    code = "INVALID_IMAGE"
    status = 400


class ImageTooLarge(FaceMatchError):
    code = "IMAGE_TOO_LARGE"
    status = 413


class UnsupportedImageFormat(FaceMatchError):
    code = "UNSUPPORTED_IMAGE_FORMAT"
    status = 415


class NoFaceDetected(FaceMatchError):
    code = "NO_FACE_DETECTED"
    status = 422


class FaceTooSmall(FaceMatchError):
    """The quality gate refused a face with too few pixels between its eyes."""

    code = "FACE_TOO_SMALL"
    status = 422


class LowSharpness(FaceMatchError):
    """The quality gate refused a face too blurred to be recognised again."""

    code = "LOW_SHARPNESS"
    status = 422


class OrganizationNotFound(FaceMatchError):
    code = "ORGANIZATION_NOT_FOUND"
    status = 404


class EmbeddingNotFound(FaceMatchError):
    code = "EMBEDDING_NOT_FOUND"
    status = 404


class ApiKeyNotFound(FaceMatchError):
    code = "API_KEY_NOT_FOUND"
    status = 404


class UploadNotFound(FaceMatchError):
    code = "UPLOAD_NOT_FOUND"
    status = 404


class JobNotFound(FaceMatchError):
    """No job has this id: never issued, mistyped, or its record expired."""

    code = "JOB_NOT_FOUND"
    status = 404


class ReportNotFound(FaceMatchError):
    """No duplicate report of this organization has this id: never issued, or expired."""

    code = "REPORT_NOT_FOUND"
    status = 404


class ReportRunning(FaceMatchError):
    """The organization's one report under way is another: read it, or cancel it first."""

    code = "REPORT_RUNNING"
    status = 409


class RouteNotFound(FaceMatchError):
    code = "NOT_FOUND"
    status = 404


class UnsupportedMediaType(FaceMatchError):
    code = "UNSUPPORTED_MEDIA_TYPE"
    status = 415


class OrganizationPurging(FaceMatchError):
    """A purge of the organization is under way: nothing can be read or written until it ends."""

    code = "ORGANIZATION_PURGING"
    status = 409

    def __init__(self, organization: str) -> None:
        super().__init__(f"Organization {organization!r} is being purged; retry when the purge has finished.")


class PurgedDuringWrite(FaceMatchError):
    """The organization was purged while this write ran, so it changed nothing."""

    code = "ORGANIZATION_PURGED"
    status = 409

    def __init__(self, organization: str) -> None:
        super().__init__(f"Organization {organization!r} was purged while this request ran; nothing was stored.")


class OrganizationFull(FaceMatchError):
    """An enrollment would take the organization past the faces one function can hold warm
    (the deployment's ``MaxFacesPerOrganization``); nothing of it was stored."""

    code = "ORGANIZATION_FULL"
    status = 409

    def __init__(self, organization: str, held: int, adding: int, limit: int) -> None:
        super().__init__(
            f"Organization {organization!r} holds {held} faces; {adding} more would pass its limit of "
            f"{limit}. Delete faces first, or ask the operator to raise MaxFacesPerOrganization."
        )


class IdempotencyKeyReused(FaceMatchError):
    """An Idempotency-Key already used for a different request (another body, organization or photo)."""

    code = "IDEMPOTENCY_KEY_REUSED"
    status = 409

    def __init__(self, key: str) -> None:
        super().__init__("This Idempotency-Key was used for a different request; use a new key for a new request.")


class IdempotencyKeyInProgress(FaceMatchError):
    """Another request with this Idempotency-Key is being answered right now."""

    code = "IN_PROGRESS"
    status = 409

    def __init__(self, key: str) -> None:
        super().__init__("A request with this Idempotency-Key is still being answered; retry in a few seconds.")


class StoreConflict(FaceMatchError):
    """Too many concurrent writers raced for one organization; the request can simply be retried."""

    code = "CONFLICT"
    status = 503


class NothingEnrolled(FaceMatchError):
    """No image of an enrollment request could be enrolled; ``failures`` says why for each.

    When every image failed for the same reason, that reason's code and status are the
    answer (one GIF is a 415, one face-less photo a 422); mixed reasons are a 422.
    """

    code = "NOTHING_ENROLLED"
    status = 422

    def __init__(self, failures: list[tuple[str, FaceMatchError]]) -> None:
        reasons = {(error.code, error.status) for _, error in failures}
        if len(reasons) == 1:
            self.code, self.status = reasons.pop()  # type: ignore[misc]
        super().__init__(f"None of the {len(failures)} image(s) could be enrolled.")
        self.failures = [{"image": image, "error": error.to_dict()} for image, error in failures]

    def response_body(self) -> dict[str, Any]:
        return {**super().response_body(), "embeddings": [], "failed": self.failures}
