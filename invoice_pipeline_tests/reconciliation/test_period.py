"""A period reconciled from the warehouse, on DuckDB and PostgreSQL: only Active provider invoices' lines charged
in the month, credits as seats removed, customer billing read from the invoice links, and the tie-out on random
lines and contracts, money exact."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invoice_pipeline.composition import connector_for
from invoice_pipeline.domain.billing_period import BillingPeriod
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline.importing.sync_plan import plan_sync
from invoice_pipeline.operations.invoice_operations import ChecksumOverrideRequest, deactivate_invoice
from invoice_pipeline.reconciliation.findings import FindingKind
from invoice_pipeline.reconciliation.period import reconcile_period
from invoice_pipeline.reconciliation.reports import margin_row, totals_row
from invoice_pipeline.schemas.reference_data import BillingContractsSchema
from invoice_pipeline.use_cases import import_invoice
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline.warehouse.operations_log import OperationsLog
from invoice_pipeline_tests.builders import ADVENTURE_WORKS, bill_at_cost, license_line, usage_line, write_csv

pytestmark = pytest.mark.engine_contract

OCTOBER, SEPTEMBER = BillingPeriod(2026, 10), BillingPeriod(2026, 9)
CONTRACT_COLUMNS = list(BillingContractsSchema.to_schema().columns)


def write_contracts(reference: Path, rows: list[dict[str, str]]) -> None:
    """The reference folder's billing_contracts.csv, replaced."""
    write_csv(reference / "billing_contracts.csv", rows, CONTRACT_COLUMNS)


def terms(contract: str, account: str, product: str, kind: str, **values: str) -> dict[str, str]:
    """One row of billing_contracts.csv, in USD from January 2026 unless told."""
    return {
        "billing_contract_id": contract,
        "account_id": account,
        "product_id": product,
        "charge_kind": kind,
        "currency": "USD",
        "valid_from": "2026-01-01",
    } | values


@pytest.fixture
def imported(workspace, warehouse):
    """Northwind: 22 E3 seats and a credit of 2 (20 net, 720.00) against 18 billed at 35.00; Azure usage 99.4012 in
    October and 50.00 in September at a 10% markup. Adventure Works: Azure usage 7.25 at cost. An invoice in Error
    with a line of its own, never counted."""
    write_contracts(
        workspace.root / "reference",
        [
            terms("BC-2001", "ACC-1001", "M365-E3", "license", seats="18", unit_price="35.00"),
            terms("BC-2001", "ACC-1001", "AZURE-PLAN", "usage", usage_markup_percent="10"),
            terms("BC-2002", "ACC-1002", "AZURE-PLAN", "usage", usage_markup_percent="0"),
        ],
    )
    workspace.add_invoice(
        "G-ACTIVE",
        usage=[
            usage_line("U1", "99.4012"),
            usage_line("U2", "7.25", customer_id=ADVENTURE_WORKS, subscription_id="SUB-AZ-1002"),
            usage_line("U3", "50.00", charge_start_date="2026-09-20", charge_end_date="2026-09-30"),
        ],
        license=[
            license_line("L1", "792.00", quantity="22", unit_price="36.00"),
            license_line("L2", "-72.00", quantity="2", unit_price="-36.00", charge_start_date="2026-10-20"),
        ],
    )
    workspace.add_invoice("G-ERROR", usage=[usage_line("E1", "1000.00")], adjust_total="5")
    for invoice_id, status in (("G-ACTIVE", Status.ACTIVE), ("G-ERROR", Status.ERROR)):
        record = import_provider_invoice(
            workspace.config(), warehouse, InvoiceKey("contoso-csp", invoice_id), connectors=connector_for
        )
        assert record.status == status
    return workspace


def effects(result) -> dict[tuple[str, str], Decimal]:
    return {(finding.kind.value, finding.account_id): finding.effect for finding in result.findings}


