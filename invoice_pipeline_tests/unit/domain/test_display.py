"""Text from a provider is shown with its terminal escapes, controls and bidi overrides escaped, never played."""

from __future__ import annotations

from invoice_pipeline.domain.display import printable


def test_printable_escapes_controls_and_bidi_and_keeps_the_rest():
    assert printable("a\x1b]0;x\x07b\u202ec\x9bd\x00\r\n\tü€") == "a\\x1b]0;x\\x07b\\u202ec\\x9bd\\x00\\r\\n\\tü€"
    assert printable("two\nlines\ttab", multiline=True) == "two\nlines\ttab"
    assert printable("a\\x1b") == "a\\x1b"  # text that looks like an escape stays as written
