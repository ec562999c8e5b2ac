"""Secrets never shown: the one place every message, log record and Dagster metadata value passes through.

Secrets are registered where they are read (the Partner Center client secret and each access token, the SMTP
password, the password of a PostgreSQL URL: its password part, a `password=` parameter, one inside `options=`;
`DAGSTER_PG_PASSWORD` and `PGPASSWORD`), and `redact(text)` replaces every form of them by `***`.

The forms an endpoint, a driver or a proxy can hand a secret back in: raw; URL-encoded (`quote`, `quote_plus`,
twice, either hex case); JSON-escaped; base64 (standard and URL-safe, at any alignment, so the secret inside
`base64(user:secret)` of a Basic-auth header is found whatever the user). The rule, by the secret's length:

- 12 characters or more: every form, case-folded, and any prefix of 8 characters or more of a form (an echo cut
  short, or upper-cased);
- 8 to 11 characters: every whole form, case-folded;
- 4 to 7 characters: the raw, URL-encoded and JSON forms, exact, only as a token of their own (not inside a
  longer word, path or name: `demo` is redacted in `secret=demo&`, not in `invoice_pipeline/demo/`), and
  `base64(user:secret)` when the user is known;
- shorter: not registered (it could not be redacted without destroying the text around it).

`install()` puts a logging record factory in place whose records redact their message (every logger, children
included, Dagster's `context.log` too), and `RedactingFilter` on the root, `dagster` and `httpx` loggers.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import quote, quote_plus, unquote, unquote_plus

MASK = "***"
SHORTEST_SECRET = 4
CASE_FOLDED_FROM = 8
PREFIXES_FROM = 12
SHORTEST_PREFIX = 8
MOST_TOKENS = 64  # access tokens kept for redaction (a long-lived process renews them)

_lock = threading.Lock()
_secrets: OrderedDict[tuple[str, str | None], None] = OrderedDict()  # (secret, user), kept in order of reading
_tokens: OrderedDict[str, None] = OrderedDict()
_matcher: _Matcher | None = None


def register(secret: str | None, *, user: str | None = None) -> None:
    """Redact `secret` (and `base64(user:secret)`) from everything shown from now on in this process."""
    global _matcher
    if not secret or len(secret) < SHORTEST_SECRET:
        return
    with _lock:
        if (secret, user) not in _secrets:
            _secrets[(secret, user)] = None
            _matcher = None


def register_token(token: str | None) -> None:
    """Redact an access token (the newest `MOST_TOKENS` are kept)."""
    global _matcher
    if not token or len(token) < SHORTEST_SECRET:
        return
    with _lock:
        if token not in _tokens:
            _tokens[token] = None
            while len(_tokens) > MOST_TOKENS:
                _tokens.popitem(last=False)
            _matcher = None


# user:password@ up to the last @ (a password may hold a raw @; a host never does)
_CREDENTIALS = re.compile(r"^(?P<scheme>[^:/]+://)(?P<user>[^:/@]*):(?P<password>.*)@(?P<rest>[^@]*)$")
_OPTION_PASSWORD = re.compile(r"(?i)password\s*(?:=|\s)\s*(?P<value>\S+)")
_QUERY_PASSWORD = re.compile(r"(?i)(?P<name>(?:^|[?&])password=)(?P<value>[^&#]*)")
_QUERY_OPTIONS = re.compile(r"(?i)(?P<name>(?:^|[?&])options=)(?P<value>[^&#]*)")


def url_passwords(url: str) -> list[str]:
    """The passwords a database URL carries: its password part, a `password=` parameter, one in `options=`
    (each as written and URL-decoded)."""
    found: list[str] = []
    credentials = _CREDENTIALS.match(url)
    if credentials and credentials["password"]:
        found.append(credentials["password"])
    found += [m["value"] for m in _QUERY_PASSWORD.finditer(url)]
    for options in _QUERY_OPTIONS.finditer(url):
        found += [m["value"] for m in _OPTION_PASSWORD.finditer(unquote_plus(options["value"]))]
    decoded = [variant for value in found for variant in (unquote(value), unquote_plus(value))]
    return [value for value in dict.fromkeys(found + decoded) if value]


def register_url(url: str | None) -> None:
    """Redact the passwords of a database URL (see `url_passwords`) from everything shown."""
    if not url:
        return
    credentials = _CREDENTIALS.match(url)
    user = unquote(credentials["user"]) if credentials else None
    for password in url_passwords(url):
        register(password, user=user)


def masked_url(url: str) -> str:
    """A database URL as shown in messages: its file for DuckDB, else the URL with its password part, a
    `password=` parameter and a password inside `options=` shown as `***` (also a URL that cannot be parsed)."""
    if url.startswith("duckdb:///"):
        return url.removeprefix("duckdb:///")
    credentials = _CREDENTIALS.match(url)
    shown = f"{credentials['scheme']}{credentials['user']}:{MASK}@{credentials['rest']}" if credentials else url
    shown = _QUERY_PASSWORD.sub(lambda m: f"{m['name']}{MASK}", shown)
    shown = _QUERY_OPTIONS.sub(lambda m: f"{m['name']}{_masked_options(m['value'])}", shown)
    return redact(shown)


def _masked_options(value: str) -> str:
    decoded = unquote_plus(value)
    if not _OPTION_PASSWORD.search(decoded):
        return value
    return quote(_OPTION_PASSWORD.sub(lambda m: m[0].replace(m["value"], MASK), decoded), safe="=*-")


def register_environment() -> None:
    """Register the secrets the environment holds for this process: the SMTP password, the Dagster instance's and
    libpq's PostgreSQL passwords, the warehouse URL's."""
    env = os.environ
    register(env.get("INVOICE_PIPELINE_SMTP_PASSWORD"), user=env.get("INVOICE_PIPELINE_SMTP_USER"))
    register(env.get("DAGSTER_PG_PASSWORD"), user=env.get("DAGSTER_PG_USERNAME"))
    register(env.get("PGPASSWORD"), user=env.get("PGUSER"))
    register_url(env.get("INVOICE_PIPELINE_WAREHOUSE_URL"))


# Matching -----------------------------------------------------------------------------------------------------


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


def _text_forms(secret: str) -> set[str]:
    forms = {secret, quote(secret), quote(secret, safe=""), quote_plus(secret), quote(quote_plus(secret), safe="")}
    forms |= {json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    return forms | {_lower_hex(form) for form in forms}


def _base64_forms(data: bytes) -> set[str]:
    """The base64 characters that stand for `data` alone wherever it sits in what was encoded (three
    alignments), in the standard and URL-safe alphabets."""
    forms = set()
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + data).decode()
        first = (pad * 8 + 5) // 6  # the characters holding bits of the padding
        last = (pad + len(data)) * 8 // 6  # the last character holding only bits of `data`
        inner = encoded[first:last]
        forms |= {inner, inner.translate(str.maketrans("+/", "-_"))}
    return forms


def _folded(text: str) -> str:
    """`text` lower-cased character by character, keeping its length (a character whose lower case is longer,
    such as U+0130, stays as it is)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


