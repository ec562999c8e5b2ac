"""Invoice keys: the provider ids accepted at the pattern's edges, and each refusal word for word (the rule to
follow, the refused id escaped and cut short)."""

from __future__ import annotations

import pytest

from invoice_pipeline.domain.invoice_keys import InvalidInvoiceKey, InvoiceKey, check_invoice_id

PROVIDER_RULE = "is not allowed: use lowercase letters, digits and '-'"


@pytest.mark.parametrize(
    "provider",
    [
        pytest.param("a", id="one-letter"),
        pytest.param("7-eleven", id="leading-digit-inner-dash"),
        pytest.param("c" * 64, id="64-characters"),
    ],
)
def test_a_provider_id_at_the_patterns_edges_is_accepted(provider):
    assert str(InvoiceKey(provider, "G1")) == f"{provider}:G1"


def test_a_refused_invoice_id_is_told_the_whole_rule():
    with pytest.raises(InvalidInvoiceKey) as refused:
        check_invoice_id("G1/..")

    assert str(refused.value) == (
        "invoice id 'G1/..' is not allowed: use 1-100 ASCII letters, digits, '.', '_' or '-', starting with a letter "
        "or digit, without '..'"
    )


@pytest.mark.parametrize(
    ("provider", "shown"),
    [
        pytest.param("contoso csp", "contoso csp", id="space"),
        pytest.param("bad\u202eid", "bad\\u202eid", id="bidi-override-escaped"),
        pytest.param("c" * 200, "c" * 80, id="cut-at-80-characters"),
    ],
)
def test_a_refused_provider_id_is_shown_escaped_and_cut_short_with_the_rule(provider, shown):
    with pytest.raises(InvalidInvoiceKey) as refused:
        InvoiceKey(provider, "G1")

    assert str(refused.value) == f"provider id '{shown}' {PROVIDER_RULE}"


def test_a_key_without_a_colon_is_told_how_to_write_one():
    with pytest.raises(InvalidInvoiceKey) as refused:
        InvoiceKey.parse("G000024130")

    assert str(refused.value) == (
        "'G000024130' is not an invoice key; write PROVIDER:INVOICE_ID, e.g. contoso-csp:G000024130"
    )
