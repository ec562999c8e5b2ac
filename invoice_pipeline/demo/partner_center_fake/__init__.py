"""A fake Microsoft Partner Center on loopback: token endpoint, v1 invoices, Graph export and a blob store.

It implements the documented shapes (see the API reference the connector follows) so that tests and the
demo run the real connector over real HTTP, without a Microsoft account. Faults are switched on through
`fake.faults` (tests) or command line flags::

    python -m invoice_pipeline.demo.partner_center_fake --port 8765

Routes, under http://HOST:PORT: `/login/{tenant}/oauth2/v2.0/token`, `/v1/...` (Partner Center API),
`/graph/v1.0/...` (Graph) and `/blobs/...` (the blob store, SAS in the query).

Modules: `server` (faults, `PartnerCenterFake`, routing and tokens), `v1`, `graph` and `blobs` (the routes of
each API), `handler` (their shared plumbing), `json_text` (JSON with exact numbers, keys as each API spells them),
`invoices` (the demo's data and the invoice builders tests use), `__main__` (the command line). Import each name
from its module: importing this package loads no server.
"""
