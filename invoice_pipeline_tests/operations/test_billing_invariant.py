"""The billing invariant, after every step of random sequences of sync, bill, issue, unlink, deactivate, re-import and
delete: for every account, currency and month, what invoices and credit notes bill (exactly: their totals minus
their rounding differences) is the priced amount of the lines currently linked, and no line is linked twice."""

from __future__ import annotations

import uuid
from collections import defaultdict
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from invoice_pipeline.composition import connector_for
from invoice_pipeline.domain.billing_period import BillingPeriod
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.pricing import usage_price
from invoice_pipeline.domain.refusals import ImportRefused
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline.operations.billing import bill_customers, issue_customer_invoices
from invoice_pipeline.operations.invoice_operations import (
    deactivate_invoice,
    delete_invoice,
    unlink_invoice,
)
from invoice_pipeline.reconciliation.contracts import load_contract_terms
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline.warehouse.customer_documents import BillingRefused
from invoice_pipeline_tests.builders import ADVENTURE_WORKS, make_workspace, usage_line

pytestmark = [pytest.mark.engine_contract, pytest.mark.slow]

INVOICES = ("A001", "A002")
MONTHS = ("2026-09", "2026-10")
amounts = st.decimals(min_value=Decimal("-50"), max_value=Decimal("500"), places=3).map(str)
line = st.tuples(st.sampled_from(["NW", "AW"]), st.sampled_from(MONTHS), amounts)
step = st.tuples(
    st.sampled_from(["sync", "bill", "issue", "unlink", "deactivate", "delete", "unlink_and_deactivate"]),
    st.sampled_from(INVOICES),
    st.lists(line, min_size=1, max_size=3),
)
# Both invoices imported and billed first, so that the random steps work on billed lines.
opening = st.tuples(step, step).map(lambda two: [("sync", "A001", two[0][2]), ("sync", "A002", two[1][2])])
steps = st.tuples(opening, st.lists(step, min_size=2, max_size=9)).map(lambda s: [*s[0], ("bill", "A001", []), *s[1]])


def _lines(invoice_id: str, spec: list[tuple[str, str, str]]) -> list[dict]:
    rows = []
    for number, (customer, month, amount) in enumerate(spec, 1):
        customer_args = {} if customer == "NW" else {"customer_id": ADVENTURE_WORKS, "subscription_id": "SUB-AZ-1002"}
        end = "30" if month.endswith("09") else "31"
        rows.append(
            usage_line(
                f"{invoice_id}-{number}",
                amount,
                charge_start_date=f"{month}-01",
                charge_end_date=f"{month}-{end}",
                **customer_args,
            )
        )
    return rows


def _assert_billed_once(warehouse) -> None:
    docs, links = t.customer_invoices, t.customer_invoice_lines
    with warehouse.engine.connect() as conn:
        documents = conn.execute(
            sa.select(
                docs.c.account_id, docs.c.currency, docs.c.period, docs.c.total_amount, docs.c.rounding_difference
            ).where(docs.c.status != "void")
        ).all()
        linked = conn.execute(
            sa.select(
                links.c.account_id,
                links.c.currency,
                links.c.charge_start_date,
                links.c.cost,
                links.c.usage_markup_percent,
                links.c.amount,
                links.c.record_id,
                links.c.line_id,
            ).where(links.c.linked)
        ).all()
        inactive_links = conn.execute(
            sa.select(sa.func.count())
            .select_from(links.join(t.provider_invoices, t.provider_invoices.c.record_id == links.c.record_id))
            .where(links.c.linked, t.provider_invoices.c.status != Status.ACTIVE.value)
        ).scalar_one()
    billed: dict[tuple, Decimal] = defaultdict(Decimal)
    for account, currency, period, total, rounding in documents:
        billed[(account, currency, period)] += total - rounding
    priced: dict[tuple, Decimal] = defaultdict(Decimal)
    for account, currency, charged, cost, markup, price, _, _ in linked:
        assert price == usage_price(cost, markup)
        priced[(account, currency, f"{charged:%Y-%m}")] += price
    assert {k: v for k, v in billed.items() if v} == {k: v for k, v in priced.items() if v}
    assert len({(record, line_id) for *_, record, line_id in linked}) == len(linked), "a line linked twice"
    assert inactive_links == 0, "a line of an invoice that is not Active is still billed"


NW_OCTOBER = [("NW", "2026-10", "100.005")]
REISSUED = [
    ("sync", "A001", NW_OCTOBER),
    ("sync", "A002", [("NW", "2026-10", "3.333"), ("AW", "2026-09", "7.5")]),
    ("bill", "A001", NW_OCTOBER),
    ("issue", "A001", NW_OCTOBER),
    ("unlink_and_deactivate", "A001", NW_OCTOBER),
    ("sync", "A001", [("NW", "2026-10", "120.00")]),
    ("bill", "A001", NW_OCTOBER),
    ("unlink", "A002", NW_OCTOBER),
    ("bill", "A002", NW_OCTOBER),
]


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@example(sequence=REISSUED)
@given(sequence=steps)
def test_every_line_is_billed_once_after_any_sequence_of_operations(
    sequence, tmp_path_factory, warehouse_url, migrated_duckdb
):
    # On PostgreSQL the examples share the test's schema: each has invoices of its own, the invariant covers all.
    workspace = make_workspace(
        tmp_path_factory.mktemp("invariant") / "workspace", warehouse_url, migrated_duckdb=migrated_duckdb
    )
    example = uuid.uuid4().hex[:6].upper()
    config = workspace.config()
    contracts = load_contract_terms(config.reference_data)
    warehouse = workspace.warehouse()
    try:
        for action, invoice_id, spec in sequence:
            invoice_id = f"{example}-{invoice_id}"
            key = InvoiceKey("contoso-csp", invoice_id)
            try:
                if action == "sync":
                    workspace.add_invoice(invoice_id, usage=_lines(invoice_id, spec))
                    import_provider_invoice(config, warehouse, key, connectors=connector_for, actor="test")
                elif action == "bill":
                    bill_customers(warehouse, config.reference_data, actor="test", contracts=contracts)
                elif action == "issue":
                    for month in MONTHS:
                        issue_customer_invoices(warehouse, actor="test", period=BillingPeriod.parse(month))
                elif action == "unlink":
                    unlink_invoice(warehouse, key, actor="test", reason="re-issued")
                elif action == "deactivate":
                    deactivate_invoice(warehouse, key, actor="test", reason="re-issued")
                elif action == "delete":
                    delete_invoice(warehouse, key, actor="test", reason="wrong")
                else:
                    unlink_invoice(warehouse, key, actor="test", reason="re-issued")
                    deactivate_invoice(warehouse, key, actor="test", reason="re-issued")
            except (ImportRefused, BillingRefused):
                pass  # a refusal changes nothing; the invariant still holds
            _assert_billed_once(warehouse)
    finally:
        warehouse.dispose()
