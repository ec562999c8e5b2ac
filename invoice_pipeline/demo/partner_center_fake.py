"""A fake Microsoft Partner Center on loopback: token endpoint, v1 invoices, Graph export and a blob store.

It implements the documented shapes (see the API reference the connector follows) so that tests and the
demo run the real connector over real HTTP, without a Microsoft account. Faults are switched on through
`fake.faults` (tests) or command line flags::

    python -m invoice_pipeline.demo.partner_center_fake --port 8765

Routes, under http://HOST:PORT: `/login/{tenant}/oauth2/v2.0/token`, `/v1/...` (Partner Center API),
`/graph/v1.0/...` (Graph) and `/blobs/...` (the blob store, SAS in the query).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEMO_TENANT_ID = "11111111-2222-3333-4444-555555555555"
DEMO_CLIENT_ID = "demo-client-id"
DEMO_CLIENT_SECRET = "demo"
SCOPES = {"/v1": "https://api.partnercenter.microsoft.com/.default", "/graph": "https://graph.microsoft.com/.default"}
SAS_TOKEN = "sv=2023-11-03&se=2099-01-01T00%3A00%3A00Z&sr=c&sp=rl&sig=fake-signature"
EXPORTS = {
    "/graph/v1.0/reports/partners/billing/reconciliation/billed/export": "reconciliation",
    "/graph/v1.0/reports/partners/billing/usage/billed/export": "daily_rated",
}
NORTHWIND = "7f3c2a10-1b7e-4c55-9a51-2d1f0e6b8a01"
ADVENTURE_WORKS = "0b9d4e22-6c3a-4f1d-8e27-9a5c3b7d1e02"
TAILSPIN = "c41e8f33-2d9b-4a6e-b318-7e2f4a9c5d03"


def to_json(value: Any) -> str:
    """JSON text in which Decimals are written as exact JSON numbers (as Partner Center writes amounts)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    return json.dumps(value)


def pascal_case(item: dict[str, Any]) -> dict[str, Any]:
    """Keys as export blobs spell them (PascalCase), to prove the client matches keys case-insensitively."""
    return {key[:1].upper() + key[1:]: value for key, value in item.items()}


@dataclass
class FakeInvoice:
    """One invoice and its line items, by kind; `v2_datasets` are the exports that have data for it."""

    invoice: dict[str, Any]
    license_based: list[dict[str, Any]] = field(default_factory=list)
    one_time: list[dict[str, Any]] = field(default_factory=list)
    daily_rated: list[dict[str, Any]] = field(default_factory=list)
    v2_datasets: set[str] = field(default_factory=lambda: {"reconciliation", "daily_rated"})

    @property
    def invoice_id(self) -> str:
        """The invoice number."""
        return str(self.invoice["id"])


@dataclass
class Faults:
    """Faults the fake plays; counters count down as they are served."""

    throttled: int = 0  # the next N API, Graph or blob requests get 429 with Retry-After
    retry_after: str = "1"
    server_errors: int = 0  # the next N API, Graph or blob requests get 500
    stalled: int = 0  # the next N API, Graph or blob requests wait `stall_seconds` before answering
    stall_seconds: float = 2.0
    expired_tokens: int = 0  # the next N tokens issued are refused (401) when used, as if expired early
    running_polls: int = 1  # each export operation answers `running` this many times first
    poll_retry_after: str = "0"
    blobs_per_export: int = 3
    failed_exports: dict[str, tuple[str, str]] = field(default_factory=dict)  # invoice id -> (code, message)
    unreadable_blobs: set[str] = field(default_factory=set)  # invoice ids whose last blob is not gzip
    dropped_downloads: int = 0  # the next N blob downloads are cut half way
    forbidden: set[str] = field(default_factory=set)  # invoice ids answered 403
    page_size: int = 2  # at most this many items per v1 page, to make paging happen
    invoice_next_links: bool = True  # False: the invoice collection has no links.next (offset paging)
    line_item_next_links: bool = True  # False: offset-paged line items have no links.next either
    blob_count_off: int = 0  # added to the manifest's blobCount (a manifest that does not list every blob)


@dataclass
class _Operation:
    invoice_id: str
    dataset: str
    polls_left: int


