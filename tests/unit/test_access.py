"""Who an API key stands for: the admin key, an organization's key, or nobody."""

from __future__ import annotations

import hmac

import pytest

from facematch.access import ADMIN, ORGANIZATION, KeyChecker
from facematch.config import Settings
from facematch.errors import Unauthorized

ADMIN_KEY = "admin-key-0123456789"


class Keys:
    """Organization keys held in a dict, as ApiKeys answers them."""

    def __init__(self, owners: dict[str, tuple[str, str]]) -> None:
        self.owners = owners

    def organization_of(self, api_key: str) -> tuple[str, str] | None:
        return self.owners.get(api_key)


@pytest.fixture
def checker() -> KeyChecker:
    return KeyChecker(Settings(admin_key=ADMIN_KEY), Keys({"fmk_org": ("acme", "0123456789ab")}))


def test_the_admin_key_is_the_admin(checker):
    assert checker.principal(ADMIN_KEY).role == ADMIN


def test_an_organization_key_is_that_organization(checker):
    principal = checker.principal("fmk_org")
    assert (principal.role, principal.organization, principal.key_id) == (ORGANIZATION, "acme", "0123456789ab")


@pytest.mark.parametrize("key", [None, "", ADMIN_KEY[:-1], ADMIN_KEY + "x", ADMIN_KEY.upper(), "fmk_other"])
def test_any_other_key_is_unauthorized(checker, key):
    with pytest.raises(Unauthorized):
        checker.principal(key)


def test_the_admin_key_is_compared_in_constant_time(checker, monkeypatch):
    # A comparison that stops at the first differing byte leaks the key through timing.
    compared = []

    def recording_compare_digest(a, b):
        compared.append((a, b))
        return hmac.compare_digest(a, b)

    monkeypatch.setattr("facematch.access.hmac", type("hmac", (), {"compare_digest": staticmethod(recording_compare_digest)}))
    assert checker.principal(ADMIN_KEY).role == ADMIN
    assert compared == [(ADMIN_KEY.encode(), ADMIN_KEY.encode())]
