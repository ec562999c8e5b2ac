"""Customer billing: priced by the contracts, drafts per account, currency and month, issued, corrected by unlinking;
each provider line billed once (issue #27, points 1-4 and 8)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
import sqlalchemy as sa

from invoice_pipeline.composition import connector_for
from invoice_pipeline.domain.billing_period import BillingPeriod
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline.operations.billing import bill_customers, issue_customer_invoices
from invoice_pipeline.operations.invoice_operations import OperationRefused, deactivate_invoice, unlink_invoice
from invoice_pipeline.reconciliation.findings import FindingKind
from invoice_pipeline.reconciliation.period import reconcile_period
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline.warehouse.customer_documents import BillingRefused
from invoice_pipeline_tests.builders import ADVENTURE_WORKS, usage_line
from invoice_pipeline_tests.fakes import calls_seen

pytestmark = pytest.mark.engine_contract

OCTOBER = BillingPeriod(2026, 10)
KEY = InvoiceKey("contoso-csp", "A001")


def _import(workspace, warehouse, invoice_id: str = "A001") -> None:
    key = InvoiceKey("contoso-csp", invoice_id)
    assert (
        import_provider_invoice(workspace.config(), warehouse, key, connectors=connector_for, actor="test").status
        == Status.ACTIVE
    )


def _bill(workspace, warehouse, period: BillingPeriod | None = OCTOBER):
    return bill_customers(warehouse, workspace.config().reference_data, actor="billing-test", period=period)


def _net_billed(warehouse, account_id: str = "ACC-1001") -> Decimal:
    """What the account's invoices and credit notes bill, all together."""
    return sum((doc.total_amount for doc in warehouse.customer_invoices(account_id=account_id)), Decimal(0))


@pytest.fixture
def alpha(workspace, warehouse):
    """Northwind's Azure usage of October, 226.45 USD at cost, imported Active."""
    workspace.add_invoice("A001", usage=[usage_line("U1", "126.45"), usage_line("U2", "100.00")])
    _import(workspace, warehouse)


def test_usage_is_billed_at_cost_plus_the_markup_of_the_terms_ruling_its_charge_month(alpha, workspace, warehouse):
    run = _bill(workspace, warehouse)

    [draft] = run.drafts
    # BC-2001 AZURE-PLAN usage: markup 10 % -> 226.45 x 1.10 = 249.095, rounded once (banker's) to 249.10.
    assert (draft.kind, draft.status, draft.period, draft.account_id) == ("invoice", "draft", "2026-10", "ACC-1001")
    assert draft.total_amount == Decimal("249.10")
    assert draft.rounding_difference == Decimal("0.005")
    _, lines, history = warehouse.customer_invoice(draft.customer_invoice_id)
    assert sorted((line.line_id, line.cost, line.usage_markup_percent, line.price) for line in lines) == [
        ("U1", Decimal("126.45"), Decimal(10), Decimal("139.095")),
        ("U2", Decimal("100.00"), Decimal(10), Decimal("110.000")),
    ]
    assert [entry.to_status for entry in history] == ["draft"]


def test_billing_and_issuing_run_every_statement_in_one_kept_open_block(alpha, workspace, warehouse, monkeypatch):
    running: list[None] = []  # the kept_open blocks running
    kept_open = warehouse.kept_open

    @contextmanager
    def counted() -> Iterator[None]:
        with kept_open():
            running.append(None)
            try:
                yield
            finally:
                running.pop()

    monkeypatch.setattr(warehouse, "kept_open", counted)
    watched = ("billable_periods", "bill_period", "customer_invoices", "issue_customer_invoices", "customer_invoice")
    seen = calls_seen(warehouse, lambda: len(running), *watched)
    _bill(workspace, warehouse, period=None)
    issue_customer_invoices(warehouse, actor="billing-test", period=OCTOBER)
    assert {name for name, _ in seen} == set(watched)
    assert all(depth == 1 for _, depth in seen), seen


def test_unlinking_an_issued_invoice_credits_it_and_the_reimported_invoice_is_billed_once(alpha, workspace, warehouse):
    [draft] = _bill(workspace, warehouse).drafts
    issue_customer_invoices(warehouse, actor="billing-test", period=OCTOBER)

    unlinked = unlink_invoice(warehouse, KEY, actor="test", reason="re-issued by the provider")
    [credit_note] = unlinked.credit_notes
    assert (credit_note.kind, credit_note.status, credit_note.corrects) == (
        "credit_note",
        "issued",
        draft.customer_invoice_id,
    )
    assert credit_note.total_amount == Decimal("-249.10")
    assert _net_billed(warehouse) == 0

    deactivate_invoice(warehouse, KEY, actor="test", reason="re-issued")
    workspace.add_invoice("A001", usage=[usage_line("U1", "126.45"), usage_line("U2", "100.00")])
    _import(workspace, warehouse)
    [second] = _bill(workspace, warehouse).drafts

    assert second.customer_invoice_id != draft.customer_invoice_id
    assert _net_billed(warehouse) == Decimal("249.10")  # once, not 498.20
    assert _bill(workspace, warehouse).drafts == []  # nothing left to bill


