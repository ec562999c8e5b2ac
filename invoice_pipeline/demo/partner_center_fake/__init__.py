"""A fake Microsoft Partner Center on loopback: token endpoint, v1 invoices, Graph export and a blob store.

It implements the documented shapes (see the API reference the connector follows) so that tests and the
demo run the real connector over real HTTP, without a Microsoft account. Faults are switched on through
`fake.faults` (tests) or command line flags::

    python -m invoice_pipeline.demo.partner_center_fake --port 8765

Routes, under http://HOST:PORT: `/login/{tenant}/oauth2/v2.0/token`, `/v1/...` (Partner Center API),
`/graph/v1.0/...` (Graph) and `/blobs/...` (the blob store, SAS in the query).

Modules: `server` (faults, `PartnerCenterFake`, routing and tokens), `v1`, `graph` and `blobs` (the routes of
each API), `handler` (their shared plumbing), `invoices` (the demo's data and the invoice builders tests use),
`__main__` (the command line).
"""

from invoice_pipeline.demo.partner_center_fake.blobs import SAS_TOKEN, export_blobs, pascal_case
from invoice_pipeline.demo.partner_center_fake.graph import EXPORTS
from invoice_pipeline.demo.partner_center_fake.handler import to_json
from invoice_pipeline.demo.partner_center_fake.invoices import (
    ADVENTURE_WORKS,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_TENANT_ID,
    NORTHWIND,
    TAILSPIN,
    FakeInvoice,
    azure_plan_reconciliation_line,
    daily_rated_line,
    demo_invoices,
    license_based_line,
    make_invoice,
    one_time_line,
)
from invoice_pipeline.demo.partner_center_fake.server import SCOPES, Faults, PartnerCenterFake

__all__ = [
    "ADVENTURE_WORKS",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "DEMO_TENANT_ID",
    "EXPORTS",
    "NORTHWIND",
    "SAS_TOKEN",
    "SCOPES",
    "TAILSPIN",
    "FakeInvoice",
    "Faults",
    "PartnerCenterFake",
    "azure_plan_reconciliation_line",
    "daily_rated_line",
    "demo_invoices",
    "export_blobs",
    "license_based_line",
    "make_invoice",
    "one_time_line",
    "pascal_case",
    "to_json",
]
