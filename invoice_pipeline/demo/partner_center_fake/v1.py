"""The Partner Center v1 API: the invoice collection, one invoice, and its line items (offset and seek paging).

As Microsoft documents them: "Get invoice by ID ... supports authentication with App+User credentials only"
(learn.microsoft.com/partner-center/developer/get-invoice-by-id), so one invoice is refused 403 to the fake's
tokens, which are all app-only (client credentials); the invoice collection and line items take app-only tokens.
Billed daily-rated line items (`provider=onetime&invoicelineitemtype=usagelineitems`) require `currencycode` and
`period` (`...&currencycode={code}&period=previous&size=...`): without either the answer is 400 naming it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from invoice_pipeline.demo.partner_center_fake.handler import FakeRequestHandler
from invoice_pipeline.demo.partner_center_fake.invoices import FakeInvoice

APP_USER_ONLY = (
    "Get invoice by ID supports authentication with App+User credentials only; this access token is app-only "
    "(client_credentials)"
)
DAILY_RATED_PARAMETERS = ("currencycode", "period")


class PartnerCenterRoutes(FakeRequestHandler):
    """The `/v1/...` routes."""

    def _v1(self, method: str, path: str) -> None:
        parts = path.strip("/").split("/")
        if method != "GET" or parts[0] != "invoices" or len(parts) > 3:
            return self._error(404, f"no route {path}")
        if len(parts) == 1:
            return self._invoice_collection()
        if len(parts) == 2:  # every token the fake issues is app-only
            return self._error(403, APP_USER_ONLY)
        invoice = self.fake.invoices.get(parts[1])
        if parts[1] in self.fake.faults.forbidden:
            return self._error(403, "Forbidden: the partner is not authorized to read billing data")
        if invoice is None:
            return self._error(404, f"Invoice {parts[1]} was not found")
        if parts[2] != "lineitems":
            return self._error(404, f"no route {path}")
        return self._line_items(invoice)

    def _page_size(self, asked: str | None) -> int:
        return max(1, min(int(asked or 200), self.fake.faults.page_size))

    def _collection(self, items: list[Any], total: int, next_link: dict[str, Any] | None, token: str = "") -> None:
        body: dict[str, Any] = {"totalCount": total, "items": items, "attributes": {"objectType": "Collection"}}
        if token:
            body["continuationToken"] = token
        body["links"] = {"self": {"uri": self.path.removeprefix("/v1"), "method": "GET", "headers": []}}
        if next_link:
            body["links"]["next"] = next_link
        self._json(200, body)

    def _invoice_collection(self) -> None:
        # Notes nested in an invoice's `amendments` are not listed again; without the fault, no billing period
        # either: Microsoft's collection example (get-a-collection-of-invoices) has none, only "Get invoice by ID" has.
        listed = [self._listed(i.invoice) for i in self.fake.invoices.values() if not i.nested]
        for note in (i for i in self.fake.invoices.values() if i.nested):
            original = next((i for i in listed if i.get("id") == note.invoice.get("amendsOf")), None)
            amendments = original.setdefault("amendments", []) if original is not None else []
            if original is not None and note.invoice_id not in {a.get("id") for a in amendments}:
                amendments.append(self._listed(note.invoice))
        invoices = listed
        size, offset = self._page_size(self.query.get("size")), int(self.query.get("offset") or 0)
        # "For all modern commercial purchases, pagesize & offset will be ignored" (get-a-collection-of-invoices)
        offset = 0 if self.fake.faults.offsets_ignored else offset
        page = invoices[offset : offset + size]
        more = offset + size < len(invoices)
        link = {"uri": f"/invoices?size={size}&offset={offset + size}", "method": "GET", "headers": []}
        self._collection(page, len(page), link if more and self.fake.faults.invoice_next_links else None)

    def _listed(self, invoice: dict[str, Any]) -> dict[str, Any]:
        """An invoice as the collection lists it: without its billing period unless the fault lists it, with its
        own copy of `amendments` when it has some (nested notes are added to it)."""
        hidden = (
            () if self.fake.faults.collection_billing_periods else ("billingPeriodStartDate", "billingPeriodEndDate")
        )
        listed = {k: v for k, v in invoice.items() if k not in hidden}
        if "amendments" in listed:
            listed["amendments"] = list(listed["amendments"] or [])
        return listed

    def _line_items(self, invoice: FakeInvoice) -> None:
        provider, item_type = self.query.get("provider", "").lower(), self.query.get("invoicelineitemtype", "").lower()
        items = {
            ("office", "billinglineitems"): invoice.license_based,
            ("onetime", "billinglineitems"): invoice.one_time,
            ("onetime", "usagelineitems"): invoice.daily_rated,
        }.get((provider, item_type))
        if items is None:
            return self._error(400, f"provider={provider} with invoicelineitemtype={item_type} is not supported")
        size = self._page_size(self.query.get("size"))
        base = f"/invoices/{invoice.invoice_id}/lineitems?provider={provider}&invoicelineitemtype={item_type}"
        if item_type == "usagelineitems":
            asked = {name.lower(): value for name, value in self.query.items()}
            missing = [name for name in DAILY_RATED_PARAMETERS if not asked.get(name)]
            if missing:
                return self._error(
                    400,
                    f"missing query parameter(s): {', '.join(missing)}; billed daily-rated line items need "
                    "currencycode and period (e.g. &currencycode=USD&period=previous)",
                )
            base += "".join(f"&{name}={quote(asked[name])}" for name in DAILY_RATED_PARAMETERS)
        if provider == "office":  # offset paging
            offset = int(self.query.get("offset") or 0)
            page, more = items[offset : offset + size], offset + size < len(items)
            link: dict[str, Any] = {"uri": f"{base}&size={size}&offset={offset + size}", "method": "GET", "headers": []}
            return self._collection(page, len(page), link if more and self.fake.faults.line_item_next_links else None)
        # Seek paging: the position travels in the MS-ContinuationToken header of links.next.
        if self.query.get("seekOperation") == "Next":
            token = self.headers.get("MS-ContinuationToken", "")
            if not token.startswith("seek-"):
                return self._error(400, "seekOperation=Next needs the MS-ContinuationToken header")
            offset = int(token.removeprefix("seek-"))
        else:
            offset = 0
        page, more = items[offset : offset + size], offset + size < len(items)
        token = f"seek-{offset + size}"
        link = {
            "uri": f"{base}&size={size}&seekOperation=Next",
            "method": "GET",
            "headers": [{"key": "MS-ContinuationToken", "value": token}],
        }
        self._collection(page, len(page), link if more else None, token if more else "")
