"""The reconciliation's rules on groups as the warehouse returns them: each finding, its money effect, and the
tie-out (provider cost = billed + unbilled + without contract) on any data."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invoice_pipeline.domain.billing_period import BillingPeriod
from invoice_pipeline.domain.money import apportion
from invoice_pipeline.domain.period_lines import LicenseGroup, PendingChange, PeriodInvoice, UsageGroup
from invoice_pipeline.reconciliation.contracts import ChargeKind, ContractTerms
from invoice_pipeline.reconciliation.findings import FindingKind
from invoice_pipeline.reconciliation.reconcile import reconcile
from invoice_pipeline.reconciliation.tie_out import TieOutBroken

OCTOBER = BillingPeriod(2026, 10)


def licence_terms(seats: int, unit_price: str, **overrides) -> ContractTerms:
    values = {
        "billing_contract_id": "BC-1",
        "account_id": "ACC-1",
        "product_id": "M365-E3",
        "charge_kind": ChargeKind.LICENSE,
        "currency": "USD",
        "seats": seats,
        "unit_price": Decimal(unit_price),
        "usage_markup_percent": None,
        "valid_from": date(2026, 1, 1),
        "valid_to": None,
    }
    return ContractTerms(**(values | overrides))


def usage_terms(markup: str, **overrides) -> ContractTerms:
    usage_only = {"product_id": "AZURE-PLAN", "charge_kind": ChargeKind.USAGE}
    terms = licence_terms(0, "0", **(usage_only | {"usage_markup_percent": Decimal(markup)} | overrides))
    return replace(terms, seats=None, unit_price=None)


def licences(seats: str, cost: str, **overrides) -> LicenseGroup:
    values = {
        "account_id": "ACC-1",
        "billing_contract_id": "BC-1",
        "product_id": "M365-E3",
        "currency": "USD",
        "minor_units": 2,
        "subscription_ids": "SUB-1",
        "line_count": 1,
        "seats": Decimal(seats),
        "cost": Decimal(cost),
    }
    return LicenseGroup(**(values | overrides))


def usage(
    cost: str, billed_cost: str = "0", billed_amount: str = "0", lines: int = 2, billed_lines: int = 0, **overrides
):
    values = {
        "account_id": "ACC-1",
        "billing_contract_id": "BC-1",
        "subscription_id": "SUB-AZ-1",
        "product_id": "AZURE-PLAN",
        "currency": "USD",
        "minor_units": 2,
        "line_count": lines,
        "cost": Decimal(cost),
        "billed_line_count": billed_lines,
        "billed_cost": Decimal(billed_cost),
        "billed_amount": Decimal(billed_amount),
    }
    return UsageGroup(**(values | overrides))


def test_more_seats_at_the_provider_than_the_contract_bills_are_unbilled_seats_at_the_contract_price():
    result = reconcile(OCTOBER, [licences("20", "720.00")], [], [licence_terms(18, "40.00")])

    [finding] = result.findings
    assert (finding.kind, finding.effect) == (FindingKind.UNBILLED_SEATS, Decimal("80.00"))
    assert (finding.provider_quantity, finding.contract_quantity) == (Decimal(20), Decimal(18))
    totals = result.totals["USD"]
    assert (totals.unbilled_cost, totals.billed_cost, totals.revenue) == (Decimal("72.00"), Decimal("648.00"), 720)
    assert totals.unbilled_amount == Decimal("80.00")


def test_fewer_seats_at_the_provider_than_the_contract_bills_are_over_billing_with_a_negative_effect():
    result = reconcile(OCTOBER, [licences("10", "220.00")], [], [licence_terms(12, "24.00")])

    [finding] = result.findings
    assert (finding.kind, finding.effect) == (FindingKind.OVERBILLED_SEATS, Decimal("-48.00"))
    assert result.totals["USD"].overbilled_amount == Decimal("48.00")
    assert result.totals["USD"].billed_cost == Decimal("220.00")


def test_seats_as_the_contract_says_at_a_price_above_cost_find_nothing():
    result = reconcile(OCTOBER, [licences("12", "264.00")], [], [licence_terms(12, "25.00")])

    assert result.findings == []
    assert result.margins[0].margin == Decimal("36.00")


def test_a_customer_billed_less_than_the_cost_of_what_is_billed_is_below_cost_with_the_loss_as_its_effect():
    result = reconcile(OCTOBER, [licences("12", "432.00")], [], [licence_terms(12, "35.00")])

    [finding] = result.findings
    assert (finding.kind, finding.effect, finding.account_id) == (FindingKind.BELOW_COST, Decimal("-12.00"), "ACC-1")


def test_unbilled_usage_is_worth_its_cost_plus_the_markup_in_minor_units():
    result = reconcile(OCTOBER, [], [usage("99.4012")], [usage_terms("10")])

    [finding] = result.findings
    assert (finding.kind, finding.effect, finding.cost) == (
        FindingKind.UNBILLED_USAGE,
        Decimal("109.34"),
        Decimal("99.4012"),
    )
    assert result.totals["USD"].unbilled_cost == Decimal("99.4012")


def test_usage_billed_at_cost_under_a_markup_contract_is_billed_differently_by_the_missing_markup():
    group = usage("99.4012", billed_cost="99.4012", billed_amount="99.4012", billed_lines=2)

    result = reconcile(OCTOBER, [], [group], [usage_terms("10")])

    [finding] = result.findings
    assert finding.kind == FindingKind.USAGE_BILLED_DIFFERENTLY
    assert (finding.billed, finding.expected, finding.effect) == (Decimal("99.40"), Decimal("109.34"), Decimal("9.94"))
    assert finding.explanation == ("2 lines billed at 99.40 USD; cost 99.4012 USD plus markup 10% is 109.34 USD")
    assert result.totals["USD"].billed_cost == Decimal("99.4012")
    assert result.totals["USD"].unbilled_amount == Decimal("9.94")  # billed too little is money not billed


def test_usage_billed_above_cost_plus_markup_counts_as_over_billing_not_leakage():
    group = usage("100.00", billed_cost="100.00", billed_amount="125.00", billed_lines=1, lines=1)

    result = reconcile(OCTOBER, [], [group], [usage_terms("10")])

    [finding] = result.findings
    assert (finding.kind, finding.effect) == (FindingKind.USAGE_BILLED_DIFFERENTLY, Decimal("-15.00"))
    assert finding.explanation.startswith("1 line billed at 125.00 USD")
    totals = result.totals["USD"]
    assert (totals.unbilled_amount, totals.overbilled_amount) == (Decimal(0), Decimal("15.00"))


@pytest.mark.parametrize(
    ("terms", "note"),
    [
        (
            [
                licence_terms(14, "12.50", valid_to=date(2026, 10, 15)),
                licence_terms(8, "12.50", valid_from=date(2026, 10, 16)),
            ],
            "the terms change on 2026-10-16: those from then apply to the whole month",
        ),
        (
            [licence_terms(8, "12.50", valid_from=date(2026, 10, 20))],
            "the terms start on 2026-10-20: they apply to the whole month",
        ),
        (
            [licence_terms(8, "12.50", valid_to=date(2026, 10, 15))],
            "the terms end on 2026-10-15: they apply to the whole month",
        ),
    ],
)
def test_terms_that_do_not_hold_on_every_day_of_the_period_apply_whole_and_the_finding_says_so(terms, note):
    result = reconcile(OCTOBER, [licences("12", "120.00")], [], terms)

    [finding] = result.findings
    assert (finding.kind, finding.effect) == (FindingKind.UNBILLED_SEATS, Decimal("50.00"))
    assert finding.explanation == f"12 seats at the provider, 8 billed at 12.50 USD; {note}"


def test_usage_billed_at_cost_plus_markup_finds_nothing_and_counts_as_revenue():
    group = usage("100.00", billed_cost="100.00", billed_amount="108.50", billed_lines=2)

    result = reconcile(OCTOBER, [], [group], [usage_terms("8.5")])

    assert result.findings == []
    assert result.totals["USD"].revenue == Decimal("108.50")


@pytest.mark.parametrize(
    ("group", "terms", "why"),
    [
        (usage("5.00", billing_contract_id=None), usage_terms("10"), "no billing contract"),
        (usage("5.00", product_id=None), usage_terms("10"), "no product on the subscription"),
        (usage("5.00", currency="EUR"), usage_terms("10"), "no contract terms"),
        (usage("5.00"), usage_terms("10", valid_to=date(2026, 9, 30)), "no contract terms"),
        (usage("5.00"), usage_terms("10", valid_from=date(2026, 11, 1)), "no contract terms"),
        (usage("5.00"), usage_terms("10", account_id="ACC-2"), "no contract terms"),
    ],
    ids=["unknown subscription", "no product", "other currency", "ended", "not started", "another customer's"],
)
def test_lines_without_contract_terms_in_the_period_are_no_contract_findings_at_their_cost(group, terms, why):
    result = reconcile(OCTOBER, [], [group], [terms])

    [finding] = result.findings
    assert (finding.kind, finding.effect) == (FindingKind.NO_CONTRACT, Decimal("5.00"))
    assert why in finding.explanation
    assert result.totals[group.currency].no_contract_cost == Decimal("5.00")


def test_currencies_are_kept_apart_each_with_its_own_totals():
    groups = [usage("1000", currency="JPY", minor_units=0), usage("10.00")]

    result = reconcile(OCTOBER, [], groups, [usage_terms("10"), usage_terms("10", currency="JPY")])

    assert {code: t.unbilled_amount for code, t in result.totals.items()} == {"JPY": 1100, "USD": Decimal("11.00")}


def test_costs_that_do_not_add_up_to_the_period_lines_break_the_tie_out_instead_of_reporting():
    result = reconcile(OCTOBER, [licences("20", "720.00")], [], [licence_terms(18, "40.00")])

    result.tie_out({"USD": Decimal("720.00")})
    with pytest.raises(TieOutBroken, match="provider cost 720.00"):
        result.tie_out({"USD": Decimal("720.01")})
    with pytest.raises(TieOutBroken, match="currencies"):
        result.tie_out({"USD": Decimal("720.00"), "EUR": Decimal("1")})


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [("2026-10", date(2026, 10, 1), date(2026, 10, 31)), ("2024-02", date(2024, 2, 1), date(2024, 2, 29))],
)
def test_a_billing_period_is_a_calendar_month(text, first, last):
    period = BillingPeriod.parse(text)
    assert (period.start, period.end, str(period)) == (first, last, text)


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "October", "2026-10-01", ""])
def test_a_period_that_is_not_a_month_is_refused_saying_how_to_write_it(text):
    with pytest.raises(ValueError, match="give it as YYYY-MM"):
        BillingPeriod.parse(text)


def test_the_trend_periods_end_with_the_period_across_a_year_boundary():
    assert [str(p) for p in BillingPeriod(2026, 2).previous(4)] == ["2025-11", "2025-12", "2026-01", "2026-02"]


money = st.decimals(min_value=Decimal("-5000"), max_value=Decimal("5000"), places=6, allow_nan=False)
seats = st.integers(min_value=-3, max_value=40).map(Decimal)


@st.composite
def period_data(draw):
    """Random groups for three accounts and two products in two currencies, with random contracts for some."""
    licence_groups, usage_groups, contracts = [], [], []
    for account in ("ACC-1", "ACC-2", "ACC-3"):
        for currency, units in (("USD", 2), ("JPY", 0)):
            keys = {"account_id": account, "currency": currency, "minor_units": units}
            if draw(st.booleans()):
                licence_groups.append(licences(str(draw(seats)), str(draw(money)), **keys))
                if draw(st.booleans()):
                    price = draw(st.decimals(min_value=0, max_value=100, places=2))
                    contracts.append(
                        licence_terms(draw(st.integers(0, 40)), str(price), account_id=account, currency=currency)
                    )
            if draw(st.booleans()):
                cost, billed_share = draw(money), draw(st.sampled_from(["0", "0.5", "1"]))
                billed_cost = (cost * Decimal(billed_share)).quantize(Decimal("0.000001"))
                billed_amount = billed_cost * draw(st.sampled_from([Decimal("1"), Decimal("1.1"), Decimal("1.085")]))
                billed_lines = {"0": 0, "0.5": 1, "1": 2}[billed_share]
                usage_groups.append(usage(str(cost), str(billed_cost), str(billed_amount), 2, billed_lines, **keys))
                if draw(st.booleans()):
                    markup = draw(st.decimals(min_value=-50, max_value=50, places=3))
                    contracts.append(usage_terms(str(markup), account_id=account, currency=currency))
    return licence_groups, usage_groups, contracts


@settings(max_examples=200, deadline=None)
@given(period_data())
def test_the_tie_out_always_holds_exactly_and_as_printed(data):
    licence_groups, usage_groups, contracts = data
    line_costs: dict[str, Decimal] = {}
    for group in [*licence_groups, *usage_groups]:
        line_costs[group.currency] = line_costs.get(group.currency, Decimal(0)) + group.cost

    result = reconcile(OCTOBER, licence_groups, usage_groups, contracts)

    result.tie_out(line_costs)
    for totals in result.totals.values():
        rounded = totals.rounded()
        assert (
            rounded["billed_cost"] + rounded["unbilled_cost"] + rounded["no_contract_cost"] == rounded["provider_cost"]
        )
        assert abs(rounded["billed_cost"] - totals.billed_cost) <= Decimal(1).scaleb(-totals.minor_units) * 2
        for finding in result.findings:
            assert finding.effect == finding.effect.quantize(Decimal(1).scaleb(-finding.minor_units))


KWD = {"currency": "KWD", "minor_units": 3}


def kwd_period():
    """Issue #27, point 9, in KWD (3 minor units): Northwind's E3 costs 10.2665 against 10 seats billed at 1.000
    (exact margin -0.2665), Adventure Works' costs 10.0005 against 5 at 2.000 (-0.0005), and a Tailspin line of
    0.0004 has no product. Exact: provider cost 20.2674, billed cost 20.2670, margin -0.2670."""
    groups = [
        licences("10", "10.2665", **KWD),
        licences("5", "10.0005", account_id="ACC-2", billing_contract_id="BC-2", **KWD),
        licences("1", "0.0004", account_id="ACC-3", billing_contract_id="BC-3", product_id=None, **KWD),
    ]
    terms = [
        licence_terms(10, "1.000", currency="KWD"),
        licence_terms(5, "2.000", account_id="ACC-2", billing_contract_id="BC-2", currency="KWD"),
    ]
    return reconcile(OCTOBER, groups, [], terms)


def test_kwd_margins_findings_and_totals_round_the_same_way_and_add_up_to_the_last_minor_unit():
    """A below_cost finding said -0.266 KWD while the KWD totals said margin -0.267: every amount shown is now in
    minor units from the same rounding, so the margins add up to the totals' margin and the finding is its margin."""
    result = kwd_period()

    totals = result.totals["KWD"].rounded()
    assert (totals["provider_cost"], totals["billed_cost"], totals["margin"]) == (
        Decimal("20.267"),
        Decimal("20.267"),
        Decimal("-0.267"),
    )
    margins = {margin.account_id: margin.rounded_margin for margin in result.margins}
    assert margins == {"ACC-1": Decimal("-0.267"), "ACC-2": Decimal("0.000")}
    assert sum(margins.values()) == totals["margin"]
    assert sum(margin.rounded_billed_cost for margin in result.margins) == totals["billed_cost"]
    assert sum(margin.rounded_revenue for margin in result.margins) == totals["revenue"]
    [below_cost] = result.of_kind(FindingKind.BELOW_COST)  # -0.0005 is 0.000 shown: no loss to report
    assert (below_cost.account_id, below_cost.effect) == ("ACC-1", Decimal("-0.267"))
    assert below_cost.explanation == (
        "billed 10.000 KWD against a cost of 10.267 KWD (exactly 10.000 KWD against 10.2665 KWD)"
    )
    [no_contract] = result.of_kind(FindingKind.NO_CONTRACT)
    assert no_contract.effect == totals["no_contract_cost"] == Decimal("0.000")
    assert totals["billed_cost"] + totals["unbilled_cost"] + totals["no_contract_cost"] == totals["provider_cost"]


