"""The fake Partner Center's v1 routes, asked directly over HTTP: what Microsoft's pages say each route requires."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from invoice_pipeline.demo.partner_center_fake.invoices import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_TENANT_ID
from invoice_pipeline.demo.partner_center_fake.server import SCOPES

USAGE = "provider=onetime&invoicelineitemtype=usagelineitems"


@pytest.fixture
def v1(fake) -> Iterator[httpx.Client]:
    """A client of the fake's v1 API holding an app-only token (client credentials: the only kind the fake issues)."""
    answer = httpx.post(
        f"{fake.base_url}/login/{DEMO_TENANT_ID}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET,
            "scope": SCOPES["/v1"],
        },
    )
    token = answer.raise_for_status().json()["access_token"]
    with httpx.Client(base_url=f"{fake.base_url}/v1", headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def test_get_invoice_by_id_refuses_an_app_only_token_as_microsoft_documents(v1):
    answer = v1.get("/invoices/G200000001")

    assert answer.status_code == 403
    description = answer.json()["description"]
    assert "App+User credentials only" in description and "app-only" in description
    assert v1.get("/invoices/G999999999").status_code == 403  # refused before the invoice is looked up


def test_the_invoice_collection_and_line_items_stay_app_only(v1):
    assert v1.get("/invoices?size=200&offset=0").status_code == 200
    office = v1.get("/invoices/G200000001/lineitems?provider=office&invoicelineitemtype=billinglineitems&size=2")
    assert office.status_code == 200 and len(office.json()["items"]) == 2
    assert v1.get(f"/invoices/G200000002/lineitems?{USAGE}&currencycode=USD&period=previous").status_code == 200


@pytest.mark.parametrize(
    ("query", "missing"),
    [
        ("&period=previous", "currencycode"),
        ("&currencycode=USD", "period"),
        ("&currencycode=&period=previous", "currencycode"),
        ("", "currencycode, period"),
    ],
)
def test_billed_daily_rated_line_items_require_currencycode_and_period(v1, query, missing):
    answer = v1.get(f"/invoices/G200000002/lineitems?{USAGE}{query}&size=2")

    assert answer.status_code == 400
    assert f"missing query parameter(s): {missing}" in answer.json()["description"]


def test_billed_daily_rated_pages_carry_currencycode_and_period_in_their_next_link(v1):
    first = v1.get(f"/invoices/G200000002/lineitems?{USAGE}&currencycode=USD&period=previous&size=2").json()
    following = first["links"]["next"]
    assert "currencycode=USD" in following["uri"] and "period=previous" in following["uri"]

    second = v1.get(following["uri"], headers={h["key"]: h["value"] for h in following["headers"]})

    assert second.status_code == 200 and len(first["items"]) + len(second.json()["items"]) == 3
