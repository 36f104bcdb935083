"""Finding who in an organization a photo shows, and how sure such an answer can be there."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import File, Form, Query

from facematch.errors import (
    ImageTooLarge,
    InvalidImage,
    NoFaceDetected,
    OrganizationNotFound,
    OrganizationPurging,
    UnsupportedImageFormat,
    UnsupportedMediaType,
)
from facematch.http import (
    Caller,
    ImageField,
    OrganizationField,
    OrganizationPath,
    documented,
    image_input,
    json_response,
)
from facematch.matching import MAX_TOP_K
from facematch.models import Calibration, ComparisonResult, FaceChoice, GroupBy, MatchRule
from facematch.wiring import FaceMatch

metrics = Metrics()
TAGS = ["matching"]
# The E-value under which a match is significant (default: the deployment's setting).
MAX_EXPECTED = {"gt": 0, "le": 1_000_000, "description": "The E-value under which a match is significant"}


def routes(service: FaceMatch) -> Router:
    router = Router()

    @router.post(
        "/api/face-compare",
        summary="Find who a photo shows",
        operation_id="compareFace",
        description=(
            "The organization's enrolled faces nearest to the photo's largest face, best first, each "
            "with the chance a stranger comes as close (false_match_probability) and the number of "
            "such chance matches a search this size expects (expected_false_matches, the E-value); "
            "match says whether the best is within the threshold (cosine distance), and under the "
            "significance rule significant too. faces=all answers every face of the photo in faces; "
            "group_by=person lists each person's best face, with how many of theirs match."
        ),
        tags=TAGS,
        responses=documented(
            ComparisonResult, InvalidImage, OrganizationNotFound, UnsupportedMediaType,
            ImageTooLarge, UnsupportedImageFormat, NoFaceDetected, OrganizationPurging,
        ),
    )
    def compare(
        caller: Caller,
        image: Annotated[ImageField, File(description="Photo: a file, or a base64 string in JSON")],
        organization: OrganizationField = None,
        threshold: Annotated[float | None, Form(ge=0.0, le=2.0)] = None,
        top_k: Annotated[int, Form(ge=1, le=MAX_TOP_K)] = 1,
        match_rule: Annotated[
            MatchRule | None,
            Form(description="threshold: distance alone; significance: distance and E-value (default: the deployment's)"),
        ] = None,
        max_expected_false_matches: Annotated[float | None, Form(**MAX_EXPECTED)] = None,
        faces: Annotated[
            FaceChoice, Form(description="largest: the largest face; all: every face, answered in faces")
        ] = "largest",
        group_by: Annotated[
            GroupBy,
            Form(description="embedding: one entry per face; person: one per person (external_id), its best face"),
        ] = "embedding",
    ):
        result = service.matching.compare(
            caller.organization_for(organization), image_input(image), threshold=threshold, top_k=top_k,
            match_rule=match_rule, max_expected_false_matches=max_expected_false_matches,
            faces=faces, group_by=group_by,
        )
        metrics.add_metric(name="Matches" if result.match else "NonMatches", unit="Count", value=1)
        # Only what was asked for: a default request gets the answer it always got.
        return json_response(200, result.model_dump(mode="json", exclude_unset=True))

    @router.get(
        "/api/organizations/<organization>/calibration",
        summary="Read how sure a match can be in an organization",
        operation_id="getCalibration",
        description=(
            "The estimate of how close strangers come that compares use here: its source, the stranger "
            "distances behind it, its quantiles, and the distance under which a match is significant "
            "at the organization's size today (expected_false_matches < max_expected_false_matches)."
        ),
        tags=TAGS,
        responses=documented(Calibration, OrganizationNotFound, OrganizationPurging),
    )
    def calibration(
        caller: Caller,
        organization: OrganizationPath,
        max_expected_false_matches: Annotated[float | None, Query(**MAX_EXPECTED)] = None,
    ) -> Calibration:
        return service.calibrations.of(caller.organization_for(organization), max_expected_false_matches)

    return router