def test_each_amount_shown_is_within_one_minor_unit_of_its_exact_amount_and_the_parts_add_up_to_the_rounded_whole():
    amounts = [Decimal("10.2665"), Decimal("10.0005"), Decimal("0.0004"), Decimal("-3.1415"), Decimal("2")]
    total = sum(amounts, Decimal(0)).quantize(Decimal("0.001"))

    shares = apportion(total, amounts, 3)

    assert sum(shares) == total == Decimal("19.126")
    assert shares == [Decimal("10.267"), Decimal("10.001"), Decimal("0.000"), Decimal("-3.142"), Decimal("2.000")]
    assert apportion(Decimal("0"), [], 2) == []


def period_invoice(invoice_id: str, header: str, lines: str, **overrides) -> PeriodInvoice:
    values = {
        "provider": "contoso-csp",
        "invoice_id": invoice_id,
        "currency": "USD",
        "minor_units": 2,
        "header_total": Decimal(header),
        "lines_total": Decimal(lines),
        "checksum_tolerance": Decimal("0.05"),
        "accepted_difference": None,
        "activated_by": "invoice-pipeline",
        "activation_reason": "Imported",
        "overridden_by": None,
        "override_reason": None,
    }
    return PeriodInvoice(**(values | overrides))


def pending_change(invoice_id: str, imported: str, provider: str, **overrides) -> PendingChange:
    values = {
        "provider": "contoso-csp",
        "invoice_id": invoice_id,
        "currency": "USD",
        "minor_units": 2,
        "imported_total": Decimal(imported),
        "provider_total": Decimal(provider),
        "lines_total": Decimal(imported),
        "lines_changed": False,
        "seen_at": datetime(2026, 11, 20, 6, 0, tzinfo=UTC),
    }
    return PendingChange(**(values | overrides))