@dataclass(frozen=True)
class _Form:
    folded: str  # the form, case-folded (`_folded`)
    shortest: int  # the shortest prefix that is redacted


class _Matcher:
    def __init__(self, secrets: list[tuple[str, str | None]]) -> None:
        forms: dict[str, int] = {}
        exact: set[str] = set()
        for secret, user in secrets:
            if len(secret) < CASE_FOLDED_FROM:
                exact |= _text_forms(secret)
                if user is not None:
                    exact.add(base64.b64encode(f"{user}:{secret}".encode()).decode())
                continue
            basic = {base64.b64encode(f"{user}:{secret}".encode()).decode()} if user is not None else set()
            for form in _text_forms(secret) | _base64_forms(secret.encode()) | basic:
                if len(form) < SHORTEST_PREFIX:
                    continue
                shortest = SHORTEST_PREFIX if len(secret) >= PREFIXES_FROM else len(form)
                forms[form] = min(shortest, forms.get(form, shortest))
        self.forms: dict[str, list[_Form]] = {}  # by the first SHORTEST_PREFIX characters, case-folded
        for form, shortest in forms.items():
            folded = _folded(form)
            self.forms.setdefault(folded[:SHORTEST_PREFIX], []).append(_Form(folded, shortest))
        words = sorted(exact, key=len, reverse=True)
        self.exact = (
            re.compile(r"(?<![\w/.-])(?:" + "|".join(re.escape(w) for w in words) + r")(?![\w/.-])") if words else None
        )

    def redact(self, text: str) -> str:
        if self.exact is not None:
            text = self.exact.sub(MASK, text)
        if not self.forms or len(text) < SHORTEST_PREFIX:
            return text
        folded = _folded(text)
        pieces: list[str] = []
        done = start = 0
        while start <= len(text) - SHORTEST_PREFIX:
            candidates = self.forms.get(folded[start : start + SHORTEST_PREFIX])
            end = max((self._end(folded, start, form) for form in candidates), default=-1) if candidates else -1
            if end < 0:
                start += 1
                continue
            pieces += [text[done:start], MASK]
            done = start = end
        pieces.append(text[done:])
        return "".join(pieces)

    @staticmethod
    def _end(folded: str, start: int, form: _Form) -> int:
        """Where the match of `form` (or of a long enough prefix of it) starting at `start` ends; -1 if none."""
        length = 0
        for expected, seen in zip(form.folded, folded[start : start + len(form.folded)], strict=False):
            if expected != seen:
                break
            length += 1
        return start + length if length >= form.shortest else -1


def _current() -> _Matcher:
    global _matcher
    with _lock:
        if _matcher is None:
            _matcher = _Matcher([*_secrets, *((token, None) for token in _tokens)])
        return _matcher


def redact(text: str) -> str:
    """`text` with every registered secret, in every form (see the module), replaced by `***`."""
    if not text:
        return text
    return _current().redact(text)


# Logging ------------------------------------------------------------------------------------------------------


class RedactingFilter(logging.Filter):
    """Redacts a record's message (its arguments formatted in first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keep the record, its message redacted."""
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class _RedactedRecord(logging.LogRecord):
    """A record whose message is redacted when formatted: a logger of any name cannot bypass it."""

    def getMessage(self) -> str:  # noqa: N802 - logging's name
        return redact(super().getMessage())


_installed = False


def install() -> None:
    """Redact every log record of this process (once), and register the secrets of the environment."""
    global _installed
    register_environment()
    with _lock:
        if _installed:
            return
        _installed = True
    if logging.getLogRecordFactory() is logging.LogRecord:
        logging.setLogRecordFactory(_RedactedRecord)
    for name in ("", "dagster", "httpx", "invoice_pipeline"):
        logging.getLogger(name).addFilter(RedactingFilter())


install()
