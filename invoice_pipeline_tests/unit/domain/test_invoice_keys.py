"""Invoice keys: ids that are safe as a partition key, a folder name and a SQL value; hostile ids refused."""

from __future__ import annotations

import pytest

from invoice_pipeline.domain.invoice_keys import InvalidInvoiceKey, InvoiceKey, check_invoice_id


@pytest.mark.parametrize(
    "invoice_id",
    ["G000024130", "g1", "7", "INV-2026-10_01", "inv.2026.10", "a.", "A" * 100],
)
def test_ordinary_invoice_ids_are_accepted(invoice_id):
    assert check_invoice_id(invoice_id) == invoice_id
    assert InvoiceKey("contoso-csp", invoice_id).invoice_id == invoice_id


@pytest.mark.parametrize(
    "invoice_id",
    [
        pytest.param("../x", id="parent_traversal"),
        pytest.param("..", id="dot_dot"),
        pytest.param(".", id="dot"),
        pytest.param("G1..G2", id="dot_dot_inside"),
        pytest.param(".hidden", id="leading_dot"),
        pytest.param("a/b", id="slash"),
        pytest.param("a\\b", id="backslash"),
        pytest.param("/etc/passwd", id="absolute_path"),
        pytest.param("G1\x00", id="nul"),
        pytest.param("G1\nG2", id="newline_inside"),
        pytest.param("G123\n", id="trailing_newline"),
        pytest.param("G123\r", id="trailing_carriage_return"),
        pytest.param("A" * 101, id="101_chars"),
        pytest.param("G\uff1123", id="fullwidth_digit_lookalike"),
        pytest.param("G\u0421123", id="cyrillic_es_lookalike"),
        pytest.param("", id="empty"),
        pytest.param(" G1", id="leading_space"),
        pytest.param("G1 ", id="trailing_space"),
        pytest.param("-G1", id="leading_dash"),
        pytest.param("G1'; DROP TABLE x; --", id="sql_quote"),
        pytest.param("G1:G2", id="colon"),
    ],
)
def test_hostile_invoice_ids_are_refused(invoice_id):
    with pytest.raises(InvalidInvoiceKey, match="is not allowed"):
        check_invoice_id(invoice_id)
    with pytest.raises(InvalidInvoiceKey):
        InvoiceKey("contoso-csp", invoice_id)


def test_refusal_message_shows_control_characters_escaped():
    with pytest.raises(InvalidInvoiceKey) as raised:
        check_invoice_id("G1\x00\n")
    message = str(raised.value)
    assert "G1\\x00\\n" in message
    assert "\x00" not in message and "\n" not in message


def test_refusal_message_is_bounded_for_huge_ids():
    with pytest.raises(InvalidInvoiceKey) as raised:
        check_invoice_id("A" * 100_000)
    assert len(str(raised.value)) < 400


@pytest.mark.parametrize(
    "provider",
    ["Contoso-CSP", "contoso_csp", "-contoso", "contoso-", "", "c" * 65, "contoso-csp\n", "../contoso", "contoso csp"],
)
def test_bad_provider_ids_are_refused(provider):
    with pytest.raises(InvalidInvoiceKey, match="provider id"):
        InvoiceKey(provider, "G1")


def test_parse_and_str_round_trip():
    key = InvoiceKey.parse("contoso-csp:G000024130")
    assert key == InvoiceKey("contoso-csp", "G000024130")
    assert str(key) == "contoso-csp:G000024130"
    assert InvoiceKey.parse(str(key)) == key


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("contoso-csp", "is not an invoice key; write PROVIDER:INVOICE_ID"),
        ("contoso-csp:", "invoice id '' is not allowed"),
        (":G1", "provider id '' is not allowed"),
        ("contoso-csp:G1:extra", "invoice id 'G1:extra' is not allowed"),
        ("contoso-csp:../../etc", "invoice id '../../etc' is not allowed"),
    ],
)
def test_parse_refuses_malformed_keys(text, fragment):
    with pytest.raises(InvalidInvoiceKey) as raised:
        InvoiceKey.parse(text)
    assert fragment in str(raised.value)


def test_a_key_without_a_colon_is_refused_with_its_control_characters_written_as_escapes():
    with pytest.raises(InvalidInvoiceKey) as raised:
        InvoiceKey.parse("contoso\x1b[31m\nG1")
    assert str(raised.value).startswith("'contoso\\x1b[31m\\nG1' is not an invoice key")
    assert not any(ord(character) < 32 for character in str(raised.value))


def test_keys_sort_by_provider_then_invoice_id_and_are_hashable():
    keys = [
        InvoiceKey("fabrikam-distribution", "A1"),
        InvoiceKey("contoso-csp", "G2"),
        InvoiceKey("contoso-csp", "G10"),
    ]
    assert sorted(keys) == [
        InvoiceKey("contoso-csp", "G10"),
        InvoiceKey("contoso-csp", "G2"),
        InvoiceKey("fabrikam-distribution", "A1"),
    ]
    assert len({InvoiceKey("contoso-csp", "G2"), InvoiceKey.parse("contoso-csp:G2")}) == 1