def test_checksum_differences_accepted_by_an_override_or_a_tolerance_are_findings_and_in_the_totals():
    """Issue #27, point 5: USD headers 3,056.62 against lines 3,056.45, the 0.17 shown nowhere."""
    invoices = [
        period_invoice(
            "G-OVERRIDE",
            "3056.62",
            "3056.45",
            accepted_difference=Decimal("0.17"),
            activated_by="alice@example.com",
            overridden_by="alice@example.com",
            override_reason="rounding at the provider",
        ),
        period_invoice("G-TOLERANCE", "99.97", "100.004"),
        period_invoice("G-CLEAN", "46.00", "46.00"),
    ]

    result = reconcile(OCTOBER, [], [], [], invoices=invoices)

    override, tolerance = result.of_kind(FindingKind.ACCEPTED_CHECKSUM_DIFFERENCE)
    assert (override.invoice, override.effect, override.header_total, override.lines_total) == (
        "contoso-csp:G-OVERRIDE",
        Decimal("0.17"),
        Decimal("3056.62"),
        Decimal("3056.45"),
    )
    assert override.accepted_by == "alice@example.com"
    assert override.explanation == (
        "header 3,056.62 USD against lines 3,056.45 USD: 0.17 USD charged that no line explains; accepted by "
        "alice@example.com with a checksum override: rounding at the provider"
    )
    assert (tolerance.effect, tolerance.lines_total, tolerance.accepted_by) == (
        Decimal("-0.03"),  # the checksum's rounding: 99.97 against 100.00
        Decimal("100.00"),
        "invoice-pipeline",
    )
    assert tolerance.explanation == (
        "header 99.97 USD against lines 100.00 USD: the lines exceed the header by 0.03 USD; within contoso-csp's "
        "checksum tolerance of 0.05 USD, imported by invoice-pipeline"
    )
    totals = result.totals["USD"].rounded()
    assert (totals["header_total"], totals["lines_total"], totals["accepted_difference"]) == (
        Decimal("3202.59"),
        Decimal("3202.45"),
        Decimal("0.14"),
    )
    assert totals["provider_cost"] == 0  # no line charges in the period: the invoices are still shown
    result.tie_out({})


