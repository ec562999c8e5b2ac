"""The fake's server: its faults, `PartnerCenterFake` (state and lifecycle) and the handler that routes requests.

Every request is recorded; `/login/...` issues tokens; the API, Graph and blob routes first play the counted
faults (stall, throttle, server error), then the API and Graph routes check the bearer token's scope.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from invoice_pipeline.demo.partner_center_fake.blobs import BlobRoutes
from invoice_pipeline.demo.partner_center_fake.graph import ExportOperation, GraphRoutes
from invoice_pipeline.demo.partner_center_fake.invoices import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_TENANT_ID,
    FakeInvoice,
    demo_invoices,
)
from invoice_pipeline.demo.partner_center_fake.v1 import PartnerCenterRoutes

SCOPES = {"/v1": "https://api.partnercenter.microsoft.com/.default", "/graph": "https://graph.microsoft.com/.default"}


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
    # Exports that end `failed` with (code, message): keyed by invoice id (every dataset of the invoice) or by
    # (invoice id, dataset), the dataset `reconciliation` or `daily_rated`. ("5000", "No data available") is how
    # Partner Center says a dataset has no lines for the invoice.
    failed_exports: dict[str | tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    unreadable_blobs: set[str] = field(default_factory=set)  # invoice ids whose last blob is not gzip
    dropped_downloads: int = 0  # the next N blob downloads are cut half way
    forbidden: set[str] = field(default_factory=set)  # invoice ids answered 403
    page_size: int = 2  # at most this many items per v1 page, to make paging happen
    invoice_next_links: bool = True  # False: the invoice collection has no links.next (offset paging)
    line_item_next_links: bool = True  # False: offset-paged line items have no links.next either
    succeeded_status: str = "succeeded"  # the Graph example's; the operation resource page also lists "completed"
    offsets_ignored: bool = False  # the invoice collection answers offset 0 whatever offset is asked
    collection_billing_periods: bool = False  # True: the invoice collection carries billingPeriodStart/EndDate
    blob_count_off: int = 0  # added to the manifest's blobCount (a manifest that does not list every blob)
    # The manifest's dataFormat. Documented as `compressedJSONLines` (Graph `partners-billing-manifest` resource
    # page), whose example body shows `compressedJSON`: tests serve either, or a format the connector refuses.
    manifest_data_format: str = "compressedJSONLines"
    # The token endpoint echoes the request body (client secret included), as proxies and misconfigured identity
    # servers do: "json-400" (an OAuth 400 whose error_description quotes the body), "proxy-502" (a proxy's HTML
    # page quoting it, on every attempt) or "prefix-upper" (a 400 quoting the body upper-cased and cut 10
    # characters into the secret); None answers as Microsoft does.
    token_echo: str | None = None


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
        self.operations: dict[str, ExportOperation] = {}
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


class _FakeHandler(PartnerCenterRoutes, GraphRoutes, BlobRoutes):
    """Routes a request: records it, issues tokens, plays the faults, checks the token, hands it to its API."""

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
        echo = self.fake.faults.token_echo
        if echo is not None:
            return self._echo_body(echo)
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

    def _echo_body(self, echo: str) -> None:
        body = self.body.decode()
        if echo == "proxy-502":
            page = f"<html><body><h1>502 Bad Gateway</h1><p>upstream refused the request body: {body}</p></body></html>"
            return self._send(502, page, {"Content-Type": "text/html"})
        if echo == "prefix-upper":
            cut = body.find("client_secret=") + len("client_secret=") + 10
            description = f"AADSTS900144: MALFORMED REQUEST BODY {body[:cut].upper()}"
            return self._json(400, {"error": "invalid_request", "error_description": description})
        return self._json(400, {"error": "invalid_client", "error_description": f"received body: {body}"})

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
