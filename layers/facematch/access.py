"""Who may act on which organization: API keys checked by the authorizer, tenants by the functions.

The API Gateway authorizer (``functions/authorizer``) turns an ``x-api-key`` into a principal
(an organization, or the admin) and API Gateway hands that to the functions in the request
context. Every route then resolves the organization it acts on through ``Principal``: an
organization key may only act on its own organization, and may leave ``organization`` out.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
)

from facematch.config import Settings
from facematch.errors import Forbidden, InvalidRequest, Unauthorized
from facematch.key_store import ApiKeys
from facematch.secret_values import secret_value

ADMIN = "admin"
ORGANIZATION = "organization"
API_KEY_HEADER = "x-api-key"


@dataclass(frozen=True)
class Principal:
    role: str
    key_id: str
    organization: str | None = None

    @classmethod
    def from_context(cls, context: dict[str, Any]) -> Principal:
        """The principal API Gateway passes on from the authorizer; none means no access."""
        if context.get("role") == ADMIN:
            return cls(role=ADMIN, key_id=context.get("key_id", ADMIN))
        if context.get("role") == ORGANIZATION and context.get("organization"):
            return cls(role=ORGANIZATION, key_id=context["key_id"], organization=context["organization"])
        raise Unauthorized("A valid x-api-key header is required.")

    def to_context(self) -> dict[str, str]:
        context = {"role": self.role, "key_id": self.key_id}
        if self.organization:
            context["organization"] = self.organization
        return context

    def organization_for(self, requested: str | None) -> str:
        """The organization this request acts on."""
        if self.role == ADMIN:
            if not requested:
                raise InvalidRequest("organization is required with the admin key.")
            return requested
        if requested and requested != self.organization:
            raise Forbidden(f"This API key is for organization {self.organization!r}.")
        return self.organization

    def require_admin(self, to: str = "manage API keys") -> None:
        if self.role != ADMIN:
            raise Forbidden(f"Only the admin key may {to}.")


class KeyChecker:
    """The authorizer's decision: which principal an API key stands for."""

    def __init__(self, settings: Settings, keys: ApiKeys) -> None:
        self._settings = settings
        self._keys = keys

    def principal(self, api_key: str | None) -> Principal:
        if not api_key:
            raise Unauthorized("A valid x-api-key header is required.")
        admin_key = self._admin_key()
        if admin_key and hmac.compare_digest(api_key.encode(), admin_key.encode()):
            return Principal(role=ADMIN, key_id=ADMIN)
        owner = self._keys.organization_of(api_key)
        if owner is None:
            raise Unauthorized("A valid x-api-key header is required.")
        organization, key_id = owner
        return Principal(role=ORGANIZATION, key_id=key_id, organization=organization)

    def _admin_key(self) -> str | None:
        # Re-read after secret_max_age_seconds, so a rotated admin key stops working in warm
        # processes too (and API Gateway's cached answers expire within their TTL).
        settings = self._settings
        return secret_value(settings.admin_key, settings.admin_key_parameter, settings.secret_max_age_seconds)


def authorizer_response(checker: KeyChecker, event: APIGatewayAuthorizerRequestEvent) -> dict[str, Any]:
    """Allow the caller on every route, telling the functions who it is; 401 for a bad key.

    API Gateway caches the answer per key, so it must hold for any route: which organization
    a request may touch is decided by the functions, from the principal passed on here.
    """
    try:
        principal = checker.principal(event.get_header_value(API_KEY_HEADER, case_sensitive=False))
    except Unauthorized:
        raise Exception("Unauthorized") from None  # noqa: TRY002 - API Gateway's signal for 401
    arn = event.parsed_arn
    response = APIGatewayAuthorizerResponse(
        principal_id=principal.key_id,
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        context=principal.to_context(),
    )
    response.allow_all_routes()
    return response.asdict()