def test_a_difference_accepted_when_a_manual_invoice_was_activated_names_who_and_why():
    invoice = period_invoice(
        "FAB-1",
        "120.00",
        "119.90",
        provider="fabrikam-distribution",
        accepted_difference=Decimal("0.10"),
        activated_by="bob@example.com",
        activation_reason="activated by hand: distributor PDF (Imported with accepted checksum difference 0.10 USD)",
    )

    [finding] = reconcile(OCTOBER, [], [], [], invoices=[invoice]).findings

    assert finding.explanation.endswith(
        "accepted by bob@example.com at activation: activated by hand: distributor PDF (Imported with accepted "
        "checksum difference 0.10 USD)"
    )


def test_a_pending_provider_change_is_a_finding_worth_new_minus_old_and_a_total():
    """Issue #27, point 5: an invoice re-issued 1,000 -> 1,200 after its import, still pending."""
    changes = [
        pending_change("G-REISSUED", "1000.00", "1200.00", lines_changed=True),
        pending_change("G-LINES", "46.00", "46.00", lines_changed=True),
    ]

    result = reconcile(OCTOBER, [], [], [], changes=changes)

    reissued, lines = result.of_kind(FindingKind.PENDING_PROVIDER_CHANGE)
    assert (reissued.invoice, reissued.effect, reissued.header_total, reissued.new_total) == (
        "contoso-csp:G-REISSUED",
        Decimal("200.00"),
        Decimal("1000.00"),
        Decimal("1200.00"),
    )
    assert reissued.explanation == (
        "the provider changed the invoice total from 1000.00 USD to 1200.00 USD and its lines (seen 2026-11-20), "
        "after its import; the imported invoice still counts 1,000.00 USD: deactivate it and sync it again"
    )
    assert lines.effect == 0 and "changed the invoice's lines (total 46.00 USD unchanged)" in lines.explanation
    assert result.totals["USD"].rounded()["pending_change"] == Decimal("200.00")
