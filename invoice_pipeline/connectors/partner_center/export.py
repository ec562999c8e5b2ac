"""The v2 asynchronous export (Microsoft Graph): start it, poll the operation, read the manifest, fetch each blob.

Blobs are gzip-compressed JSON Lines. They are downloaded one at a time to disk and read back line by
line, so memory stays flat whatever the size of the export; the caller deletes each blob once read.
"""

from __future__ import annotations

import gzip
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from invoice_pipeline.connectors.base import ConnectorError
from invoice_pipeline.connectors.partner_center.answers import field, loads_exact, retry_after_seconds
from invoice_pipeline.connectors.partner_center.client import GRAPH_SCOPE, PartnerCenterClient

EXPORT_PATHS = {
    "reconciliation": "/reports/partners/billing/reconciliation/billed/export",
    "daily-rated usage": "/reports/partners/billing/usage/billed/export",
}
# "succeeded" in Graph's example answer; "completed" in the operation resource's list of statuses: both finish.
SUCCEEDED, FAILED = frozenset({"succeeded", "completed"}), "failed"
# The manifest's dataFormat: documented as `compressedJSONLines` (Graph `partners-billing-manifest` resource page),
# whose example body shows `compressedJSON`. Both mean gzip-compressed JSON Lines; compared case-insensitively.
MANIFEST_FORMATS = ("compressedJSONLines", "compressedJSON")
# An operation that ends `failed` with this error code ("No data available") means the dataset has no lines for
# the invoice: an empty export, not a failure. Any other failure is one.
NO_DATA_CODE = "5000"


@dataclass(frozen=True)
class ExportBlob:
    """One downloaded blob of an export, on local disk."""

    name: str
    path: Path


def run_export(
    client: PartnerCenterClient,
    invoice_id: str,
    dataset: str,
    folder: Path,
) -> Iterator[ExportBlob]:
    """Export one invoice's billed `dataset` and yield its blobs one at a time, downloaded into `folder`.

    Yields nothing when the export succeeded without blobs, or failed with error code 5000 "No data available":
    the dataset has no lines for this invoice. Any other failed operation, an operation still running after
    `export_timeout_minutes`, or an unusable manifest is a ConnectorError saying what Partner Center answered.
    """
    what = f"the {dataset} export of invoice {invoice_id}"
    started = client.request(
        "POST",
        client.graph_url(EXPORT_PATHS[dataset]),
        scope=GRAPH_SCOPE,
        json_body={"invoiceId": invoice_id, "attributeSet": "full"},
    )
    location = started.headers.get("Location")
    if not location:
        raise ConnectorError(f"{what}: Partner Center answered {started.status_code} without an operation Location")
    manifest = _manifest(client, str(httpx.URL(client.settings.graph_url + "/").join(location)), what)
    if manifest is None:
        return
    data_format = field(manifest, "dataFormat")
    if data_format and str(data_format).lower() not in {f.lower() for f in MANIFEST_FORMATS}:
        raise ConnectorError(
            f"{what}: the manifest's data format {data_format!r} is neither {' nor '.join(MANIFEST_FORMATS)} "
            "(gzip-compressed JSON Lines); nothing was imported"
        )
    blobs = field(manifest, "blobs") or []
    if not blobs:
        return
    root, sas = field(manifest, "rootDirectory"), str(field(manifest, "sasToken") or "").lstrip("?")
    if not root or not isinstance(blobs, list):
        raise ConnectorError(f"{what}: the manifest has no rootDirectory or no list of blobs")
    announced = field(manifest, "blobCount")
    if announced is not None and str(announced) != str(len(blobs)):
        raise ConnectorError(
            f"{what}: the manifest announces {announced} blobs but lists {len(blobs)}; nothing was imported, "
            "the next sync asks again"
        )
    for number, blob in enumerate(blobs):
        name = str(field(blob, "name") or "")
        if not name:
            raise ConnectorError(f"{what}: blob {number + 1} of the manifest has no name")
        url = f"{str(root).rstrip('/')}/{quote(name.lstrip('/'))}" + (f"?{sas}" if sas else "")
        path = folder / f"blob-{number:05d}.json.gz"
        client.download(url, path)
        yield ExportBlob(name, path)


def _manifest(client: PartnerCenterClient, operation_url: str, what: str) -> dict[str, Any] | None:
    """Poll the operation until it succeeds (then its manifest) or fails, honouring Retry-After; None when it
    failed with 5000 "No data available" (the dataset has no lines for the invoice)."""
    settings = client.settings
    deadline = time.monotonic() + settings.export_timeout_minutes * 60
    while True:
        response = client.request("GET", operation_url, scope=GRAPH_SCOPE)
        operation = client.parse_json(response, operation_url)
        status = str(field(operation, "status") or "").lower()
        if status == FAILED:
            error = field(operation, "error")
            code, message = field(error, "code"), field(error, "message")
            if str(code or "").strip() == NO_DATA_CODE:
                return None
            answer = " ".join(str(part) for part in (code, message) if part) or "no error details"
            raise ConnectorError(f"{what} failed at Partner Center: {answer}")
        if status in SUCCEEDED:
            return _succeeded_manifest(client, operation, what)
        # Running (or a status the reference does not name, e.g. notStarted): ask again later.
        if time.monotonic() >= deadline:
            raise ConnectorError(
                f"{what} was still {status or 'unfinished'} after {settings.export_timeout_minutes:g} minutes; "
                "the next sync retries it"
            )
        wait = retry_after_seconds(response)
        client.sleep(min(settings.max_retry_after_seconds, settings.export_poll_seconds if wait is None else wait))


def _succeeded_manifest(client: PartnerCenterClient, operation: dict[str, Any], what: str) -> dict[str, Any]:
    # Documented: a navigation link to the manifest; some clients see the manifest inline as resourceLocation.
    inline = field(operation, "resourceLocation")
    if isinstance(inline, dict):
        return inline
    link = field(operation, "resourceLocation@odata.navigationLink") or inline
    if not link:
        raise ConnectorError(f"{what} succeeded but Partner Center gave no manifest location")
    manifest = client.get_json(str(link), scope=GRAPH_SCOPE)
    if not isinstance(manifest, dict):
        raise ConnectorError(f"{what}: the manifest is not a JSON object")
    return manifest


def blob_line_items(blob: ExportBlob, what: str) -> Iterator[dict[str, Any]]:
    """The line items of one downloaded blob (gzip-compressed JSON Lines), one at a time."""
    number = 0
    try:
        with gzip.open(blob.path, "rt", encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):  # noqa: B007 - the number is reported on failure
                if not line.strip():
                    continue
                item = loads_exact(line)
                if not isinstance(item, dict):
                    raise ValueError("a line is not a JSON object")
                yield item
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError) as error:
        reason = f"{type(error).__name__}: {str(error)[:200]}"
        where = f" near line {number}" if number else ""
        raise ConnectorError(
            f"{what}: blob {blob.name} cannot be read{where} ({reason}); Partner Center must send "
            "gzip-compressed JSON Lines, the next sync retries it"
        ) from None
