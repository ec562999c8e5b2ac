"""The request handler's plumbing every route shares: JSON with exact numbers, answers and errors."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from invoice_pipeline.demo.partner_center_fake.json_text import to_json

if TYPE_CHECKING:
    from invoice_pipeline.demo.partner_center_fake.server import PartnerCenterFake

XML = {"Content-Type": "application/xml"}


class FakeRequestHandler(BaseHTTPRequestHandler):
    """One request to the fake; the routes (v1, Graph, blobs) are mixins over this plumbing."""

    protocol_version = "HTTP/1.1"
    fake: PartnerCenterFake
    query: dict[str, str]  # the query string, last value of each name
    body: bytes

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
