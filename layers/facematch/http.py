"""The HTTP edge shared by both functions: one resolver setup and the one error-to-HTTP mapping."""

from __future__ import annotations

import json
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Form, Header, Path, Query, UploadFile
from aws_lambda_powertools.event_handler.request import Request
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel

from facematch.access import Principal
from facematch.audit import Actor
from facematch.errors import (
    FaceMatchError,
    Forbidden,
    InvalidRequest,
    RouteNotFound,
    Unauthorized,
    UnsupportedMediaType,
)
from facematch.inputs import IDEMPOTENCY_KEY_PATTERN, MAX_FILENAME_LENGTH, ORGANIZATION_PATTERN, ImageInput
from facematch.models import ErrorResponse, OnDuplicate, QualityFilter

logger = Logger()

# What a route receives for an image field: a multipart file, or base64 text in a JSON body.
ImageField = UploadFile | str


# The OpenAPI document's tags, in the order the reference lists them: every route has one. The
# two routes about the deployment itself (its health, this document) are "service": they are no
# organization's and act on nothing an organization holds, so none of the other seven fits them.
TAGS = {
    "enrollment": "Enroll photos of people: each photo's largest face is embedded and stored under the "
    "organization.",
    "matching": "Find who a photo shows among the organization's faces, and how sure a match can be there.",
    "persons": "The persons an organization holds (faces labelled with an external_id), and erasing one.",
    "holdings": "What an organization holds and its erasure: embeddings, purges, the jobs and sweeps that "
    "finish them, and the audit trail that records them.",
    "keys": "Issue and revoke an organization's API keys (the admin key only).",
    "uploads": "Upload photos too large for a request straight to the bucket, and read what became of them.",
    "reports": "Duplicate reports: every group of an organization's faces that are one person.",
    "service": "The deployment itself: its health, and this document.",
}

# Routes anyone may call; every other route needs an API key (template.yaml: Auth NONE). A job's
# status is read with its unguessable id alone: a purge revokes the keys of whoever asked for it.
PUBLIC_ROUTES = frozenset({("GET", "/api/health"), ("GET", "/api/jobs/{job_id}")})
# This API's bodies are an object holding a list at most; deeper ones are refused.
MAX_JSON_DEPTH = 32


def authorized_caller(request: Request) -> Principal:
    """The caller API Gateway's authorizer let through (a Powertools dependency of every route)."""
    return Principal.from_context(dict(request.resolved_event.request_context.authorizer))


def acting_caller(request: Request) -> Actor:
    """The caller as the audit trail names it: its key id, and this request's id."""
    event = request.resolved_event
    return Actor(authorized_caller(request).key_id, event.request_context.request_id)


# Route parameters: the caller, and the organization (optional with an organization's key).
Caller = Annotated[Principal, Depends(authorized_caller)]
Acting = Annotated[Actor, Depends(acting_caller)]
# The listings' paging parameters.
PageLimit = Annotated[int, Query(ge=1, le=1000)]
NextToken = Annotated[str | None, Query(max_length=4096)]
OrganizationField = Annotated[
    str | None,
    Form(pattern=ORGANIZATION_PATTERN, description="Optional with an organization's API key."),
]
OrganizationQuery = Annotated[
    str | None,
    Query(pattern=ORGANIZATION_PATTERN, description="Optional with an organization's API key."),
]
OrganizationPath = Annotated[str, Path(pattern=ORGANIZATION_PATTERN)]
QualityFilterField = Annotated[
    QualityFilter,
    Form(description="Refuse faces too small (FACE_TOO_SMALL) or too blurred (LOW_SHARPNESS): none, auto or high."),
]
OnDuplicateField = Annotated[
    OnDuplicate,
    Form(description="skip: do not store a face the organization already holds (it is listed as skipped)."),
]
_IDEMPOTENCY_KEY = (
    "Retries with the same key get the first answer and enroll nothing new (24 hours): "
    "1 to 255 printable ASCII characters."
)
IdempotencyKeyHeader = Annotated[
    str | None, Header(alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY_PATTERN, description=_IDEMPOTENCY_KEY)
]
IdempotencyKeyField = Annotated[
    str | None, Form(pattern=IDEMPOTENCY_KEY_PATTERN, description="The Idempotency-Key header, in the body.")
]


def one_idempotency_key(header: str | None, field: str | None) -> str | None:
    """The request's Idempotency-Key, from the header or the body (the same one if both)."""
    if header is not None and field is not None and header != field:
        raise InvalidRequest("The Idempotency-Key header and the idempotency_key field differ.")
    return header if header is not None else field


def image_inputs(images: list[ImageField] | ImageField) -> list[ImageInput]:
    """Powertools hands over a single uploaded file bare, and several as a list."""
    items = images if isinstance(images, list) else [images]
    return [_image_input(index, item) for index, item in enumerate(items)]


def image_input(image: ImageField) -> ImageInput:
    return _image_input(0, image)


def _image_input(index: int, item: ImageField) -> ImageInput:
    if isinstance(item, UploadFile):
        if item.filename and len(item.filename) > MAX_FILENAME_LENGTH:
            raise InvalidRequest(f"A file name may be at most {MAX_FILENAME_LENGTH} characters.")
        return ImageInput(name=item.filename or str(index), data=item.content)
    return ImageInput(name=str(index), data=item)


