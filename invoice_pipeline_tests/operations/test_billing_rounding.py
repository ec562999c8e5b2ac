"""Customer invoices in the currency's minor units: lines keep their exact amounts, each invoice's total is
rounded once (banker's rounding) and the rounding difference is stored with it."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from invoice_pipeline.cli import cli
from invoice_pipeline.composition import connector_for
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline_tests.builders import bill_at_cost, usage_line

pytestmark = pytest.mark.engine_contract

# Per currency: minor units, the usage lines' exact amounts, the rounded total, the rounding difference.
CURRENCIES = {
    "JPY": (0, ("10000.45", "4999.45"), "15000", "0.1"),
    "USD": (2, ("3000.342", "346.342"), "3346.68", "-0.004"),
    "KWD": (3, ("100.25025", "99.25025"), "199.500", "-0.0005"),  # 199.5005: the tie goes to the even digit
}


@pytest.fixture
def billed(workspace, warehouse) -> dict[str, dict]:
    """One Active invoice per currency for Northwind, billed: the created customer invoices by currency."""
    for currency, (_, amounts, total, _) in CURRENCIES.items():
        lines = [usage_line(f"U{i}", amount, currency=currency) for i, amount in enumerate(amounts, 1)]
        workspace.add_invoice(f"G-{currency}", usage=lines, currency=currency, total=total)
        key = InvoiceKey("contoso-csp", f"G-{currency}")
        assert (
            import_provider_invoice(workspace.config(), warehouse, key, connectors=connector_for, actor="test").status
            == Status.ACTIVE
        )
    return {c.currency: c for c in bill_at_cost(warehouse, actor="billing-test")}


@pytest.mark.parametrize("currency", CURRENCIES)
def test_each_customer_invoice_total_is_rounded_once_to_the_currencys_minor_units(billed, currency):
    minor_units, amounts, total, difference = CURRENCIES[currency]
    invoice = billed[currency]
    assert invoice.total_amount == Decimal(total)
    assert invoice.total_amount.as_tuple().exponent == -minor_units
    assert invoice.rounding_difference == Decimal(difference)
    assert invoice.total_amount - invoice.rounding_difference == sum(map(Decimal, amounts))


def test_the_rounded_total_and_the_rounding_difference_are_stored_and_the_lines_keep_their_exact_amounts(
    billed, warehouse
):
    ci, links = t.customer_invoices, t.customer_invoice_lines
    with warehouse.engine.connect() as conn:
        stored = conn.execute(sa.select(ci.c.currency, ci.c.total_amount, ci.c.rounding_difference)).all()
        lines = conn.execute(sa.select(links.c.customer_invoice_id, links.c.amount)).all()
    assert sorted(stored) == sorted((c, Decimal(total), Decimal(diff)) for c, (_, _, total, diff) in CURRENCIES.items())
    exact = {currency: sorted(map(Decimal, amounts)) for currency, (_, amounts, _, _) in CURRENCIES.items()}
    by_invoice = {invoice.customer_invoice_id: currency for currency, invoice in billed.items()}
    assert {c: sorted(a for i, a in lines if by_invoice[i] == c) for c in CURRENCIES} == exact


def test_billing_run_shows_each_rounded_total_with_the_currencys_minor_units_and_the_rounding_difference(workspace):
    for currency, (_, amounts, total, _) in CURRENCIES.items():
        lines = [usage_line(f"U{i}", amount, currency=currency) for i, amount in enumerate(amounts, 1)]
        workspace.add_invoice(f"G-{currency}", usage=lines, currency=currency, total=total)
    warehouse = workspace.warehouse()
    try:
        for currency in CURRENCIES:
            import_provider_invoice(
                workspace.config(), warehouse, InvoiceKey("contoso-csp", f"G-{currency}"), connectors=connector_for
            )
    finally:
        warehouse.dispose()

    workspace.bill_usage_without_terms_at_cost()  # no contract bills JPY or KWD: at cost here

    result = CliRunner().invoke(cli, ["billing", "run"])

    assert result.exit_code == 0, result.output
    drafts = [line for line in result.output.strip().splitlines() if line.startswith("CI-")]
    shown = sorted(line.split("\t")[5:] for line in drafts)
    assert shown == [
        ["15000 JPY", "2 lines", "rounding difference 0.1 JPY"],
        ["199.500 KWD", "2 lines", "rounding difference -0.0005 KWD"],
        # USD: Northwind's terms add 10 %: (3000.342 + 346.342) x 1.10 = 3681.3524 -> 3681.35
        ["3681.35 USD", "2 lines", "rounding difference -0.0024 USD"],
    ]
