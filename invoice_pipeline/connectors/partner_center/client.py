"""The Partner Center HTTP client: OAuth client credentials, a cached token, bounded retries honouring Retry-After.

Plumbing only (httpx for HTTP, tenacity for retries): what to ask lives in `export.py` and `connector.py`, how to
read an answer in `answers.py`. Every failure ends as a ConnectorError whose message says what the provider
answered, without the client secret, the access token or a URL's query (blob URLs carry SAS tokens). The token
endpoint's answer is never quoted (endpoints and proxies echo the request body, client secret included): its
status and OAuth `error` code only. The secret and every token are registered with `domain.redaction`, which
every message, log record and metadata value passes through.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import tenacity

from invoice_pipeline.connectors.base import ConnectorError
from invoice_pipeline.connectors.partner_center.answers import (
    MAX_ANSWER_CHARS,
    field,
    loads_exact,
    provider_answer,
    retry_after_seconds,
    shown_url,
    token_endpoint_answer,
    token_roles,
)
from invoice_pipeline.connectors.partner_center.settings import PartnerCenterSettings
from invoice_pipeline.domain import redaction

PARTNER_CENTER_SCOPE = "https://api.partnercenter.microsoft.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
TOKEN_REFRESH_MARGIN_SECONDS = 300.0
DOWNLOAD_CHUNK_BYTES = 64 * 1024
PARTNER_CENTER = "Partner Center"
TOKEN_ENDPOINT = "the token endpoint"

T = TypeVar("T")

# Tokens outlive one client: every import of a sync reuses them until shortly before they expire.
# Keyed by endpoint, tenant, app and scope; never written anywhere.
_TOKENS: dict[tuple[str, str, str, str], tuple[str, float]] = {}


@dataclass(frozen=True)
class TokenGrant:
    """What the token endpoint granted for one scope, never the token itself: how long it lasts, and the
    application permissions it carries (a JWT's `roles` claim; None when the token is not a readable JWT)."""

    scope: str
    lifetime_seconds: float  # ok: seconds, not money
    roles: tuple[str, ...] | None


class RetryableAnswer(Exception):
    """A throttling or server-side answer (429, 5xx) worth another attempt, with its Retry-After if any."""

    def __init__(self, answer: str, retry_after: float | None) -> None:
        super().__init__(answer)
        self.answer = answer
        self.retry_after = retry_after


def _worth_retrying(error: BaseException) -> bool:
    # TransportError covers timeouts, refused and dropped connections, and bodies cut half way.
    return isinstance(error, RetryableAnswer | httpx.TransportError)


class _PreferRetryAfter(tenacity.wait.wait_base):
    """Wait what the provider asked for (Retry-After, capped), otherwise the exponential backoff with jitter."""

    def __init__(self, fallback: tenacity.wait.wait_base, cap: float) -> None:
        self.fallback = fallback
        self.cap = cap

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(error, RetryableAnswer) and error.retry_after is not None:
            return min(error.retry_after, self.cap)
        return self.fallback(retry_state)


class PartnerCenterClient:
    """Talks to the token endpoint, the Partner Center API, Graph and the blob store for one provider."""

    def __init__(
        self,
        settings: PartnerCenterSettings,
        client_secret: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._secret = client_secret
        redaction.register(client_secret, user=settings.client_id)
        self.sleep = sleep
        self._correlation_id = str(uuid.uuid4())
        self.http = httpx.Client(timeout=settings.timeout_seconds, follow_redirects=False)

    def close(self) -> None:
        """Close the connections."""
        self.http.close()

    def __enter__(self) -> PartnerCenterClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Authentication ---------------------------------------------------------------------------------

    def _token_key(self, scope: str) -> tuple[str, str, str, str]:
        return (self.settings.login_url, self.settings.tenant_id, self.settings.client_id, scope)

    def _token(self, scope: str) -> str:
        cached = _TOKENS.get(self._token_key(scope))
        if cached and time.monotonic() < cached[1]:
            return cached[0]
        return self._new_token(scope)[0]

    def fresh_token(self, scope: str) -> TokenGrant:
        """Ask the token endpoint for a new token for `scope` now, whatever is cached, and keep it for the requests
        that follow; say what it granted (never the token). A refusal is a ConnectorError with the endpoint's
        answer in one line, without the secret; the token cached before, if any, is dropped either way."""
        _TOKENS.pop(self._token_key(scope), None)
        token, lifetime = self._new_token(scope)
        return TokenGrant(scope=scope, lifetime_seconds=lifetime, roles=token_roles(token))

    def _new_token(self, scope: str) -> tuple[str, float]:
        """A new token for `scope` from the token endpoint, cached; with its lifetime in seconds."""
        url = f"{self.settings.login_url}/{self.settings.tenant_id}/oauth2/v2.0/token"
        form = {
            "grant_type": "client_credentials",
            "client_id": self.settings.client_id,
            "client_secret": self._secret,
            "scope": scope,
        }
        response = self._with_retries(
            lambda: self._token_checked(self.http.post(url, data=form)), f"POST {url}", TOKEN_ENDPOINT
        )
        try:
            body = loads_exact(response.content)
            token = str(field(body, "access_token"))
            lifetime = float(field(body, "expires_in") or 0)  # ok: seconds, not money
        except (ValueError, TypeError):
            raise self._failure(f"the token endpoint {url} answered without a usable access token") from None
        if not field(body, "access_token"):
            raise self._failure(f"the token endpoint {url} answered without an access token")
        # Renew shortly before expiry: 5 minutes early, or half way for short-lived tokens.
        margin = min(TOKEN_REFRESH_MARGIN_SECONDS, lifetime / 2)
        redaction.register_token(token)
        _TOKENS[self._token_key(scope)] = (token, time.monotonic() + lifetime - margin)
        return token, lifetime

    def _headers(self, scope: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "MS-RequestId": str(uuid.uuid4())}
        if scope is not None:
            headers["MS-CorrelationId"] = self._correlation_id
            headers["Authorization"] = f"Bearer {self._token(scope)}"
        return headers | (extra or {})

    # Requests ---------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        scope: str | None,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
    ) -> httpx.Response:
        """Send one request with retries; a fresh token once on 401. Returns a successful (read) answer."""

        def attempt() -> httpx.Response:
            response = self.http.request(method, url, headers=self._headers(scope, headers), json=json_body)
            if response.status_code == 401 and scope is not None:
                _TOKENS.pop(
                    self._token_key(scope), None
                )  # expired or revoked early: one fresh token, then the answer stands
                response = self.http.request(method, url, headers=self._headers(scope, headers), json=json_body)
            return self._checked(response)

        return self._with_retries(attempt, f"{method} {shown_url(url)}")

    def get_json(self, url: str, *, scope: str | None, headers: dict[str, str] | None = None) -> Any:
        """GET a JSON document (numbers kept as exact text)."""
        return self.parse_json(self.request("GET", url, scope=scope, headers=headers), url)

    def parse_json(self, response: httpx.Response, url: str) -> Any:
        """The answer's JSON, numbers as exact text, or ConnectorError saying the answer was not JSON."""
        try:
            return loads_exact(response.content)
        except (ValueError, UnicodeDecodeError):
            raise self._failure(
                f"GET {shown_url(url)}: Partner Center answered {response.status_code} with something that is not JSON"
            ) from None

    def download(self, url: str, destination: Path) -> None:
        """Stream a blob (no bearer token: its URL carries its SAS) to `destination`, chunk by chunk.

        A retry rewrites the file from the start, so a connection dropped half way never leaves half a blob.
        """

        def attempt() -> None:
            with self.http.stream("GET", url, headers=self._headers(None)) as response:
                if response.status_code >= 400:
                    response.read()
                    self._checked(response)
                with destination.open("wb") as out:
                    for chunk in response.iter_bytes(DOWNLOAD_CHUNK_BYTES):
                        out.write(chunk)

        self._with_retries(attempt, f"GET {shown_url(url)}")

    def _checked(self, response: httpx.Response, answerer: str = PARTNER_CENTER) -> httpx.Response:
        if response.status_code in RETRYABLE_STATUSES:
            raise RetryableAnswer(provider_answer(response), retry_after_seconds(response))
        if response.status_code >= 400:
            where = f"{response.request.method} {shown_url(response.request.url)}"
            raise self._failure(f"{where}: {answerer} answered {provider_answer(response)}")
        return response

    def _token_checked(self, response: httpx.Response) -> httpx.Response:
        if response.status_code in RETRYABLE_STATUSES:
            raise RetryableAnswer(token_endpoint_answer(response), retry_after_seconds(response))
        if response.status_code >= 400:
            where = f"{response.request.method} {shown_url(response.request.url)}"
            raise self._failure(f"{where}: {TOKEN_ENDPOINT} answered {token_endpoint_answer(response)}")
        return response

    def _with_retries(self, attempt: Callable[[], T], where: str, answerer: str = PARTNER_CENTER) -> T:
        settings = self.settings
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_worth_retrying),
            wait=_PreferRetryAfter(
                tenacity.wait_exponential_jitter(
                    multiplier=settings.backoff_initial_seconds,
                    max=settings.backoff_max_seconds,
                    jitter=settings.backoff_initial_seconds,
                ),
                cap=settings.max_retry_after_seconds,
            ),
            stop=tenacity.stop_after_attempt(settings.max_attempts),
            sleep=self.sleep,
            reraise=True,
        )
        attempts = settings.max_attempts
        try:
            return retrying(attempt)
        except RetryableAnswer as error:
            raise self._failure(f"{where}: {answerer} answered {error.answer} ({attempts} attempts)") from None
        except httpx.TransportError as error:
            reason = f"{type(error).__name__}: {str(error)[:MAX_ANSWER_CHARS]}".rstrip(": ")
            raise self._failure(
                f"{where}: no complete answer from {answerer} ({reason}; {attempts} attempts)"
            ) from None

    def _failure(self, message: str) -> ConnectorError:
        """A ConnectorError whose message can carry neither the client secret nor a token."""
        return ConnectorError(self.mask(message))

    def mask(self, text: str) -> str:
        """`text` with the client secret and every access token in any form replaced by `***` (`redaction`)."""
        return redaction.redact(text)

    # Paging -----------------------------------------------------------------------------------------

    def pages(self, url: str, *, scope: str) -> Iterator[Any]:
        """Every page of a v1 collection, following `links.next` (its uri and headers, e.g. MS-ContinuationToken)."""
        headers: dict[str, str] = {}
        seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        while True:
            page = self.get_json(url, scope=scope, headers=headers)
            yield page
            following = field(page, "links", "next")
            uri = field(following, "uri") if isinstance(following, dict) else None
            if not uri:
                return
            url = self.api_url(str(uri))
            headers = {
                str(field(h, "key")): str(field(h, "value"))
                for h in (field(following, "headers") or [])
                if isinstance(h, dict) and field(h, "key")
            }
            step = (url, tuple(sorted(headers.items())))
            if step in seen:
                raise self._failure(f"GET {shown_url(url)}: Partner Center's next page link points back at a page")
            seen.add(step)

    def api_url(self, uri: str) -> str:
        """An absolute URL for a Partner Center v1 path or link (`/invoices/...` is relative to the v1 base)."""
        if uri.startswith(("http://", "https://")):
            return uri
        base = httpx.URL(self.settings.api_url)
        if uri.startswith(base.path.rstrip("/") + "/") and base.path not in ("", "/"):
            return str(base.copy_with(raw_path=uri.encode()))
        return self.settings.api_url + "/" + uri.lstrip("/")

    def graph_url(self, path: str) -> str:
        """An absolute URL for a Graph path (relative to the configured Graph base, e.g. .../v1.0)."""
        return self.settings.graph_url + "/" + path.lstrip("/")