def test_the_period_finds_unbilled_seats_net_of_credits_below_cost_and_unbilled_usage(imported, warehouse):
    result = reconcile_period(warehouse, imported.root / "reference", OCTOBER)

    assert effects(result) == {
        ("unbilled_seats", "ACC-1001"): Decimal("70.00"),  # 20 seats net of the credit, 18 billed, at 35.00
        ("below_cost", "ACC-1001"): Decimal("-18.00"),  # 18 seats billed at 35.00 cost 36.00 each
        ("unbilled_usage", "ACC-1001"): Decimal("109.34"),  # 99.4012 plus 10%
        ("unbilled_usage", "ACC-1002"): Decimal("7.25"),
    }
    totals = result.totals["USD"]
    assert totals.provider_cost == Decimal("826.6512")  # October's lines of the Active invoice only
    assert (totals.billed_cost, totals.unbilled_cost, totals.no_contract_cost) == (
        Decimal("648"),
        Decimal("178.6512"),
        Decimal("0"),
    )


def test_another_month_sees_only_the_lines_charged_in_it(imported, warehouse):
    result = reconcile_period(warehouse, imported.root / "reference", SEPTEMBER)

    assert effects(result) == {("unbilled_usage", "ACC-1001"): Decimal("55.00")}
    assert result.totals["USD"].provider_cost == Decimal("50.00")


def test_usage_billed_at_cost_shows_the_missing_markup_and_usage_billed_as_agreed_shows_nothing(imported, warehouse):
    bill_at_cost(warehouse, actor="test")

    result = reconcile_period(warehouse, imported.root / "reference", OCTOBER)

    assert effects(result)[("usage_billed_differently", "ACC-1001")] == Decimal("9.94")
    kinds = {(finding.kind, finding.account_id) for finding in result.findings}
    assert (FindingKind.UNBILLED_USAGE, "ACC-1001") not in kinds
    assert not {kind for kind, account in kinds if account == "ACC-1002"}
    totals = result.totals["USD"]
    assert totals.revenue == Decimal("630.00") + Decimal("99.4012") + Decimal("7.25")
    assert totals.unbilled_cost == Decimal("72.00")


def test_lines_with_no_terms_for_their_contract_are_costs_without_a_contract(imported, warehouse):
    write_contracts(
        imported.root / "reference", [terms("BC-2001", "ACC-1001", "M365-E3", "license", seats="20", unit_price="40")]
    )

    result = reconcile_period(warehouse, imported.root / "reference", OCTOBER)

    assert {(f.kind.value, f.subscription_ids) for f in result.findings} == {
        ("no_contract", "SUB-AZ-1001"),
        ("no_contract", "SUB-AZ-1002"),
    }
    assert result.totals["USD"].no_contract_cost == Decimal("106.6512")


STATUSES = [Status.ACTIVE, Status.ACTIVE, Status.ERROR, Status.INACTIVE]
ACCOUNTS = [
    ("ACC-1001", "BC-2001", "SUB-AZ-1001", "SUB-M365-1001"),
    ("ACC-1002", "BC-2002", "SUB-AZ-1002", "SUB-M365-1002"),
]
amounts = st.decimals(min_value=Decimal("-999"), max_value=Decimal("9999"), places=4, allow_nan=False)
line = st.tuples(
    st.sampled_from(["usage", "license"]),
    st.integers(0, len(ACCOUNTS) - 1),
    st.sampled_from(["USD", "JPY"]),
    st.sampled_from([date(2026, 10, 1), date(2026, 10, 31), date(2026, 9, 30), date(2026, 11, 1)]),
    st.integers(-5, 30),
    amounts,
    st.sampled_from([None, "1", "1.1"]),  # not billed, billed at cost, billed with 10%
)
contract = st.tuples(
    st.integers(0, len(ACCOUNTS) - 1),
    st.sampled_from(["usage", "license"]),
    st.sampled_from(["USD", "JPY"]),
    st.integers(0, 30),
    st.decimals(min_value=0, max_value=100, places=2),
    st.decimals(min_value=-20, max_value=50, places=1),
)