def parse_json_body(body: str) -> Any:
    """A JSON request body, refused (400) when nested deeper than any body of this API can be.

    Python's parser recurses once per level, so a deep enough body would exhaust the stack.
    """
    too_deep = InvalidRequest(f"A JSON body may be nested at most {MAX_JSON_DEPTH} levels deep.")
    try:
        value = json.loads(body)
    except RecursionError:
        raise too_deep from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise too_deep
    return value


def _depth(value: Any) -> int:
    """How many arrays and objects deep ``value`` goes (without recursing itself)."""
    deepest, pending = 0, [(value, 1)] if isinstance(value, dict | list) else []
    while pending:
        item, depth = pending.pop()
        deepest = max(deepest, depth)
        children = item.values() if isinstance(item, dict) else item
        pending += [(child, depth + 1) for child in children if isinstance(child, dict | list)]
    return deepest


def documented(
    model: type[BaseModel],
    *errors: type[FaceMatchError],
    status: int = 200,
    public: bool = False,
    also: dict[int, str] | None = None,
    example: int = 0,
) -> dict[int, Any]:
    """OpenAPI responses of a route: its result, and the errors it can answer with; ``also``: other
    statuses answered with the same model, and when (a 202: work that goes on after the answer).
    Each success shows one of the model's examples: the one at index ``example`` for ``status``,
    the next ones for ``also``'s statuses in order (the last one again when the model has fewer)."""
    extra = model.model_config.get("json_schema_extra")
    shown = extra.get("examples", []) if isinstance(extra, dict) else []

    def success(description: str, index: int) -> dict[str, Any]:
        content: dict[str, Any] = {"model": model}
        if shown:
            content["example"] = shown[min(index, len(shown) - 1)]
        return {"description": description, "content": {"application/json": content}}

    responses: dict[int, Any] = {status: success("Success", example)}
    for index, (other, description) in enumerate((also or {}).items(), start=example + 1):
        responses[other] = success(description, index)
    codes: dict[int, list[str]] = {}
    access = () if public else (Unauthorized, Forbidden)
    for error in (InvalidRequest, *access, *errors, FaceMatchError):
        codes.setdefault(error.status, []).append(error.code)
    for error_status, names in sorted(codes.items()):
        # The example shows the status's first code (ErrorResponse's own example is a 400's).
        sample = {"error": {"code": names[0], "message": names[0].replace("_", " ").capitalize() + "."}}
        responses[error_status] = {
            "description": " or ".join(dict.fromkeys(names)),
            "content": {"application/json": {"model": ErrorResponse, "example": sample}},
        }
    return responses


def api_base_url(event: APIGatewayProxyEvent) -> str:
    """Where the caller reached this API: scheme, host, and whatever API Gateway's path holds
    before the route's (the stage, or a custom domain's base path)."""
    headers = {name.lower(): value for name, value in (event.headers or {}).items()}
    full_path = event.request_context.path or event.path
    prefix = full_path[: -len(event.path)] if full_path.endswith(event.path) else ""
    if "host" not in headers:
        return prefix
    # API Gateway always says https; the local gateway serves plain HTTP and says nothing.
    return f"{headers.get('x-forwarded-proto', 'http')}://{headers['host']}{prefix}"


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body), headers=headers
    )


def error_response(error: FaceMatchError) -> Response:
    return json_response(error.status, error.response_body())


def _refuse_control_characters_in_the_path(app: APIGatewayRestResolver, next_middleware: Any) -> Response:
    # Route patterns end in "$", which also matches before a final newline: without this,
    # /api/organizations/acme%0A would be served as acme's.
    if any(ord(character) < 0x20 or character == "\x7f" for character in app.current_event.path):
        raise RouteNotFound("No such route.")
    return next_middleware(app)


def create_resolver() -> APIGatewayRestResolver:
    """A REST API resolver whose every failure is a JSON ``{"error": {code, message}}``."""
    app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=parse_json_body)
    app.use([_refuse_control_characters_in_the_path])

    @app.exception_handler(FaceMatchError)
    def _domain_error(error: FaceMatchError) -> Response:
        logger.info("Request refused", extra={"code": error.code, "status": error.status})
        return error_response(error)

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_content_type(error: RequestUnsupportedContentType) -> Response:
        return error_response(
            UnsupportedMediaType("Send multipart/form-data or application/json.")
        )

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response:
        return error_response(InvalidRequest(_describe(error.errors())))

    @app.exception_handler(NotFoundError)
    def _no_route(error: NotFoundError) -> Response:
        return error_response(RouteNotFound("No such route."))

    @app.exception_handler(ValueError)
    def _value_error(error: ValueError) -> Response:
        # Powertools raises a bare ValueError for a multipart request without a boundary.
        content_type = app.current_event.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data") and "boundary=" not in content_type:
            return error_response(InvalidRequest("multipart/form-data needs a boundary."))
        # ... and a UnicodeDecodeError for a part without a filename that is not UTF-8 text.
        if content_type.startswith("multipart/form-data") and isinstance(error, UnicodeDecodeError):
            return error_response(InvalidRequest("Send photos as files: other form fields must be UTF-8 text."))
        return _unexpected(error)

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        # The caller gets a stable code; the details stay in the logs.
        logger.exception("Unexpected error")
        return error_response(FaceMatchError("An internal error occurred."))

    return app


def _describe(errors: list[dict[str, Any]]) -> str:
    problems = []
    for error in errors:
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append(f"{location}: {error.get('msg')}" if location else str(error.get("msg")))
    return "; ".join(problems) or "The request is malformed."
