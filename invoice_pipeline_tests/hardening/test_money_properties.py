"""Exact money, by property: stored totals, the checksum verdict and exported amounts equal Decimal arithmetic."""

from __future__ import annotations

import csv
import itertools
from decimal import ROUND_HALF_EVEN, Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invoice_pipeline.composition import connector_for
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline_tests.builders import license_line, make_workspace, usage_line

CURRENCIES = {"JPY": 0, "USD": 2, "KWD": 3, "BHD": 3, "EUR": 2}
_counter = itertools.count()

amounts = st.decimals(
    min_value=Decimal("-99999999.999999"), max_value=Decimal("99999999.999999"), places=6, allow_nan=False
)
invoices = st.fixed_dictionaries(
    {
        "currency": st.sampled_from(sorted(CURRENCIES)),
        "usage": st.lists(amounts, min_size=0, max_size=30),
        "license": st.lists(amounts, min_size=0, max_size=10),
        "header_offset": st.sampled_from([Decimal(0), Decimal(0), Decimal("0.01"), Decimal("-1"), Decimal("0.004")]),
    }
)


def _text(amount: Decimal) -> str:
    return format(amount, "f")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(invoice=invoices)
def test_stored_totals_checksum_verdict_and_export_are_exact(tmp_path_factory, invoice):
    workspace = make_workspace(tmp_path_factory.mktemp("money"))
    (workspace.root / "reference" / "currencies.csv").write_text(
        "code,minor_units\n" + "".join(f"{code},{units}\n" for code, units in CURRENCIES.items())
    )
    currency, minor = invoice["currency"], CURRENCIES[invoice["currency"]]
    usage = [
        usage_line(f"U{i}", _text(a), unit_price=_text(a), currency=currency) for i, a in enumerate(invoice["usage"])
    ]
    licenses = [
        license_line(f"L{i}", _text(a), unit_price=_text(a), currency=currency)
        for i, a in enumerate(invoice["license"])
    ]
    exact_usage, exact_license = sum(invoice["usage"], Decimal(0)), sum(invoice["license"], Decimal(0))
    quantum = Decimal(1).scaleb(-minor)
    header = (exact_usage + exact_license).quantize(quantum, rounding=ROUND_HALF_EVEN) + invoice["header_offset"]
    invoice_id = f"P{next(_counter)}"
    workspace.add_invoice(invoice_id, usage=usage, license=licenses, currency=currency, total=_text(header))

    warehouse = workspace.warehouse()
    try:
        key = InvoiceKey("contoso-csp", invoice_id)
        result = import_provider_invoice(
            workspace.config(), warehouse, key, connectors=connector_for, run_id="property"
        )
        reference_difference = header.quantize(quantum, rounding=ROUND_HALF_EVEN) - (
            exact_usage + exact_license
        ).quantize(quantum, rounding=ROUND_HALF_EVEN)
        assert (result.status == Status.ACTIVE) == (reference_difference == 0), result.message
        record = warehouse.current_record(key)
        assert record.usage_total == exact_usage and record.license_total == exact_license
        assert record.difference == reference_difference
        if result.status == Status.ACTIVE:
            export = workspace.root / "export"
            export.mkdir(exist_ok=True)
            for kind, source in (("usage", invoice["usage"]), ("license", invoice["license"])):
                path = export / f"{kind}.csv"
                assert warehouse.export_lines(record.record_id, kind, path) == len(source)
                with path.open() as handle:
                    exported = {row["line_id"]: row["amount"] for row in csv.DictReader(handle)}
                prefix = "U" if kind == "usage" else "L"
                # Every significant digit comes back, written without storage padding or exponent.
                assert exported == {f"{prefix}{i}": format(a.normalize(), "f") for i, a in enumerate(source)}
    finally:
        warehouse.dispose()