def _store(engine: sa.Engine, invoices: list[tuple[Status, list]]) -> dict[str, Decimal]:
    """Store invoices and their lines directly; returns October's cost per currency of the Active ones."""
    now, expected = datetime.now(UTC), {}
    with engine.begin() as conn:
        for status, lines in invoices:
            record_id = uuid.uuid4().hex
            conn.execute(
                sa.insert(t.provider_invoices).values(
                    record_id=record_id,
                    provider="contoso-csp",
                    invoice_id=record_id,
                    status=status.value,
                    is_manual=False,
                    minor_units=2,
                    currency="USD",
                    created_at=now,
                    updated_at=now,
                )
            )
            for number, (kind, account, currency, start, quantity, amount, billed) in enumerate(lines):
                account_id, contract_id, usage_subscription, licence_subscription = ACCOUNTS[account]
                row = {
                    "record_id": record_id,
                    "line_id": f"L{number}",
                    "customer_id": account_id,
                    "account_id": account_id,
                    "billing_contract_id": contract_id,
                    "charge_start_date": start,
                    "charge_end_date": start,
                    "quantity": Decimal(quantity),
                    "unit_price": Decimal(0),
                    "amount": amount,
                    "currency": currency,
                }
                if kind == "usage":
                    conn.execute(
                        sa.insert(t.usage_summaries).values(
                            row | {"subscription_id": usage_subscription, "product_id": "AZURE-PLAN"}
                        )
                    )
                    if billed is not None:
                        conn.execute(
                            sa.insert(t.customer_invoice_lines).values(
                                customer_invoice_id="CI-1",
                                record_id=record_id,
                                line_id=f"L{number}",
                                amount=amount * Decimal(billed),
                            )
                        )
                else:
                    conn.execute(
                        sa.insert(t.license_summaries).values(
                            row | {"subscription_id": licence_subscription, "product_id": "M365-E3"}
                        )
                    )
                if status == Status.ACTIVE and OCTOBER.start <= start <= OCTOBER.end:
                    expected[currency] = expected.get(currency, Decimal(0)) + amount
    return expected


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    invoices=st.lists(st.tuples(st.sampled_from(STATUSES), st.lists(line, max_size=8)), max_size=4),
    contracts=st.lists(contract, max_size=6, unique_by=lambda c: (c[0], c[1], c[2])),
)
def test_on_random_lines_and_contracts_the_tie_out_holds_and_the_cost_is_the_active_lines_exact_sum(
    workspace, warehouse, invoices, contracts
):
    reference = workspace.root / "reference"
    write_contracts(
        reference,
        [
            terms(
                ACCOUNTS[account][1],
                ACCOUNTS[account][0],
                "AZURE-PLAN" if kind == "usage" else "M365-E3",
                kind,
                currency=currency,
                seats=str(seats) if kind == "license" else "",
                unit_price=str(price) if kind == "license" else "",
                usage_markup_percent=str(markup) if kind == "usage" else "",
            )
            for account, kind, currency, seats, price, markup in contracts
        ],
    )
    with warehouse.engine.begin() as conn:
        for table in (t.customer_invoice_lines, t.usage_summaries, t.license_summaries, t.provider_invoices):
            conn.execute(sa.delete(table))
    expected = _store(warehouse.engine, invoices)

    result = reconcile_period(warehouse, reference, OCTOBER)  # asserts the tie-out itself

    assert {code: totals.provider_cost for code, totals in result.totals.items()} == expected
    for totals in result.totals.values():
        assert totals.billed_cost + totals.unbilled_cost + totals.no_contract_cost == totals.provider_cost
        rounded = totals.rounded()
        assert (
            rounded["billed_cost"] + rounded["unbilled_cost"] + rounded["no_contract_cost"] == rounded["provider_cost"]
        )


def _key(invoice_id: str) -> InvoiceKey:
    return InvoiceKey("contoso-csp", invoice_id)