def test_the_seeds_reissued_invoice_bills_the_new_amount_once(workspace, warehouse):
    workspace.add_invoice("A001", usage=[usage_line("U1", "1000.00")])
    _import(workspace, warehouse)
    _bill(workspace, warehouse)
    issue_customer_invoices(warehouse, actor="billing-test", period=OCTOBER)
    unlink_invoice(warehouse, KEY, actor="test", reason="re-issued 1,000 -> 1,200")
    deactivate_invoice(warehouse, KEY, actor="test", reason="re-issued 1,000 -> 1,200")
    workspace.add_invoice("A001", usage=[usage_line("U1", "1200.00")])
    _import(workspace, warehouse)
    _bill(workspace, warehouse)

    assert _net_billed(warehouse) == Decimal("1320.00")  # 1,200 + 10 %
    result = reconcile_period(warehouse, workspace.config().reference_data, OCTOBER)
    assert result.of_kind(FindingKind.UNBILLED_USAGE) == []
    assert result.of_kind(FindingKind.USAGE_BILLED_DIFFERENTLY) == []


def test_unlinking_a_draft_recomputes_it_and_voids_it_when_no_line_is_left(workspace, warehouse):
    workspace.add_invoice("A001", usage=[usage_line("U1", "100.00")])
    workspace.add_invoice("A002", usage=[usage_line("V1", "50.00")])
    _import(workspace, warehouse, "A001")
    _import(workspace, warehouse, "A002")
    [draft] = _bill(workspace, warehouse).drafts
    assert (draft.total_amount, draft.line_count) == (Decimal("165.00"), 2)

    first = unlink_invoice(warehouse, KEY, actor="test", reason="wrong invoice")
    assert (first.recomputed_drafts, first.voided_drafts, first.credit_notes) == ([draft.customer_invoice_id], [], [])
    assert first.summary() == f"unlinked 1 line: draft {draft.customer_invoice_id} recomputed: 55.00 USD, 1 line"
    recomputed, _, _ = warehouse.customer_invoice(draft.customer_invoice_id)
    assert (recomputed.total_amount, recomputed.line_count, recomputed.status) == (Decimal("55.00"), 1, "draft")

    second = unlink_invoice(warehouse, InvoiceKey("contoso-csp", "A002"), actor="test", reason="wrong too")
    voided, _, history = warehouse.customer_invoice(draft.customer_invoice_id)
    assert second.voided_drafts == [draft.customer_invoice_id]
    assert (voided.status, voided.total_amount, voided.line_count) == ("void", Decimal(0), 0)
    assert history[-1].to_status == "void" and "wrong too" in history[-1].reason


def test_usage_without_contract_terms_is_held_back_and_listed_not_billed(workspace, warehouse):
    # Adventure Works' BC-2002 Azure terms end 2026-12-31: January 2027 has none.
    workspace.add_invoice(
        "A001",
        usage=[
            usage_line(
                "U1",
                "40.00",
                customer_id=ADVENTURE_WORKS,
                subscription_id="SUB-AZ-1002",
                charge_start_date="2027-01-01",
                charge_end_date="2027-01-31",
            )
        ],
        header={"billing_period_start": "2027-01-01", "billing_period_end": "2027-01-31"},
    )
    _import(workspace, warehouse)

    run = _bill(workspace, warehouse, BillingPeriod(2027, 1))

    assert run.drafts == []
    [held] = run.held_back
    assert (held.account_id, held.subscription_id, held.cost, held.line_count) == (
        "ACC-1002",
        "SUB-AZ-1002",
        Decimal("40.00"),
        1,
    )
    assert "no usage terms for contract BC-2002, product AZURE-PLAN" in held.reason
    assert "billing run --period 2027-01" in held.reason
    assert warehouse.customer_invoices() == []


def test_usage_without_terms_is_billed_at_cost_when_the_configuration_says_so(workspace, warehouse):
    workspace.add_invoice("A001", usage=[usage_line("U1", "40.00", currency="EUR")], currency="EUR")
    _import(workspace, warehouse)

    run = bill_customers(
        warehouse, workspace.config().reference_data, actor="t", period=OCTOBER, bill_without_terms_at_cost=True
    )

    [draft] = run.drafts
    assert (draft.total_amount, draft.currency, run.held_back) == (Decimal("40.00"), "EUR", [])
    _, [line], _ = warehouse.customer_invoice(draft.customer_invoice_id)
    assert line.usage_markup_percent is None and line.price == Decimal("40.00")


