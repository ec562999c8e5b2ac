"""The one sanitizer for text shown to a person: a terminal, a text mail, the Dagster UI.

Provider values are stored as sent; what is shown never plays them. `printable` writes as visible escapes the
characters a terminal or a reader would act on instead of show: C0 controls (`\\x1b` starts a terminal escape
sequence, `\\x07` ends an OSC title), DEL and C1 controls (`\\x9b` is a one-byte CSI), and the Unicode bidi
controls that reorder what is read (overrides U+202A-202E, isolates U+2066-2069, marks U+200E/200F, U+061C).
Newline, carriage return and tab become `\\n`, `\\r`, `\\t`, another control `\\xNN`, a bidi control
`\\uNNNN`. One line (a CLI line, a metadata value) escapes newlines too; a text meant to hold lines (a mail, a
preview) keeps newline, and the tab of columns.
"""

from __future__ import annotations

import re

from invoice_pipeline.domain.redaction import redact

_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_ONE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")
_LINES = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")
_COLUMNS = re.compile(f"[\x00-\x08\x0a-\x1f\x7f-\x9f{_BIDI}]")


_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(found: re.Match[str]) -> str:
    character = found.group(0)
    code = ord(character)
    return _SHORT.get(character) or (f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")


def printable(text: str, *, multiline: bool = False, columns: bool = False) -> str:
    """`text` with every control character and bidi control written as a visible escape. `multiline` keeps
    newlines and tabs (a mail, a multi-line preview); `columns` keeps tabs only (a CLI line whose columns are
    tab-separated); otherwise the text is one line and keeps neither."""
    pattern = _LINES if multiline else _COLUMNS if columns else _ONE_LINE
    return pattern.sub(_escape, text)


def shown(text: str, *, multiline: bool = False, columns: bool = False) -> str:
    """`text` as it may be shown to a person: secrets redacted (`redaction`), then made printable."""
    return printable(redact(text), multiline=multiline, columns=columns)
