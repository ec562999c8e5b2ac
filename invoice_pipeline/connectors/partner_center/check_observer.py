"""What `providers check` observes of the real connector: the requests its client sends and what it is answered
(the collection's pages, each export's outcome, the v1 line pages), changing nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx

from invoice_pipeline.connectors.base import ConnectorContext
from invoice_pipeline.connectors.partner_center.answers import field as json_field
from invoice_pipeline.connectors.partner_center.check_steps import plural
from invoice_pipeline.connectors.partner_center.client import PartnerCenterClient
from invoice_pipeline.connectors.partner_center.connector import PartnerCenterConnector
from invoice_pipeline.connectors.partner_center.export import EXPORT_PATHS, NO_DATA_CODE
from invoice_pipeline.connectors.partner_center.settings import PartnerCenterSettings


@dataclass
class ObservedExport:
    """One v2 export the connector ran, as observed: its dataset and how it ended."""

    dataset: str
    outcome: str = "started, no manifest read"
    empty: bool = False  # no blob, or 5000 "No data available": the connector then reads the lines from v1


@dataclass
class Observations:
    """What the client was asked and answered: the invoice collection's pages, the exports, the v1 line pages."""

    collection_pages: list[Any] = field(default_factory=list)
    exports: list[ObservedExport] = field(default_factory=list)
    v1_pages: Counter[str] = field(default_factory=Counter)

    def requested(self, method: str, url: str) -> None:
        """Note a request the client sends: an export started, or a page of v1 line items."""
        where = httpx.URL(url)
        datasets = {path: dataset for dataset, path in EXPORT_PATHS.items()}
        dataset = next((name for path, name in datasets.items() if where.path.endswith(path)), None)
        if method == "POST" and dataset:
            self.exports.append(ObservedExport(dataset))
        elif method == "GET" and where.path.rstrip("/").endswith("/lineitems"):
            query = {k.lower(): v[-1] for k, v in parse_qs(where.query.decode()).items()}
            self.v1_pages[f"{query.get('provider', '?')} {query.get('invoicelineitemtype', '?')}"] += 1

    def answered(self, url: str, answer: Any) -> None:
        """Note an answer the client read: a page of the collection, or how the latest export stands."""
        if httpx.URL(url).path.rstrip("/").endswith("/invoices"):
            self.collection_pages.append(answer)
            return
        if not isinstance(answer, dict) or not self.exports:
            return
        export = self.exports[-1]
        status = str(json_field(answer, "status") or "").lower()
        if status == "failed":
            error = json_field(answer, "error")
            code, message = json_field(error, "code"), json_field(error, "message")
            said = " ".join(str(part) for part in (code, message) if part) or "no error details"
            no_data = str(code or "").strip() == NO_DATA_CODE
            export.outcome, export.empty = (f"no data ({said})", True) if no_data else (f"failed ({said})", False)
            return
        inline = json_field(answer, "resourceLocation")
        manifest = inline if status == "succeeded" and isinstance(inline, dict) else answer
        if json_field(manifest, "dataFormat") is not None or json_field(manifest, "blobs") is not None:
            blobs = json_field(manifest, "blobs")
            count = len(blobs) if isinstance(blobs, list) else 0
            data_format = json_field(manifest, "dataFormat") or "(no dataFormat)"
            export.outcome, export.empty = f"manifest {data_format}, {plural(count, 'blob')}", not count

    def exports_text(self, *, complete: bool) -> str:
        """The exports and v1 pages as observed; `complete`: the download succeeded (so an empty export's lines
        were read from v1)."""
        parts = [
            f"{export.dataset} export: {export.outcome}"
            + (", so its lines were read from v1" if complete and export.empty else "")
            for export in self.exports
        ]
        if self.v1_pages:
            pages = ", ".join(f"{kind} {n} page{'' if n == 1 else 's'}" for kind, n in sorted(self.v1_pages.items()))
            parts.append(f"v1 line items: {pages}")
        return "; ".join(parts) or "no export, no v1 line item page"


class ObservingClient(PartnerCenterClient):
    """The connector's client, telling `seen` what it was asked and what it was answered (it changes nothing)."""

    def __init__(
        self, settings: PartnerCenterSettings, secret: str, *, sleep: Callable[[float], None], seen: Observations
    ) -> None:
        super().__init__(settings, secret, sleep=sleep)
        self.seen = seen

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        """The client's request (with the same options), noted."""
        self.seen.requested(method, url)
        return super().request(method, url, **options)

    def parse_json(self, response: httpx.Response, url: str) -> Any:
        """The client's reading of an answer, noted."""
        answer = super().parse_json(response, url)
        self.seen.answered(url, answer)
        return answer


class ObservedConnector(PartnerCenterConnector):
    """The real connector, whose clients report to `seen`."""

    def __init__(
        self,
        settings: PartnerCenterSettings,
        context: ConnectorContext,
        *,
        sleep: Callable[[float], None],
        seen: Observations,
    ) -> None:
        super().__init__(settings, context, sleep=sleep)
        self.seen = seen

    def new_client(self, secret: str) -> PartnerCenterClient:
        """The connector's client (the same secret from the same variable), observed."""
        return ObservingClient(self.settings, secret, sleep=self.sleep, seen=self.seen)
