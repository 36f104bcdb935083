"""Page tokens: where a listing stopped, signed so that only tokens this API issued come back.

A token is ``base64url(payload).base64url(HMAC-SHA256)``, the payload being the canonical JSON
of DynamoDB's LastEvaluatedKey. The MAC covers the payload and the listing it continues (the
organization and the external_id filter): a token of one organization, or of one person's
listing, continues nothing else. Anything unsigned is refused before its content is parsed, so
no crafted key (wrong types, deep nesting) ever reaches DynamoDB or the JSON parser.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from facematch.config import Settings
from facematch.errors import InvalidPageToken
from facematch.secret_values import secret_value


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


class PageTokens:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def issue(self, last_key: dict[str, Any] | None, organization: str, external_id: str | None) -> str | None:
        """The token for the page after ``last_key``; None when the listing is complete."""
        if last_key is None:
            return None
        payload = _canonical(last_key)
        return f"{_encode(payload)}.{_encode(self._mac(payload, organization, external_id))}"

    def start_key(self, token: str | None, organization: str, external_id: str | None) -> dict[str, Any] | None:
        """The key a listing resumes after, if ``token`` was issued for this very listing."""
        if not token:
            return None
        encoded_payload, _, encoded_mac = token.partition(".")
        try:
            payload, mac = _decode(encoded_payload), _decode(encoded_mac)
            signed = hmac.compare_digest(mac, self._mac(payload, organization, external_id))
        except (binascii.Error, ValueError):
            signed = False
        if not signed:
            raise InvalidPageToken("next_token is not a token this API returned for this listing.")
        return json.loads(payload)

    def _mac(self, payload: bytes, organization: str, external_id: str | None) -> bytes:
        listing = _canonical({"organization": organization, "external_id": external_id})
        return hmac.new(self._key(), listing + b"\n" + payload, hashlib.sha256).digest()

    def _key(self) -> bytes:
        settings = self._settings
        secret = secret_value(
            settings.page_token_secret, settings.page_token_secret_parameter, settings.secret_max_age_seconds
        )
        if not secret:
            raise RuntimeError("Set FACEMATCH_PAGE_TOKEN_SECRET or FACEMATCH_PAGE_TOKEN_SECRET_PARAMETER.")
        return secret.encode()
