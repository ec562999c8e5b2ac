"""The contract terms ruling a billing period: those holding on some day of it, the latest start winning, and the
usage terms billing prices a period by."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from invoice_pipeline.domain.billing_period import BillingPeriod
from invoice_pipeline.domain.pricing import UsageTerms
from invoice_pipeline.reconciliation.contracts import ChargeKind, partial_terms_in, terms_in, usage_terms_in
from invoice_pipeline_tests.unit.reconciliation.test_findings import licence_terms, usage_terms

OCTOBER = BillingPeriod(2026, 10)


def test_of_terms_changing_within_the_period_those_starting_last_apply_to_the_whole_of_it():
    before = usage_terms("5", valid_to=date(2026, 10, 15))
    after = usage_terms("7", valid_from=date(2026, 10, 16))

    assert terms_in([after, before], OCTOBER) == {after.key: after}
    assert partial_terms_in([after, before], OCTOBER) == {
        after.key: "the terms change on 2026-10-16: those from then apply to the whole month"
    }


def test_terms_that_end_before_or_start_after_the_period_do_not_rule_it():
    ended = usage_terms("5", valid_to=date(2026, 9, 30))
    not_started = usage_terms("5", valid_from=date(2026, 11, 1))

    assert terms_in([ended, not_started], OCTOBER) == {}


def test_terms_holding_on_every_day_of_the_period_need_no_note():
    assert partial_terms_in([usage_terms("5")], OCTOBER) == {}


def test_billing_prices_a_period_by_its_usage_terms_only_one_per_contract_product_and_currency():
    terms = [
        licence_terms(10, "12.50"),
        usage_terms("5", valid_to=date(2026, 10, 15)),
        usage_terms("7", valid_from=date(2026, 10, 16)),
        usage_terms("3", currency="EUR"),
    ]

    ruling = sorted(usage_terms_in(terms, OCTOBER), key=lambda rule: rule.currency)

    assert ruling == [
        UsageTerms("ACC-1", "BC-1", "AZURE-PLAN", "EUR", Decimal("3"), "2026-01-01"),
        UsageTerms("ACC-1", "BC-1", "AZURE-PLAN", "USD", Decimal("7"), "2026-10-16"),
    ]
    assert {terms.charge_kind for terms in terms} == {ChargeKind.LICENSE, ChargeKind.USAGE}
