"""Reading Partner Center's answers: JSON with exact numbers, fields by case-insensitive path, what an answer says
in one line (never the token endpoint's body: it may echo the client secret), URLs shown without their query (blob
URLs carry SAS tokens), Retry-After, and the application permissions a token carries."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

MAX_ANSWER_CHARS = 300


def token_roles(token: str) -> tuple[str, ...] | None:
    """The `roles` claim of a JWT access token (its application permissions; empty when it has none), or None when
    the token is not a JWT whose claims can be read. The signature is not checked: this only informs a person."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if not isinstance(claims, dict):
        return None
    roles = claims.get("roles")
    return tuple(str(role) for role in roles) if isinstance(roles, list) else ()


def field(data: Any, *path: str) -> Any:
    """The value at `path` in nested JSON objects, matching keys case-insensitively (None when absent)."""
    for name in path:
        if not isinstance(data, dict):
            return None
        wanted = name.lower()
        data = next((value for key, value in data.items() if key.lower() == wanted), None)
    return data


def loads_exact(text: str | bytes) -> Any:
    """Parse JSON keeping every number as the exact text the provider wrote (money is never a float)."""
    return json.loads(text, parse_float=str, parse_int=str, parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def shown_url(url: httpx.URL | str) -> str:
    """The URL without its query: blob URLs carry SAS tokens, which never go into a message or a log."""
    return str(httpx.URL(str(url)).copy_with(query=None, fragment=None))


class _NoQueryInLogs(logging.Filter):
    """httpx logs each request's full URL at INFO; keep SAS tokens out of any log that captures it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(shown_url(a) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


# First, before any filter that formats the record's message.
logging.getLogger("httpx").filters.insert(0, _NoQueryInLogs())


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The answer's Retry-After, in seconds (a number or an HTTP date), or None."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))  # ok: seconds to wait, not money
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def provider_answer(response: httpx.Response) -> str:
    """What the provider answered, in one line: status, then its code and description when it sent them."""
    try:
        text = response.text
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        text = ""
    detail = ""
    try:
        body = loads_exact(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = field(body, "code") or field(body, "error", "code") or field(body, "error")
        description = (
            field(body, "description")
            or field(body, "message")
            or field(body, "error", "message")
            or field(body, "error_description")
        )
        detail = " ".join(str(part) for part in (code, description) if part and not isinstance(part, dict | list))
    elif text:
        detail = text
    detail = " ".join(detail.split())[:MAX_ANSWER_CHARS]
    status = f"{response.status_code} {response.reason_phrase}".strip()
    return f"{status} ({detail})" if detail else status


_OAUTH_ERROR_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")


def token_endpoint_answer(response: httpx.Response) -> str:
    """What the token endpoint answered, in one line: its status and, when it sent one, the OAuth `error` code
    (RFC 6749 5.2). Never its description or body: identity servers and proxies echo the request, secret included."""
    status = f"{response.status_code} {response.reason_phrase}".strip()
    try:
        body = loads_exact(response.content) if response.content else None
    except (ValueError, UnicodeDecodeError, httpx.ResponseNotRead):
        body = None
    code = field(body, "error") if isinstance(body, dict) else None
    if isinstance(code, str) and _OAUTH_ERROR_CODE.fullmatch(code):
        return f"{status} ({code})"
    return status