class PartnerCenterFake:
    """The fake servers, in one ThreadingHTTPServer on loopback; start() then use `base_url`, stop() at the end."""

    def __init__(
        self,
        invoices: list[FakeInvoice] | None = None,
        *,
        client_secret: str = DEMO_CLIENT_SECRET,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.invoices = {i.invoice_id: i for i in (invoices if invoices is not None else demo_invoices())}
        self.client_secret = client_secret
        self.faults = Faults()
        self.requests: list[dict[str, Any]] = []
        self.tokens: dict[str, str] = {}  # token -> scope
        self.expired: set[str] = set()
        self.operations: dict[str, _Operation] = {}
        self.blob_cache: dict[tuple[str, str, int, bool], dict[str, bytes]] = {}
        self.lock = threading.Lock()
        self._counter = itertools.count(1)
        self.server = ThreadingHTTPServer((host, port), _handler(self))
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """http://host:port of the running fake."""
        host, port = self.server.socket.getsockname()[:2]  # an IPv4 socket: (host text, port)
        return f"http://{host}:{port}"

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """The `partner_center` provider settings that point at this fake."""
        return {
            "tenant_id": DEMO_TENANT_ID,
            "client_id": DEMO_CLIENT_ID,
            "client_secret_env": "PARTNER_CENTER_CLIENT_SECRET",
            "login_url": f"{self.base_url}/login",
            "api_url": f"{self.base_url}/v1",
            "graph_url": f"{self.base_url}/graph/v1.0",
            **overrides,
        }

    def start(self) -> PartnerCenterFake:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.server.serve_forever, name="partner-center-fake", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()

    def take(self, name: str) -> bool:
        """Consume one occurrence of a counted fault (thread-safe)."""
        with self.lock:
            left = getattr(self.faults, name)
            if left > 0:
                setattr(self.faults, name, left - 1)
                return True
            return False

    def next_id(self, prefix: str) -> str:
        """A fresh id for an operation or manifest."""
        return f"{prefix}-{next(self._counter):04d}"

    def paths(self, method: str | None = None) -> list[str]:
        """The paths requested so far (optionally of one method)."""
        return [r["path"] for r in self.requests if method is None or r["method"] == method]


def _handler(fake: PartnerCenterFake) -> type[BaseHTTPRequestHandler]:
    class Handler(_FakeHandler):
        pass

    Handler.fake = fake
    return Handler


class _FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: PartnerCenterFake

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Quiet: the fake records requests in `fake.requests` instead."""

    # Plumbing ---------------------------------------------------------------------------------------

    def _send(self, status: int, body: bytes | str, headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, to_json(value), headers)

    def _error(self, status: int, description: str) -> None:
        self._json(status, {"code": str(status), "description": description, "data": [], "source": "PartnerFD"})

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        """Serve a GET."""
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        """Serve a POST."""
        self._serve("POST")

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        fake = self.fake
        fake.requests.append(
            {"method": method, "path": url.path, "query": self.query, "headers": dict(self.headers.items())}
        )
        if url.path.startswith("/login/"):
            return self._token(url.path)
        if not url.path.startswith(("/v1/", "/graph/", "/blobs/")):
            return self._error(404, f"no route {url.path}")
        if fake.take("stalled"):
            time.sleep(fake.faults.stall_seconds)
        if fake.take("throttled"):
            seconds = fake.faults.retry_after
            return self._json(
                429,
                {"statusCode": 429, "message": f"Rate limit is exceeded. Try again in {seconds} seconds."},
                {"Retry-After": seconds},
            )
        if fake.take("server_errors"):
            return self._error(500, "An unexpected error occurred. Please try again later.")
        if url.path.startswith("/blobs/"):
            return self._blob(url.path)
        if not self._authorized(url.path):
            return None
        if url.path.startswith("/v1/"):
            return self._v1(method, url.path.removeprefix("/v1"))
        return self._graph(method, url.path)

    # Authentication ---------------------------------------------------------------------------------

    def _token(self, path: str) -> None:
        form = {k: v[-1] for k, v in parse_qs(self.body.decode()).items()}
        if not path.endswith("/oauth2/v2.0/token") or form.get("grant_type") != "client_credentials":
            return self._json(400, {"error": "unsupported_grant_type", "error_description": "AADSTS70003"})
        if form.get("client_id") != DEMO_CLIENT_ID or form.get("client_secret") != self.fake.client_secret:
            return self._json(
                401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}
            )
        if form.get("scope") not in SCOPES.values():
            return self._json(400, {"error": "invalid_scope", "error_description": "AADSTS70011: invalid scope"})
        token = "fake-access-" + secrets.token_hex(12)
        with self.fake.lock:
            self.fake.tokens[token] = form["scope"]
        if self.fake.take("expired_tokens"):
            self.fake.expired.add(token)
        self._json(
            200,
            {
                "token_type": "Bearer",
                "expires_in": "3599",
                "expires_on": str(int(time.time()) + 3599),
                "resource": form["scope"],
                "access_token": token,
            },
        )

    def _authorized(self, path: str) -> bool:
        header = self.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ")
        scope = SCOPES["/v1" if path.startswith("/v1/") else "/graph"]
        if not header.startswith("Bearer ") or self.fake.tokens.get(token) != scope:
            self._error(401, "Unauthorized: the access token is missing, invalid or for another resource")
            return False
        if token in self.fake.expired:
            self._error(401, "Unauthorized: the access token has expired")
            return False
        return True

    # Partner Center v1 ------------------------------------------------------------------------------

    def _v1(self, method: str, path: str) -> None:
        parts = path.strip("/").split("/")
        if method != "GET" or parts[0] != "invoices" or len(parts) > 3:
            return self._error(404, f"no route {path}")
        if len(parts) == 1:
            return self._invoice_collection()
        invoice = self.fake.invoices.get(parts[1])
        if parts[1] in self.fake.faults.forbidden:
            return self._error(403, "Forbidden: the partner is not authorized to read billing data")
        if invoice is None:
            return self._error(404, f"Invoice {parts[1]} was not found")
        if len(parts) == 2:
            return self._json(200, invoice.invoice)
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
        invoices = [i.invoice for i in self.fake.invoices.values()]
        size, offset = self._page_size(self.query.get("size")), int(self.query.get("offset") or 0)
        page = invoices[offset : offset + size]
        more = offset + size < len(invoices)
        link = {"uri": f"/invoices?size={size}&offset={offset + size}", "method": "GET", "headers": []}
        self._collection(page, len(page), link if more and self.fake.faults.invoice_next_links else None)

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

    # Graph export -----------------------------------------------------------------------------------

    def _graph(self, method: str, path: str) -> None:
        fake = self.fake
        if method == "POST" and path in EXPORTS:
            request = json.loads(self.body or b"{}")
            invoice_id = str(request.get("invoiceId", ""))
            if request.get("attributeSet") not in ("full", "basic"):
                return self._error(400, "attributeSet must be full or basic")
            if invoice_id in fake.faults.forbidden:
                return self._error(403, "Forbidden: PartnerBilling.Read.All is not granted")
            if invoice_id not in fake.invoices:
                return self._error(404, f"Invoice {invoice_id} was not found")
            operation_id = fake.next_id("op")
            fake.operations[operation_id] = _Operation(invoice_id, EXPORTS[path], fake.faults.running_polls)
            location = f"{fake.base_url}/graph/v1.0/reports/partners/billing/operations/{operation_id}"
            return self._send(202, b"", {"Location": location, "Retry-After": fake.faults.poll_retry_after})
        prefix = "/graph/v1.0/reports/partners/billing/"
        if method == "GET" and path.startswith(prefix + "operations/"):
            return self._operation(path.rsplit("/", 1)[-1])
        if method == "GET" and path.startswith(prefix + "manifests/"):
            return self._manifest(path.rsplit("/", 1)[-1])
        return self._error(404, f"no route {path}")

    def _operation(self, operation_id: str) -> None:
        operation = self.fake.operations.get(operation_id)
        if operation is None:
            return self._error(404, f"operation {operation_id} was not found")
        kind = "#microsoft.graph.partners.billing."
        stamps = {"createdDateTime": "2026-11-06T08:00:00Z", "lastActionDateTime": "2026-11-06T08:00:05Z"}
        if operation.polls_left > 0:
            operation.polls_left -= 1
            return self._json(
                200,
                {"@odata.type": kind + "runningOperation", "id": operation_id, "status": "running", **stamps},
                {"Retry-After": self.fake.faults.poll_retry_after},
            )
        failure = self.fake.faults.failed_exports.get(operation.invoice_id)
        if failure:
            return self._json(
                200,
                {
                    "@odata.type": kind + "failedOperation",
                    "id": operation_id,
                    "status": "failed",
                    **stamps,
                    "error": {"code": failure[0], "message": failure[1]},
                },
            )
        link = f"{self.fake.base_url}/graph/v1.0/reports/partners/billing/manifests/{operation_id}"
        self._json(
            200,
            {
                "@odata.type": kind + "exportSuccessOperation",
                "id": operation_id,
                "status": "succeeded",
                **stamps,
                "resourceLocation@odata.navigationLink": link,
            },
        )

    def _manifest(self, operation_id: str) -> None:
        operation = self.fake.operations.get(operation_id)
        if operation is None:
            return self._error(404, f"manifest {operation_id} was not found")
        blobs = export_blobs(self.fake, operation.invoice_id, operation.dataset)
        root = (
            f"{self.fake.base_url}/blobs/billing/v1/PartnerTenantId={DEMO_TENANT_ID}/BillingMonth=202610/"
            f"InvoiceId={operation.invoice_id}/{operation.dataset}"
        )
        self._json(
            200,
            {
                "id": operation_id,
                "schemaVersion": "1",
                "dataFormat": "compressedJSON",
                "createdDateTime": "2026-11-06T08:00:05Z",
                "eTag": "fake-etag",
                "partnerTenantId": DEMO_TENANT_ID,
                "rootDirectory": root,
                "sasToken": SAS_TOKEN,
                "partitionType": "Default",
                "blobCount": len(blobs) + self.fake.faults.blob_count_off,
                "blobs": [{"name": name, "partitionValue": "default"} for name in blobs],
            },
        )

    # Blob store -------------------------------------------------------------------------------------

    def _blob(self, path: str) -> None:
        if "Authorization" in self.headers:
            return self._send(400, "<Error><Code>InvalidAuthenticationInfo</Code></Error>", _XML)
        if self.query.get("sig") != "fake-signature":
            return self._send(403, "<Error><Code>AuthenticationFailed</Code><Message>bad SAS</Message></Error>", _XML)
        parts = path.split("/")
        invoice_id = next((p.removeprefix("InvoiceId=") for p in parts if p.startswith("InvoiceId=")), "")
        content = export_blobs(self.fake, invoice_id, parts[-2]).get(parts[-1])
        if content is None:
            return self._send(404, "<Error><Code>BlobNotFound</Code></Error>", _XML)
        if self.fake.take("dropped_downloads"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content[: len(content) // 2])
            self.wfile.flush()
            self.close_connection = True
            return None
        return self._send(200, content, {"Content-Type": "application/octet-stream"})


_XML = {"Content-Type": "application/xml"}


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


# The demo's invoices -------------------------------------------------------------------------------------


def _invoice(invoice_id: str, invoice_type: str, details: list[tuple[str, str]], lines_total: Decimal) -> dict:
    return {
        "id": invoice_id,
        "invoiceDate": "2026-11-05T01:22:47.603895Z",
        "billingPeriodStartDate": "2026-10-01T00:00:00Z",
        "billingPeriodEndDate": "2026-10-31T00:00:00",
        "totalCharges": lines_total.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN),
        "paidAmount": Decimal(0),
        "currencyCode": "USD",
        "currencySymbol": "$",
        "pdfDownloadLink": f"/invoices/{invoice_id}/documents/statement",
        "invoiceDetails": [
            {
                "invoiceLineItemType": item_type,
                "billingProvider": provider,
                "links": {"self": {"uri": f"/invoices/{invoice_id}/lineitems", "method": "GET", "headers": []}},
            }
            for provider, item_type in details
        ],
        "documentType": "invoice",
        "invoiceType": invoice_type,
        "amendments": [],
        "attributes": {"objectType": "Invoice"},
    }


def _parties(customer: str) -> dict[str, str]:
    return {
        "partnerId": "3b2d6f0a-0000-4000-8000-000000000001",
        "customerId": customer,
        "customerName": "Customer " + customer[:4],
    }


def license_based_line(customer: str, subscription: str, offer: str, quantity: int, unit_price: str) -> dict:
    """A LicenseBasedLineItem (v1, office) for October 2026, without discount."""
    amount = Decimal(unit_price) * quantity
    return {
        **_parties(customer),
        "orderId": "ORD-" + subscription,
        "subscriptionId": subscription,
        "offerId": offer,
        "durableOfferId": offer + "-DURABLE",
        "offerName": offer.replace("-", " "),
        "domainName": "customer.onmicrosoft.com",
        "billingCycleType": "Monthly",
        "subscriptionName": offer,
        "chargeStartDate": "2026-10-01T00:00:00Z",
        "chargeEndDate": "2026-10-31T00:00:00Z",
        "chargeType": "Cycle fee",
        "unitPrice": Decimal(unit_price),
        "quantity": quantity,
        "amount": amount,
        "totalOtherDiscount": Decimal("0.00"),
        "subtotal": amount,
        "tax": Decimal("0.00"),
        "totalForCustomer": amount,
        "currency": "USD",
    }


def one_time_line(customer: str, subscription: str, product: str, charge_type: str, quantity: int, price: str) -> dict:
    """A OneTimeInvoiceLineItem (new commerce), as v1 and the reconciliation export describe it."""
    subtotal = Decimal(price) * quantity
    return {
        **_parties(customer),
        "customerDomainName": "customer.onmicrosoft.com",
        "customerCountry": "US",
        "invoiceNumber": "G200000002",
        "mpnId": "1234567",
        "orderId": "ORD-" + subscription,
        "orderDate": "2026-10-01T00:00:00Z",
        "productId": product,
        "skuId": "0001",
        "availabilityId": "CFQ7TTC0LFK5",
        "productName": product.replace("-", " "),
        "skuName": product.replace("-", " "),
        "chargeType": charge_type,
        "unitPrice": Decimal(price),
        "effectiveUnitPrice": Decimal(price),
        "unitType": "Licenses",
        "quantity": quantity,
        "subtotal": subtotal,
        "taxTotal": Decimal("0.00"),
        "totalForCustomer": subtotal,
        "currency": "USD",
        "publisherName": "Microsoft Corporation",
        "subscriptionId": subscription,
        "subscriptionDescription": product,
        "chargeStartDate": "2026-10-01T00:00:00Z",
        "chargeEndDate": "2026-10-31T00:00:00Z",
        "termAndBillingCycle": "1 Month Subscription",
        "priceAdjustmentDescription": '["Promotion: 0%"]',
        "billableQuantity": Decimal(quantity),
        "billingFrequency": "Monthly",
        "pricingCurrency": "USD",
        "pcToBCExchangeRate": Decimal(1),
        "meterDescription": "",
        "reservationOrderId": "",
        "creditReasonCode": "",
        "referenceId": "",
    }


def daily_rated_line(customer: str, subscription: str, day: int, meter: str, quantity: str, price: str) -> dict:
    """A DailyRatedUsageLineItem (Azure plan) for one day of October 2026."""
    total = (Decimal(quantity) * Decimal(price)).quantize(Decimal("0.000001"))
    return {
        **_parties(customer),
        "invoiceNumber": "",
        "productId": "AZURE-PLAN",
        "skuId": "0001",
        "availabilityId": "DZH318Z0BQ3P",
        "skuName": "Microsoft Azure plan",
        "productName": "Azure plan",
        "publisherName": "Microsoft",
        "subscriptionId": subscription,
        "chargeStartDate": "2026-10-01T00:00:00Z",
        "chargeEndDate": "2026-10-31T00:00:00",
        "usageDate": f"2026-10-{day:02d}T00:00:00Z",
        "meterType": "1 Compute Hour",
        "meterCategory": "Virtual Machines",
        "meterId": "m-" + meter.lower().replace(" ", "-"),
        "meterSubCategory": "Dv5 Series",
        "meterName": meter,
        "meterRegion": "EU West",
        "unitOfMeasure": "1 Hour",
        "resourceLocation": "westeurope",
        "consumedService": "Microsoft.Compute",
        "resourceGroup": "rg-prod",
        "resourceUri": f"/subscriptions/{subscription}/resourceGroups/rg-prod/providers/Microsoft.Compute/vm1",
        "tags": {"env": "prod", "costCenter": "CC-42"},
        "additionalInfo": '{"ServiceType": "Standard_D2s_v5"}',
        "chargeType": "new",
        "unitPrice": Decimal(price),
        "quantity": Decimal(quantity),
        "unitType": "1 Hour",
        "billingPreTaxTotal": total,
        "billingCurrency": "USD",
        "pricingPreTaxTotal": total,
        "pricingCurrency": "USD",
        "effectiveUnitPrice": Decimal(price),
        "pcToBCExchangeRate": Decimal(1),
        "entitlementId": subscription,
        "rateOfPartnerEarnedCredit": Decimal(0),
        "rateOfCredit": Decimal(0),
        "creditType": "Credit Not Applicable",
    }


def make_invoice(
    invoice_id: str,
    *,
    license_based: list[dict] | None = None,
    one_time: list[dict] | None = None,
    daily_rated: list[dict] | None = None,
    v2_datasets: set[str] | None = None,
    total_adjustment: str = "0",
) -> FakeInvoice:
    """An invoice whose totalCharges is the exact sum of its lines' pre-tax amounts (plus an adjustment)."""
    license_based, one_time, daily_rated = license_based or [], one_time or [], daily_rated or []
    details = [("office", "billing_line_items")] if license_based else []
    details += [("one_time", "billing_line_items")] if one_time else []
    details += [("one_time", "usage_line_items")] if daily_rated else []
    total = sum(
        [Decimal(line["subtotal"]) for line in license_based + one_time]
        + [Decimal(line["billingPreTaxTotal"]) for line in daily_rated],
        Decimal(total_adjustment),
    )
    invoice_type = "Recurring" if license_based else "OneTime"
    return FakeInvoice(
        _invoice(invoice_id, invoice_type, details, total),
        license_based,
        one_time,
        daily_rated,
        v2_datasets if v2_datasets is not None else {"reconciliation", "daily_rated"},
    )


def demo_invoices() -> list[FakeInvoice]:
    """Two USD invoices for the demo's customers: both import Active against the demo reference data.

    G200000001: licence-based seats (v1, offset paging) and daily-rated usage (v2 export, several blobs).
    G200000002: new-commerce one-time lines (v2 export) and daily-rated usage the export has no data for
    (v1 with continuation tokens).
    """
    return [
        make_invoice(
            "G200000001",
            license_based=[
                license_based_line(NORTHWIND, "SUB-M365-1001", "M365-E3", 25, "36.00"),
                license_based_line(ADVENTURE_WORKS, "SUB-M365-1002", "M365-BP", 12, "22.00"),
                license_based_line(TAILSPIN, "SUB-TEAMS-1003", "MS-TEAMS-ESS", 40, "4.00"),
            ],
            daily_rated=[
                daily_rated_line(NORTHWIND, "SUB-AZ-1001", 2, "D2s v5 VM", "24", "0.096"),
                daily_rated_line(NORTHWIND, "SUB-AZ-1001", 3, "Standard SSD LRS", "1520.5", "0.0184"),
                daily_rated_line(ADVENTURE_WORKS, "SUB-AZ-1002", 4, "D4s v5 VM", "24", "0.192"),
                daily_rated_line(ADVENTURE_WORKS, "SUB-AZ-1002", 5, "Blob Hot LRS", "310.25", "0.021"),
                daily_rated_line(TAILSPIN, "SUB-AZ-1003", 6, "SQL vCore", "88.75", "1.2"),
                daily_rated_line(TAILSPIN, "SUB-AZ-1003", 7, "SQL vCore", "12.125", "1.2"),
                daily_rated_line(NORTHWIND, "SUB-AZ-1001", 8, "D2s v5 VM", "0.0333333", "0.096"),
            ],
        ),
        make_invoice(
            "G200000002",
            one_time=[
                one_time_line(NORTHWIND, "SUB-M365-1001", "M365-E3", "new", 5, "36.00"),
                one_time_line(ADVENTURE_WORKS, "SUB-M365-1002", "M365-BP", "renew", 12, "22.00"),
                one_time_line(ADVENTURE_WORKS, "SUB-M365-1002", "M365-BP", "cancel", 2, "-22.00"),
            ],
            daily_rated=[
                daily_rated_line(NORTHWIND, "SUB-AZ-1001", 10, "D2s v5 VM", "24", "0.096"),
                daily_rated_line(ADVENTURE_WORKS, "SUB-AZ-1002", 11, "D4s v5 VM", "12", "0.192"),
                daily_rated_line(TAILSPIN, "SUB-AZ-1003", 12, "SQL vCore", "3.5", "1.2"),
            ],
            v2_datasets={"reconciliation"},
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    """Serve the demo invoices until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--throttle", type=int, default=0, help="answer the next N requests 429 (Retry-After: 1)")
    parser.add_argument("--server-errors", type=int, default=0, help="answer the next N requests 500")
    parser.add_argument("--fail-export", action="append", default=[], metavar="INVOICE_ID")
    args = parser.parse_args(argv)
    secret = os.environ.get("PARTNER_CENTER_CLIENT_SECRET") or DEMO_CLIENT_SECRET
    fake = PartnerCenterFake(client_secret=secret, host=args.host, port=args.port)
    fake.faults.throttled, fake.faults.server_errors = args.throttle, args.server_errors
    fake.faults.failed_exports = {i: ("5000", "No data available") for i in args.fail_export}
    print(f"Fake Partner Center on {fake.base_url} (invoices {', '.join(fake.invoices)}); Ctrl-C stops it", flush=True)
    try:
        fake.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fake.server.server_close()


if __name__ == "__main__":
    main()
