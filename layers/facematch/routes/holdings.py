"""What an organization holds, and erasing it: a face, a person, or the whole organization."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from facematch.errors import (
    EmbeddingNotFound,
    InvalidPageToken,
    OrganizationPurging,
    RouteNotFound,
    StoreConflict,
)
from facematch.http import (
    Acting,
    Caller,
    NextToken,
    OrganizationPath,
    OrganizationQuery,
    PageLimit,
    api_base_url,
    documented,
    json_response,
)
from facematch.inputs import EXTERNAL_ID_PATTERN
from facematch.models import Deletion, EmbeddingPage, PersonPage, Purge, StoredEmbedding, dump
from facematch.wiring import FaceMatch

TAGS = ["holdings"]
PERSONS = ["persons"]


def routes(service: FaceMatch) -> Router:
    router = Router()

    @router.get(
        "/api/embeddings",
        summary="List the embeddings held",
        description="The organization's embeddings (never the vectors), a page at a time; or one person's "
        "(external_id).",
        operation_id="listEmbeddings",
        tags=TAGS,
        responses=documented(EmbeddingPage, InvalidPageToken, OrganizationPurging),
    )
    def list_embeddings(
        caller: Caller,
        organization: OrganizationQuery = None,
        limit: PageLimit = 50,
        next_token: NextToken = None,
        external_id: Annotated[str | None, Query(pattern=EXTERNAL_ID_PATTERN)] = None,
    ) -> EmbeddingPage:
        return service.holdings.list_embeddings(
            caller.organization_for(organization), limit=limit, next_token=next_token, external_id=external_id
        )

    @router.get(
        "/api/persons",
        summary="List the persons held",
        operation_id="listPersons",
        description="The organization's persons (external_id), a page at a time: how many faces each has, "
        "and when the first and the last were enrolled. Unlabelled faces are no person.",
        tags=PERSONS,
        responses=documented(PersonPage, InvalidPageToken, OrganizationPurging),
    )
    def list_persons(
        caller: Caller,
        organization: OrganizationQuery = None,
        limit: PageLimit = 50,
        next_token: NextToken = None,
    ) -> PersonPage:
        return service.holdings.list_persons(caller.organization_for(organization), limit=limit, next_token=next_token)

    @router.get(
        "/api/embeddings/<embed_id>",
        summary="Read one embedding's record",
        description="What FaceMatch holds about one face: when and from what it was enrolled, its face box, "
        "its label, whether its photo is kept; never the vector.",
        operation_id="getEmbedding",
        tags=TAGS,
        responses=documented(StoredEmbedding, EmbeddingNotFound, RouteNotFound, OrganizationPurging),
    )
    def get_embedding(
        caller: Caller, embed_id: Annotated[int, Path(ge=1)], organization: OrganizationQuery = None
    ) -> StoredEmbedding:
        return service.holdings.get_embedding(caller.organization_for(organization), embed_id)

    @router.delete(
        "/api/embeddings/<embed_id>",
        summary="Delete one face",
        operation_id="deleteEmbedding",
        description="No search finds it once this answers; its vector, photo and records are gone from live storage.",
        tags=TAGS,
        responses=documented(Deletion, EmbeddingNotFound, RouteNotFound, OrganizationPurging, StoreConflict),
    )
    def delete_embedding(
        caller: Caller, acting: Acting, embed_id: Annotated[int, Path(ge=1)], organization: OrganizationQuery = None
    ) -> Deletion:
        return service.holdings.delete_embedding(caller.organization_for(organization), embed_id, acting)

    @router.delete(
        "/api/embeddings",
        summary="Delete a person",
        operation_id="deletePerson",
        description="Every face labelled external_id: one person's right to erasure (docs/erasure.md).",
        tags=PERSONS,
        responses=documented(Deletion, EmbeddingNotFound, OrganizationPurging, StoreConflict),
    )
    def delete_person(
        caller: Caller,
        acting: Acting,
        external_id: Annotated[str, Query(pattern=EXTERNAL_ID_PATTERN)],
        organization: OrganizationQuery = None,
    ) -> Deletion:
        return service.holdings.delete_person(caller.organization_for(organization), external_id, acting)

    @router.delete(
        "/api/organizations/<organization>",
        summary="Purge an organization",
        operation_id="purgeOrganization",
        description="Everything of the organization: vectors, photos, uploads, records and API keys.",
        tags=TAGS,
        responses=documented(
            Purge, RouteNotFound, StoreConflict,
            also={202: "The purge goes on as a job: status_url (and Location) tells when it is done."},
        ),
    )
    def purge_organization(caller: Caller, acting: Acting, organization: OrganizationPath):
        purge = service.holdings.purge_organization(
            caller.organization_for(organization),
            acting,
            time_left=router.lambda_context.get_remaining_time_in_millis() / 1000,
            api_base=api_base_url(router.current_event),
        )
        if purge.job_id is None:
            return json_response(200, dump(purge))
        return json_response(202, dump(purge), {"Location": purge.status_url})

    return router