def test_accepted_checksum_differences_and_pending_provider_changes_of_the_period_are_in_its_totals_and_findings(
    workspace, warehouse
):
    """Issue #27, point 5: headers 3,056.62 against lines 3,056.45 accepted by an override, a difference within the
    provider's tolerance, and an invoice re-issued 1,000 -> 1,200 after its import were shown nowhere. An invoice
    belongs to the period its header's billing period starts in; a change is pending while the record it was seen on
    is the invoice's current Active one (not once the invoice was deactivated and imported again)."""
    write_contracts(
        workspace.root / "reference",
        [terms("BC-2001", "ACC-1001", "AZURE-PLAN", "usage", usage_markup_percent="0")],
    )
    workspace.set_tolerance("contoso-csp", "0.05")
    september = {"billing_period_start": "2026-09-01", "billing_period_end": "2026-09-30"}
    workspace.add_invoice("G-OVERRIDE", usage=[usage_line("U1", "3056.45")], total="3056.62")
    workspace.add_invoice("G-TOLERANCE", usage=[usage_line("U1", "100.00")], total="99.97")
    workspace.add_invoice("G-SEPTEMBER", usage=[usage_line("U1", "20.00")], total="20.02", header=september)
    workspace.add_invoice("G-CHANGED", usage=[usage_line("U1", "1000.00")])
    workspace.add_invoice("G-REISSUED", usage=[usage_line("U1", "500.00")])
    config = workspace.config()
    for invoice_id in ("G-OVERRIDE", "G-TOLERANCE", "G-SEPTEMBER", "G-CHANGED", "G-REISSUED"):
        import_provider_invoice(config, warehouse, _key(invoice_id), connectors=connector_for)
    assert warehouse.current_record(_key("G-OVERRIDE")).status == Status.ERROR  # 0.17 is above the tolerance
    overridden = import_invoice(
        config,
        warehouse,
        _key("G-OVERRIDE"),
        connectors=connector_for,
        run_id=None,
        actor="alice@example.com",
        checksum_override=ChecksumOverrideRequest(difference=Decimal("0.17"), reason="rounding at the provider"),
    )
    assert overridden.status == Status.ACTIVE
    workspace.add_invoice("G-CHANGED", usage=[usage_line("U1", "1200.00")])  # re-issued at the provider
    workspace.add_invoice("G-REISSUED", usage=[usage_line("U1", "550.00")])
    plan = plan_sync(config, warehouse, connectors=connector_for, changes=OperationsLog(warehouse), actor="test")
    assert len(plan.new_changes) == 2
    deactivate_invoice(warehouse, _key("G-REISSUED"), actor="bob@example.com", reason="re-issued by the provider")
    assert (
        import_provider_invoice(config, warehouse, _key("G-REISSUED"), connectors=connector_for).status == Status.ACTIVE
    )

    result = reconcile_period(warehouse, workspace.root / "reference", OCTOBER)

    accepted = {f.invoice: f for f in result.of_kind(FindingKind.ACCEPTED_CHECKSUM_DIFFERENCE)}
    assert {invoice: f.effect for invoice, f in accepted.items()} == {
        "contoso-csp:G-OVERRIDE": Decimal("0.17"),
        "contoso-csp:G-TOLERANCE": Decimal("-0.03"),
    }
    override = accepted["contoso-csp:G-OVERRIDE"]
    assert (override.header_total, override.lines_total, override.accepted_by) == (
        Decimal("3056.62"),
        Decimal("3056.45"),
        "alice@example.com",
    )
    assert override.explanation.endswith(
        "accepted by alice@example.com with a checksum override: rounding at the provider"
    )
    assert "within contoso-csp's checksum tolerance of 0.05 USD" in accepted["contoso-csp:G-TOLERANCE"].explanation
    [pending] = result.of_kind(FindingKind.PENDING_PROVIDER_CHANGE)
    assert (pending.invoice, pending.header_total, pending.new_total, pending.effect) == (
        "contoso-csp:G-CHANGED",
        Decimal("1000.00"),
        Decimal("1200.00"),
        Decimal("200.00"),
    )
    totals = result.totals["USD"].rounded()
    assert {
        name: totals[name] for name in ("header_total", "lines_total", "accepted_difference", "pending_change")
    } == {
        "header_total": Decimal("4706.59"),  # 3,056.62 + 99.97 + 1,000.00 + 550.00 (the record imported again)
        "lines_total": Decimal("4706.45"),
        "accepted_difference": Decimal("0.14"),
        "pending_change": Decimal("200.00"),
    }
    before = reconcile_period(warehouse, workspace.root / "reference", SEPTEMBER)  # no line charges in September
    [accepted_in_september] = before.findings
    assert (accepted_in_september.invoice, accepted_in_september.effect) == ("contoso-csp:G-SEPTEMBER", Decimal("0.02"))
    assert before.totals["USD"].provider_cost == 0


TAILSPIN = "c41e8f33-2d9b-4a6e-b318-7e2f4a9c5d03"  # ACC-1003; its SUB-TEAMS-1003 has no product