def test_each_line_is_billed_in_its_own_charge_month(workspace, warehouse):
    workspace.add_invoice(
        "A001",
        usage=[
            usage_line("U1", "100.00"),
            usage_line("U2", "20.00", charge_start_date="2026-09-01", charge_end_date="2026-09-30"),
        ],
    )
    _import(workspace, warehouse)

    drafts = _bill(workspace, warehouse, period=None).drafts

    assert sorted((d.period, d.total_amount) for d in drafts) == [
        ("2026-09", Decimal("22.00")),
        ("2026-10", Decimal("110.00")),
    ]


def test_the_largest_amount_the_schemas_accept_bills_exactly_and_blocks_no_other_customer(workspace, warehouse):
    huge = "999999999999999999.99"
    workspace.add_invoice("A001", usage=[usage_line("U1", huge)])  # a header holds 18 digits: one line this large
    workspace.add_invoice("A003", usage=[usage_line("U2", "238.00")])
    workspace.add_invoice(
        "A002",
        usage=[usage_line("V1", "10.00", customer_id=ADVENTURE_WORKS, subscription_id="SUB-AZ-1002")],
    )
    _import(workspace, warehouse, "A001")
    _import(workspace, warehouse, "A002")
    _import(workspace, warehouse, "A003")

    drafts = {d.account_id: d for d in _bill(workspace, warehouse).drafts}

    # (999999999999999999.99 + 238.00) x 1.10 = 1100000000000000261.789 -> 1100000000000000261.79
    assert drafts["ACC-1001"].total_amount == Decimal("1100000000000000261.79")
    assert drafts["ACC-1002"].total_amount == Decimal("10.85")  # 8.5 %
    result = reconcile_period(warehouse, workspace.config().reference_data, OCTOBER)
    assert result.of_kind(FindingKind.USAGE_BILLED_DIFFERENTLY) == []
    assert result.totals["USD"].revenue == Decimal("1100000000000000261.789") + Decimal("10.85")


def test_an_issued_invoice_is_immutable_and_issuing_says_what_can_be_issued(alpha, workspace, warehouse):
    [draft] = _bill(workspace, warehouse).drafts
    [issued] = issue_customer_invoices(warehouse, actor="b", customer_invoice_id=draft.customer_invoice_id)
    assert issued.status == "issued" and issued.issued_by == "b"

    with pytest.raises(BillingRefused, match="is issued, not a draft"):
        issue_customer_invoices(warehouse, actor="b", customer_invoice_id=draft.customer_invoice_id)
    with pytest.raises(BillingRefused, match="no draft customer invoice for 2026-10"):
        issue_customer_invoices(warehouse, actor="b", period=OCTOBER)
    with pytest.raises(BillingRefused, match="no customer invoice 'CI-NOPE'"):
        issue_customer_invoices(warehouse, actor="b", customer_invoice_id="CI-NOPE")


def test_deactivating_a_billed_invoice_is_refused_until_it_is_unlinked(alpha, workspace, warehouse):
    _bill(workspace, warehouse)
    with pytest.raises(OperationRefused, match="invoices unlink"):
        deactivate_invoice(warehouse, KEY, actor="test", reason="x")


def test_after_billing_a_month_the_reconciliation_finds_no_unbilled_or_differently_billed_usage(
    alpha, workspace, warehouse
):
    _bill(workspace, warehouse)

    result = reconcile_period(warehouse, workspace.config().reference_data, OCTOBER)

    assert result.of_kind(FindingKind.UNBILLED_USAGE) == []
    assert result.of_kind(FindingKind.USAGE_BILLED_DIFFERENTLY) == []
    assert result.totals["USD"].revenue == Decimal("249.095")


def test_a_line_billed_twice_shows_in_the_reconciliation_as_usage_billed_differently(alpha, workspace, warehouse):
    """As an unlink before customer invoices had credit notes left it: the first bill still stands, its links gone."""
    [first] = _bill(workspace, warehouse).drafts
    with warehouse.engine.begin() as conn:
        conn.execute(sa.update(t.customer_invoice_lines).values(linked=False))
    [second] = _bill(workspace, warehouse).drafts
    assert second.customer_invoice_id == first.customer_invoice_id  # the month's draft takes the lines again

    result = reconcile_period(warehouse, workspace.config().reference_data, OCTOBER)

    [twice] = result.of_kind(FindingKind.USAGE_BILLED_DIFFERENTLY)
    assert (twice.billed, twice.expected, twice.effect) == (Decimal("498.19"), Decimal("249.10"), Decimal("-249.09"))
