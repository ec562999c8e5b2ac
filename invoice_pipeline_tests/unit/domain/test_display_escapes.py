"""What `printable` escapes, class by class: the C0 controls, DEL and the C1 controls as `\\xNN` (newline, carriage
return and tab as `\\n`, `\\r`, `\\t`), the bidi controls as `\\uNNNN`; what a multi-line text and a text of
columns keep; ordinary text (accents, CJK, emoji, the first character past the C1 range) as it is. And `shown`:
secrets redacted before the text is made printable."""

from __future__ import annotations

from collections import OrderedDict

import pytest

from invoice_pipeline.domain import redaction
from invoice_pipeline.domain.display import printable, shown


@pytest.mark.parametrize(
    ("character", "escape"),
    [
        pytest.param("\x00", "\\x00", id="nul"),
        pytest.param("\x07", "\\x07", id="bel-ends-an-osc-title"),
        pytest.param("\x08", "\\x08", id="backspace"),
        pytest.param("\x0b", "\\x0b", id="vertical-tab"),
        pytest.param("\x1b", "\\x1b", id="esc-starts-a-terminal-sequence"),
        pytest.param("\x1f", "\\x1f", id="last-c0"),
        pytest.param("\x7f", "\\x7f", id="del"),
        pytest.param("\x80", "\\x80", id="first-c1"),
        pytest.param("\x9b", "\\x9b", id="one-byte-csi"),
        pytest.param("\x9f", "\\x9f", id="last-c1"),
        pytest.param("\u061c", "\\u061c", id="arabic-letter-mark"),
        pytest.param("\u200e", "\\u200e", id="left-to-right-mark"),
        pytest.param("\u200f", "\\u200f", id="right-to-left-mark"),
        pytest.param("\u202a", "\\u202a", id="left-to-right-embedding"),
        pytest.param("\u202e", "\\u202e", id="right-to-left-override"),
        pytest.param("\u2066", "\\u2066", id="left-to-right-isolate"),
        pytest.param("\u2069", "\\u2069", id="pop-directional-isolate"),
    ],
)
def test_a_control_or_bidi_character_is_written_as_a_visible_escape_in_every_mode(character, escape):
    text = f"G1{character}G2"

    for mode in ({}, {"multiline": True}, {"columns": True}):
        assert printable(text, **mode) == f"G1{escape}G2", mode


@pytest.mark.parametrize(
    ("mode", "text", "escaped"),
    [
        pytest.param({}, "a\nb\tc\rd", "a\\nb\\tc\\rd", id="one-line-keeps-none"),
        pytest.param({"multiline": True}, "a\nb\tc\rd", "a\nb\tc\\rd", id="multiline-keeps-newline-and-tab"),
        pytest.param({"columns": True}, "a\nb\tc\rd", "a\\nb\tc\\rd", id="columns-keep-tab-only"),
    ],
)
def test_newline_and_tab_are_kept_only_where_the_text_holds_lines_or_columns(mode, text, escaped):
    assert printable(text, **mode) == escaped


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Café Müller, Łódź, Ærøskøbing", id="accents"),
        pytest.param("請求書 G000024130 の合計", id="cjk"),
        pytest.param("💶 paid ✅ 👩\u200d💻", id="emoji-with-zero-width-joiner"),
        pytest.param("שלום مرحبا", id="right-to-left-script"),
        pytest.param("10\xa0000,50\xa0€", id="no-break-space-past-c1"),
        pytest.param("a\\x1b and \\u202e as typed", id="backslash-text"),
    ],
)
def test_ordinary_text_is_shown_as_it_is(text):
    assert printable(text) == text


def test_shown_redacts_a_secret_then_escapes_what_a_terminal_would_act_on(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(redaction, "_secrets", OrderedDict())
    monkeypatch.setattr(redaction, "_tokens", OrderedDict())
    monkeypatch.setattr(redaction, "_matcher", None)
    redaction.register("Zq9+Sx/7kP=aB3&dEf")

    assert shown("token Zq9+Sx/7kP=aB3&dEf\x1b[2J\nnext") == "token ***\\x1b[2J\\nnext"
    assert shown("token Zq9+Sx/7kP=aB3&dEf\x1b[2J\nnext", multiline=True) == "token ***\\x1b[2J\nnext"