def test_kwd_findings_margins_and_totals_agree_when_summed_and_the_tie_out_stays_exact(workspace, warehouse):
    """Issue #27, point 9: a below_cost finding said -0.266 KWD while the KWD totals said margin -0.267."""
    write_contracts(
        workspace.root / "reference",
        [
            terms("BC-2001", "ACC-1001", "M365-E3", "license", currency="KWD", seats="10", unit_price="1.000"),
            terms("BC-2002", "ACC-1002", "M365-BP", "license", currency="KWD", seats="5", unit_price="2.000"),
        ],
    )
    kwd = {"currency": "KWD"}
    workspace.add_invoice(
        "G-KWD",
        license=[
            license_line("L1", "10.2665", quantity="10", unit_price="1.02665", **kwd),
            license_line(
                "L2",
                "10.0005",
                customer_id=ADVENTURE_WORKS,
                subscription_id="SUB-M365-1002",
                product_id="M365-BP",
                quantity="5",
                unit_price="2.0001",
                **kwd,
            ),
            license_line(
                "L3", "0.0004", customer_id=TAILSPIN, subscription_id="SUB-TEAMS-1003", unit_price="0.0004", **kwd
            ),
        ],
        currency="KWD",
        total="20.267",
    )
    assert (
        import_provider_invoice(workspace.config(), warehouse, _key("G-KWD"), connectors=connector_for).status
        == Status.ACTIVE
    )

    result = reconcile_period(warehouse, workspace.root / "reference", OCTOBER)

    totals = totals_row(result.totals["KWD"])
    assert (totals["provider_cost"], totals["billed_cost"], totals["no_contract_cost"], totals["margin"]) == (
        "20.267",
        "20.267",
        "0.000",
        "-0.267",
    )
    margins = [margin_row(margin) for margin in result.margins]
    assert [(m["account_id"], m["margin"], m["exact_margin"]) for m in margins] == [
        ("ACC-1001", "-0.267", "-0.2665"),
        ("ACC-1002", "0.000", "-0.0005"),
    ]
    assert sum(Decimal(m["margin"]) for m in margins) == Decimal(totals["margin"])
    assert sum(Decimal(m["billed_cost"]) for m in margins) == Decimal(totals["billed_cost"])
    assert effects(result) == {
        ("below_cost", "ACC-1001"): Decimal("-0.267"),  # the margin as the margins and the totals show it
        ("no_contract", "ACC-1003"): Decimal("0.000"),
    }
    exact = result.totals["KWD"]
    assert exact.billed_cost + exact.unbilled_cost + exact.no_contract_cost == exact.provider_cost == Decimal("20.2674")


def test_reservation_and_consumption_lines_of_licence_summaries_are_not_counted_as_seats(warehouse):
    # Partner Center's reconciliation carries Azure reservations (reservationOrderId) and consumption (a
    # meterDescription) with quantity 1: a charge, not one seat. 25 seats + a reservation + a meter = 25 seats.
    from invoice_pipeline.warehouse.reconciliation_tables import period_lines

    _store(warehouse.engine, [(Status.ACTIVE, [("license", 0, "USD", date(2026, 10, 1), 25, Decimal("900.00"), None)])])
    with warehouse.engine.begin() as conn:
        record_id = conn.execute(sa.select(t.license_summaries.c.record_id)).scalar_one()
        account_id, contract_id, _, subscription = ACCOUNTS[0]
        for line_id, extra in [
            ("R1", '{"reservation_order_id":"883d475b-0000-1234-0000-8818752f1234","meter_description":null}'),
            ("M1", '{"reservation_order_id":null,"meter_description":"Bandwidth - Data Transfer In (GB) - Zone 2"}'),
        ]:
            conn.execute(
                sa.insert(t.license_summaries).values(
                    record_id=record_id,
                    line_id=line_id,
                    customer_id=account_id,
                    account_id=account_id,
                    billing_contract_id=contract_id,
                    subscription_id=subscription,
                    product_id="M365-E3",
                    charge_start_date=date(2026, 10, 1),
                    charge_end_date=date(2026, 10, 31),
                    quantity=Decimal(1),
                    unit_price=Decimal("820"),
                    amount=Decimal("820.00"),
                    currency="USD",
                    extra=extra,
                )
            )

    [group] = period_lines(warehouse.engine, OCTOBER.start, OCTOBER.end).license_groups

    assert (group.line_count, group.seats, group.cost) == (3, 25, Decimal("2540.00"))
