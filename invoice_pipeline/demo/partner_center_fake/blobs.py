"""The blob store behind the Graph export: export blobs (gzipped JSON Lines) and their download, SAS in the query."""

from __future__ import annotations

import gzip
from typing import TYPE_CHECKING

from invoice_pipeline.demo.partner_center_fake.handler import XML, FakeRequestHandler
from invoice_pipeline.demo.partner_center_fake.json_text import pascal_case, to_json

if TYPE_CHECKING:
    from invoice_pipeline.demo.partner_center_fake.server import PartnerCenterFake

SAS_TOKEN = "sv=2023-11-03&se=2099-01-01T00%3A00%3A00Z&sr=c&sp=rl&sig=fake-signature"


def export_blobs(fake: PartnerCenterFake, invoice_id: str, dataset: str) -> dict[str, bytes]:
    """The blobs of one export (`reconciliation` or `daily_rated`), by name: gzipped JSON Lines, built once."""
    key = (invoice_id, dataset, fake.faults.blobs_per_export, invoice_id in fake.faults.unreadable_blobs)
    with fake.lock:
        if key not in fake.blob_cache:
            fake.blob_cache[key] = _compress_blobs(fake, invoice_id, dataset)
        return fake.blob_cache[key]


def _compress_blobs(fake: PartnerCenterFake, invoice_id: str, dataset: str) -> dict[str, bytes]:
    invoice = fake.invoices.get(invoice_id)
    if invoice is None or dataset not in invoice.v2_datasets:
        return {}
    items = invoice.one_time if dataset == "reconciliation" else invoice.daily_rated
    if not items:
        return {}
    count = max(1, min(fake.faults.blobs_per_export, len(items)))
    blobs = {}
    for number in range(count):
        lines = "".join(to_json(pascal_case(item)) + "\n" for item in items[number::count])
        blobs[f"part-{number:05d}-{dataset}.json.gz"] = gzip.compress(lines.encode(), mtime=0)
    if invoice_id in fake.faults.unreadable_blobs:
        blobs[list(blobs)[-1]] = b"<html>this is not gzip</html>"
    return blobs


class BlobRoutes(FakeRequestHandler):
    """The `/blobs/...` routes."""

    def _blob(self, path: str) -> None:
        if "Authorization" in self.headers:
            return self._send(400, "<Error><Code>InvalidAuthenticationInfo</Code></Error>", XML)
        if self.query.get("sig") != "fake-signature":
            return self._send(403, "<Error><Code>AuthenticationFailed</Code><Message>bad SAS</Message></Error>", XML)
        parts = path.split("/")
        invoice_id = next((p.removeprefix("InvoiceId=") for p in parts if p.startswith("InvoiceId=")), "")
        content = export_blobs(self.fake, invoice_id, parts[-2]).get(parts[-1])
        if content is None:
            return self._send(404, "<Error><Code>BlobNotFound</Code></Error>", XML)
        if self.fake.take("dropped_downloads"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content[: len(content) // 2])
            self.wfile.flush()
            self.close_connection = True
            return None
        return self._send(200, content, {"Content-Type": "application/octet-stream"})
