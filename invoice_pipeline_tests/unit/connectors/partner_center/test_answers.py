"""Reading Partner Center's answers: what a token grants, without checking it."""

from __future__ import annotations

import base64
import json

from invoice_pipeline.connectors.partner_center.answers import token_roles


def _jwt(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part(claims)}.signature"


def test_a_tokens_roles_are_read_from_a_jwt_only():
    assert token_roles(_jwt({"roles": ["PartnerBilling.Read.All"]})) == ("PartnerBilling.Read.All",)
    assert token_roles(_jwt({"aud": "https://graph.microsoft.com"})) == ()
    assert token_roles("fake-access-0123") is None
    assert token_roles("a.b!.c") is None
